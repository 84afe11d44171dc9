/**
 * The relay-protocol state machine of every socket, independent of the WebSocket library.
 * A shell (uWS or ws) owns the sockets and calls `open`, `message`, `close` and `sweep`;
 * the core answers through `RelayIo`. Every `await` is followed by a check that the socket
 * is still open, and frames are decoded (copied) before the first `await`.
 */
import {
  type ClientFrame,
  CloseCode,
  decodeClientFrame,
  ErrorCode,
  encodeFrame,
  encodeSigned,
  equalBytes,
  eventFrameFromBytes,
  FrameLimits,
  kindsAllowedIn,
  monotonicUlid,
  queryRef,
  type Session,
  shortKey,
  signToken,
  TOKEN_PURPOSE_SIGNAL,
  type Ulid,
  ulidToBytes,
} from '@peerchat/engine'
import { ADMIN_CHANNEL } from '@peerchat/engine/chat'
import { closeReason, type LinkGrant, type Removal } from './admin-state.ts'
import type { RelayContext } from './context.ts'
import { type Challenge, checkLogin, newChallenge } from './login.ts'
import { cursorBytes, cursorOrder, latin1, Presence } from './presence.ts'
import { idKey, Tally } from './sessions.ts'
import { stampRequest } from './stamper.ts'
import { RateLimiter } from './token-bucket.ts'

/** The IO a shell provides. `publish` reaches every subscriber of the topic. */
export interface RelayIo<H> {
  /** False when the socket is gone or the message was dropped for backpressure. */
  send(h: H, bytes: Uint8Array): boolean
  subscribe(h: H, topic: string): void
  unsubscribe(h: H, topic: string): void
  publish(topic: string, bytes: Uint8Array): void
  subscribers(topic: string): number
  close(h: H, code: number, reason: string): void
  bufferedAmount(h: H): number
}

export interface Conn<H> {
  readonly serial: number
  /** Remote address (after trusted-proxy resolution). */
  readonly address: string
  /** "host[:port]" the client connected to: part of the signed login payload. */
  readonly origin: string
  handle: H | null
  phase: 'challenged' | 'ready' | 'closed'
  challenge: Challenge | null
  session: Session | null
  attestation: Uint8Array | null
  /** Joined channels (allocated on first join: idle sockets stay small). */
  channels: Set<string> | null
  errors: number
  /** Login deadline while challenged; then, for a session let in by an invite, its redeem deadline. */
  deadline: number
  /** What the login's link gave the session (a claim, a reserved invite use), if anything. */
  grant: LinkGrant | null
  /**
   * While the socket receives the admin log after joining `admin`: the index of the next event
   * to send. It joins the live admin events once it has them all.
   */
  adminCursor: number | null
}

/** Topic names: one namespace per purpose so that a channel can never collide with the others. */
export const Topics = {
  channel: (name: string) => `c/${name}`,
  /** Every logged-in socket: channel list updates. */
  all: 'all',
  signal: (room: string) => `s/${room}`,
  /** Admin events as they are stamped, to joiners of `admin` that have received the log. */
  adminEvents: 'a',
} as const

/**
 * The relay path's close codes (docs/protocol/relay.md §7): the engine's `CloseCode`, so clients
 * check them by name.
 */
export const RelayCloseCode = CloseCode

/** Codes that do not count towards `maxErrorsPerSocket` (the client is not misbehaving). */
// A forward to a peer that just left, or over budget, is not misbehaviour either.
const UNCOUNTED = new Set<string>([ErrorCode.rateLimited, ErrorCode.unknownPeer, ErrorCode.budgetExceeded])

export class RelayCore<H> {
  private serial = 0
  private readonly conns = new Set<Conn<H>>()
  private readonly unauthenticated = new Tally()
  /** Logged-in sockets per address and per public key (`idKey`). */
  private readonly perAddress = new Tally()
  private readonly perKey = new Tally()
  /** Every channel's roster, this node's sessions and (in a cluster) the others' (presence.ts). */
  private readonly presence: Presence
  /** Join ids of this node's sessions: the roster's order. */
  private readonly joinIds: () => Ulid
  /** PresenceQuery and PresenceFind frames per session. */
  private readonly queryLimiter: RateLimiter
  /** Logged-in sockets by session id (latin1), for forwarded peer frames. */
  private readonly bySession = new Map<string, Conn<H>>()

  constructor(
    readonly ctx: RelayContext,
    private readonly io: RelayIo<H>,
  ) {
    const { limits } = ctx
    // A snapshot is the head and the joiner in one frame.
    this.presence = new Presence({
      head: Math.min(limits.presenceHead, FrameLimits.presencePerFrame - 1),
      tickMs: limits.presenceTickMs,
      maxLeft: FrameLimits.presenceLeft,
    })
    this.joinIds = monotonicUlid(ctx.now)
    this.queryLimiter = new RateLimiter(
      limits.presenceQueriesPerSecond,
      limits.presenceQueryBurst,
      limits.rateLimiterEntries,
      ctx.now,
    )
    // A checkpoint is a stamped event of its channel: it fans out like any other.
    ctx.checkpoints.onCheckpoint((event, bytes) => {
      this.ctx.metrics.checkpoints++
      this.publishTo(Topics.channel(event.channel), eventFrameFromBytes(bytes))
    })
    // Admin events fan out as they are recorded (in id order, after admin.log has them).
    ctx.admin.onRecord((_event, bytes, removal) => {
      this.publishTo(Topics.adminEvents, eventFrameFromBytes(bytes))
      if (removal) this.remove(removal)
    })
    // What other nodes of the community stamped, created or forwarded reaches this node's sockets.
    ctx.cluster?.attach({
      event: (channel, frame) => this.publishTo(Topics.channel(channel), frame),
      channelAdded: (channel) => {
        if (this.ctx.channels.add(channel))
          this.publishTo(Topics.all, encodeFrame({ type: 'channelAdded', channel }))
      },
      // Sessions of other nodes, in the same rosters (their origin: the node).
      presenceJoin: (j, node) => {
        if (this.presence.join(j.channel, j, node)) this.flushPresence(j.channel)
      },
      presenceLeave: (l) => {
        if (this.presence.leave(l.channel, l.sessionId)) this.flushPresence(l.channel)
      },
      forwarded: (to, frame) => {
        const target = this.bySession.get(idKey(to))
        if (target?.phase === 'ready') this.send(target, frame)
      },
      // Admin events appended by other nodes, folded between this node's own (one at a time).
      adminAppended: (length) => {
        // (Zero: Redis may be new or emptied, and this node's copy seeds it.)
        if (length !== 0 && length <= this.ctx.admin.sharedCount) return
        this.ctx.admin
          .serialize(() => this.ctx.admin.sync())
          ?.catch((e) => this.ctx.log('relay.admin_sync_failed', { error: String(e) }))
      },
    })
  }

  /** State for a new socket; the shell stores it as the socket's user data. */
  newConn(address: string, origin: string): Conn<H> {
    const now = this.ctx.now()
    const challenge = newChallenge(now, this.ctx.limits)
    return {
      serial: ++this.serial,
      address,
      origin,
      handle: null,
      phase: 'challenged',
      challenge,
      session: null,
      attestation: null,
      channels: null,
      errors: 0,
      deadline: challenge.expires,
      grant: null,
      adminCursor: null,
    }
  }

  open(conn: Conn<H>, handle: H): void {
    conn.handle = handle
    this.conns.add(conn)
    this.ctx.metrics.connections++
    const n = this.unauthenticated.add(conn.address)
    this.ctx.log('relay.open', { conn: conn.serial, addr: conn.address })
    if (n > this.ctx.limits.unauthenticatedPerAddress) {
      this.fail(conn, ErrorCode.tooManyConnections, 'too many sockets from this address are not logged in')
      this.end(conn, CloseCode.tooManyConnections, ErrorCode.tooManyConnections)
      return
    }
    this.send(
      conn,
      encodeFrame({
        type: 'challenge',
        relayKey: this.ctx.relay.publicKey,
        nonce: conn.challenge!.nonce,
        serverTime: this.ctx.now(),
      }),
    )
  }

  /** Handles one binary message. `bytes` is only read before the first await (decoding copies). */
  async message(conn: Conn<H>, bytes: Uint8Array): Promise<void> {
    if (conn.phase === 'closed') return
    const m = this.ctx.metrics
    m.messagesIn++
    m.bytesIn += bytes.length
    if (!this.ctx.frameLimiter.take(conn.address)) {
      this.fail(conn, ErrorCode.rateLimited, 'too many frames from this address')
      return
    }
    let frame: ClientFrame
    try {
      frame = decodeClientFrame(bytes)
    } catch (e) {
      this.fail(conn, ErrorCode.badFrame, (e as Error).message)
      if (conn.phase === 'challenged') this.end(conn, CloseCode.protocolError, ErrorCode.badFrame)
      return
    }
    if (frame.type === 'ping') {
      this.send(conn, encodeFrame({ type: 'pong', n: frame.n }))
      return
    }
    if (frame.type === 'login') return this.login(conn, frame)
    if (conn.phase !== 'ready' || !conn.session) {
      this.fail(conn, ErrorCode.notLoggedIn, `log in before sending ${frame.type}`)
      this.end(conn, CloseCode.protocolError, ErrorCode.notLoggedIn)
      return
    }
    switch (frame.type) {
      case 'publish':
        return this.publish(conn, conn.session, frame)
      case 'join':
        return this.join(conn, frame.channel)
      case 'leave':
        return this.leave(conn, frame.channel)
      case 'tokenRequest':
        return this.issueToken(conn, conn.session)
      case 'forward':
        return this.forward(conn, conn.session, frame.to, frame.payload)
      case 'presenceQuery':
      case 'presenceFind':
        return this.presenceQuery(conn, frame)
    }
  }

  close(conn: Conn<H>): void {
    if (conn.phase === 'closed') return
    const wasReady = conn.phase === 'ready'
    conn.phase = 'closed'
    conn.handle = null
    conn.adminCursor = null
    this.ctx.admin.release(conn.grant)
    this.conns.delete(conn)
    this.ctx.metrics.connections--
    if (wasReady && conn.session) {
      this.bySession.delete(sessionKey(conn.session))
      this.perAddress.remove(conn.address)
      this.perKey.remove(idKey(conn.session.publicKey))
      // Its signaling tokens stop admitting, and the signaling sockets they admitted close.
      this.ctx.sessions.delete(sessionKey(conn.session))
      this.ctx.metrics.sessions--
      for (const channel of conn.channels ?? []) this.leavePresence(conn, channel)
    } else this.unauthenticated.remove(conn.address)
    this.ctx.log('relay.close', { conn: conn.serial, addr: conn.address })
  }

  /** Called about once a second: login deadlines, session expiry and slow consumers. */
  sweep(): void {
    this.ctx.checkpoints.sweep()
    this.flushPresence()
    const now = this.ctx.now()
    const { maxBackpressureBytes } = this.ctx.limits
    for (const conn of this.conns) {
      if (conn.phase === 'challenged' && now > conn.deadline) {
        this.ctx.metrics.reject(ErrorCode.authTimeout)
        this.fail(conn, ErrorCode.authTimeout, 'no login before the deadline')
        this.end(conn, CloseCode.authTimeout, ErrorCode.authTimeout)
      } else if (
        conn.phase === 'ready' &&
        conn.grant?.kind === 'invite' &&
        conn.grant.state === 'reserved' &&
        now > conn.deadline
      ) {
        // A use reserved at login is redeemed at once by a real client: one held longer is
        // withheld from the invitee's other devices (or hoarded), so the session ends.
        this.fail(
          conn,
          ErrorCode.loginFailed,
          'bad_invite: the invite was not redeemed in time: open the link again',
        )
        this.end(conn, CloseCode.loginFailed, 'login_failed:bad_invite')
      } else if (conn.phase === 'ready' && conn.session && now >= conn.session.expires) {
        this.fail(conn, ErrorCode.sessionExpired, 'session expired: log in again')
        this.end(conn, CloseCode.sessionExpired, ErrorCode.sessionExpired)
      } else if (conn.handle && this.io.bufferedAmount(conn.handle) > maxBackpressureBytes) {
        this.slowConsumer(conn)
      } else if (conn.adminCursor !== null) this.sendAdminLog(conn)
    }
  }

  /** Closes every socket (shutdown). */
  closeAll(): void {
    for (const conn of [...this.conns]) this.end(conn, CloseCode.shuttingDown, ErrorCode.shuttingDown)
  }

  get size(): number {
    return this.conns.size
  }

  // ---- frames ---------------------------------------------------------------------------

  private async login(conn: Conn<H>, frame: Extract<ClientFrame, { type: 'login' }>): Promise<void> {
    if (conn.phase === 'ready') return this.fail(conn, ErrorCode.alreadyLoggedIn, 'already logged in')
    const challenge = conn.challenge
    if (!challenge) return this.fail(conn, ErrorCode.loginFailed, 'login already in progress')
    conn.challenge = null // single use, whatever the outcome
    const result = await checkLogin(this.ctx, challenge, frame, conn.origin)
    if (conn.phase === 'closed') {
      if (result.ok) this.ctx.admin.release(result.grant)
      return
    }
    if (!result.ok) {
      this.ctx.metrics.reject(`${ErrorCode.loginFailed}:${result.reason}`)
      this.sendError(conn, ErrorCode.loginFailed, `${result.reason}: ${result.message}`)
      this.end(conn, CloseCode.loginFailed, `${ErrorCode.loginFailed}:${result.reason}`)
      return
    }
    const key = idKey(frame.publicKey)
    const { socketsPerAddress, socketsPerKey } = this.ctx.limits
    const over =
      this.perAddress.get(conn.address) >= socketsPerAddress
        ? ({ what: 'address', limit: socketsPerAddress, code: RelayCloseCode.tooManyPerAddress } as const)
        : this.perKey.get(key) >= socketsPerKey
          ? ({ what: 'key', limit: socketsPerKey, code: RelayCloseCode.tooManyPerKey } as const)
          : null
    if (over) {
      this.ctx.admin.release(result.grant)
      const reason = `${ErrorCode.tooManyConnections}:${over.what}`
      this.ctx.metrics.reject(reason)
      this.sendError(
        conn,
        ErrorCode.tooManyConnections,
        `${over.what}: at most ${over.limit} logged-in sockets`,
      )
      this.end(conn, over.code, reason)
      return
    }
    this.unauthenticated.remove(conn.address)
    this.perAddress.add(conn.address)
    this.perKey.add(key)
    conn.phase = 'ready'
    conn.session = result.session.value
    conn.attestation = result.attestation
    conn.grant = result.grant
    // The login deadline, reused: a session let in by an invite redeems it within authDeadlineMs.
    conn.deadline = this.ctx.now() + this.ctx.limits.authDeadlineMs
    this.bySession.set(sessionKey(conn.session), conn)
    this.ctx.sessions.add(sessionKey(conn.session))
    this.ctx.metrics.sessions++
    this.ctx.log('relay.login', {
      conn: conn.serial,
      key: shortKey(frame.publicKey),
      privileges: conn.session.privileges,
      ...(result.grant ? { link: result.grant.kind } : {}),
    })
    this.io.subscribe(conn.handle!, Topics.all)
    this.send(
      conn,
      encodeFrame({ type: 'welcome', attestation: result.attestation, channels: this.ctx.channels.list() }),
    )
  }

  private async publish(
    conn: Conn<H>,
    session: Session,
    frame: Extract<ClientFrame, { type: 'publish' }>,
  ): Promise<void> {
    const req = frame.request
    const outcome = await stampRequest(this.ctx, session, req, conn.grant)
    if (outcome.kind === 'rejected') {
      if (conn.phase !== 'closed') this.fail(conn, outcome.code, outcome.message, req.clientNonce)
      else this.ctx.metrics.reject(outcome.code)
      if (outcome.close) this.end(conn, outcome.close.code, outcome.close.reason)
      return
    }
    const bytes = eventFrameFromBytes(outcome.bytes)
    if (outcome.kind === 'retry') {
      // The original already went out on the topic; the retrying author only lacks its ack.
      this.send(conn, bytes)
      return
    }
    this.ctx.metrics.stamps++
    if (!outcome.recorded) this.publishTo(Topics.channel(req.channel), bytes)
    // The author's ack, when it has not joined the channel (otherwise the topic delivered it).
    if (conn.phase !== 'closed' && !conn.channels?.has(req.channel)) this.send(conn, bytes)
    if (outcome.createdChannel) {
      this.publishTo(Topics.all, encodeFrame({ type: 'channelAdded', channel: req.channel }))
      this.ctx.cluster?.channelAdded(req.channel)
    }
  }

  private join(conn: Conn<H>, channel: string): undefined {
    const admin = channel === ADMIN_CHANNEL
    if (!admin && !kindsAllowedIn(channel) && !this.ctx.channels.has(channel))
      return this.fail(conn, ErrorCode.unknownChannel, `no channel ${channel}`)
    const topic = Topics.channel(channel)
    conn.channels ??= new Set()
    if (!conn.channels.has(channel)) {
      if (conn.channels.size >= this.ctx.limits.subscriptionsPerSocket)
        return this.fail(
          conn,
          ErrorCode.tooManySubscriptions,
          `at most ${this.ctx.limits.subscriptionsPerSocket} channels`,
        )
      this.io.subscribe(conn.handle!, topic)
      conn.channels.add(channel)
      this.joinPresence(conn, channel)
      // Every admin event held, oldest first, then the live ones (docs/protocol/relay.md §5.1).
      if (admin) {
        conn.adminCursor = 0
        this.sendAdminLog(conn)
      }
      return
    }
    // Joining again only resends the snapshot.
    this.sendSnapshot(conn, channel)
  }

  /**
   * Sends the admin log from the socket's cursor while its send buffer stays under half of
   * `maxBackpressureBytes` (the sweep goes on from there); with the last event sent, the socket
   * joins the live admin events. Both happen in one turn, so no event falls between them.
   */
  private sendAdminLog(conn: Conn<H>): void {
    const frames = this.ctx.admin.frames
    const budget = this.ctx.limits.maxBackpressureBytes / 2
    while (conn.adminCursor !== null && conn.adminCursor < frames.length) {
      if (conn.phase === 'closed' || !conn.handle || this.io.bufferedAmount(conn.handle) > budget) return
      this.send(conn, frames[conn.adminCursor++]!)
    }
    if (conn.adminCursor === null || conn.phase === 'closed' || !conn.handle) return
    conn.adminCursor = null
    this.io.subscribe(conn.handle, Topics.adminEvents)
  }

  /** A kick or ban was stamped: every session of its target closes (4013, the reason given). */
  private remove(removal: Removal): void {
    const reason = closeReason(removal.reason)
    for (const conn of [...this.conns])
      if (conn.phase === 'ready' && conn.session && equalBytes(conn.session.publicKey, removal.target)) {
        this.ctx.metrics.reject('removed')
        this.ctx.log('relay.removed', { conn: conn.serial })
        this.end(conn, CloseCode.removed, reason)
      }
  }

  private leave(conn: Conn<H>, channel: string): void {
    if (!conn.channels?.delete(channel)) return // leaving a channel not joined is a no-op
    this.io.unsubscribe(conn.handle!, Topics.channel(channel))
    if (channel === ADMIN_CHANNEL) {
      conn.adminCursor = null
      this.io.unsubscribe(conn.handle!, Topics.adminEvents)
    }
    this.leavePresence(conn, channel)
  }

  // ---- presence (docs/protocol/relay.md §5): the rosters are presence.ts; this is their IO ----

  /** A session of this node joined: it enters the roster and gets its snapshot; the others, the next tick. */
  private joinPresence(conn: Conn<H>, channel: string): void {
    const session = conn.session!
    const join = {
      sessionId: session.sessionId,
      joinId: ulidToBytes(this.joinIds()),
      attestation: conn.attestation!,
    }
    this.presence.join(channel, { ...join, publicKey: session.publicKey })
    this.ctx.cluster?.presenceJoin({ channel, ...join })
    this.sendSnapshot(conn, channel)
    this.flushPresence(channel)
  }

  /** The count and the head, and the session itself when outside the head. */
  private sendSnapshot(conn: Conn<H>, channel: string): void {
    const attestations = this.presence.snapshot(channel, sessionKey(conn.session!)).map((m) => m.attestation)
    const count = this.presence.count(channel)
    this.send(conn, encodeFrame({ type: 'presenceSnapshot', channel, count, attestations }))
  }

  private leavePresence(conn: Conn<H>, channel: string): void {
    if (!conn.session || !this.presence.leave(channel, sessionKey(conn.session))) return
    this.ctx.cluster?.presenceLeave({ channel, sessionId: conn.session.sessionId })
    this.flushPresence(channel)
  }

  /**
   * Sends the ticks due — of one channel after a change (at once when it has been quiet for
   * `presenceTickMs`), of every channel at the sweep — each one frame to the channel's topic: a
   * PresenceTick, or when too many left the head at once a PresenceSnapshot of the head.
   */
  private flushPresence(channel?: string): void {
    for (const { channel: c, count, entered, left, reset } of this.presence.tick(this.ctx.now(), channel))
      this.publishTo(
        Topics.channel(c),
        encodeFrame(
          reset
            ? { type: 'presenceSnapshot', channel: c, count, attestations: entered }
            : { type: 'presenceTick', channel: c, count, entered, left },
        ),
      )
  }

  /** A page of a joined channel's roster, or the sessions of some keys in it (rate-limited per session). */
  private presenceQuery(
    conn: Conn<H>,
    frame: Extract<ClientFrame, { type: 'presenceQuery' | 'presenceFind' }>,
  ): undefined {
    const { channel, q } = frame
    if (!conn.channels?.has(channel))
      return this.fail(conn, ErrorCode.forbidden, `join #${channel} before asking who is in it`, queryRef(q))
    if (!this.queryLimiter.take(sessionKey(conn.session!)))
      return this.fail(conn, ErrorCode.rateLimited, 'too many presence queries', queryRef(q))
    const count = this.presence.count(channel)
    const page =
      frame.type === 'presenceFind'
        ? {
            members: this.presence.find(channel, frame.keys.map(latin1), FrameLimits.presencePerFrame),
            next: null,
          }
        : this.presence.page(channel, frame.after && cursorOrder(frame.after), frame.limit)
    const next = page.next === null ? null : cursorBytes(page.next)
    const attestations = page.members.map((m) => m.attestation)
    this.send(conn, encodeFrame({ type: 'presencePage', q, channel, count, next, attestations }))
  }

  /**
   * The WebRTC fallback: a peer frame to another logged-in session, within the sender's
   * byte budget. The relay adds the sender's session id and key; it never reads the payload.
   */
  private forward(conn: Conn<H>, session: Session, to: Uint8Array, payload: Uint8Array): undefined {
    const target = this.bySession.get(idKey(to))
    // A session of another node of the community: that node delivers it.
    const node = target ? undefined : this.ctx.cluster?.nodeOfSession(to)
    if (!node && (!target || target === conn || target.phase !== 'ready'))
      return this.fail(conn, ErrorCode.unknownPeer, 'no such session online', to)
    if (!this.ctx.forwardLimiter.take(sessionKey(session), payload.length))
      return this.fail(
        conn,
        ErrorCode.budgetExceeded,
        'forwarding byte budget exhausted: use WebRTC or wait',
        to,
      )
    this.ctx.metrics.forwardedBytes += payload.length
    const frame = encodeFrame({
      type: 'forwarded',
      from: session.sessionId,
      fromKey: session.publicKey,
      payload,
    })
    if (node) this.ctx.cluster!.forward(node, to, frame)
    else this.send(target!, frame)
  }

  private async issueToken(conn: Conn<H>, session: Session): Promise<void> {
    const expires = this.ctx.now() + this.ctx.limits.tokenTtlMs
    const token = await signToken(this.ctx.relay, {
      relayKey: this.ctx.relay.publicKey,
      purpose: TOKEN_PURPOSE_SIGNAL,
      publicKey: session.publicKey,
      sessionId: session.sessionId,
      expires,
    })
    if (conn.phase === 'closed') return
    this.send(conn, encodeFrame({ type: 'token', token: encodeSigned(token), expires }))
  }

  // ---- helpers --------------------------------------------------------------------------

  /** Fan-out to a topic, counted once per receiver. */
  private publishTo(topic: string, bytes: Uint8Array): void {
    const receivers = this.io.subscribers(topic)
    this.ctx.metrics.messagesOut += receivers
    this.ctx.metrics.bytesOut += receivers * bytes.length
    this.io.publish(topic, bytes)
  }

  private send(conn: Conn<H>, bytes: Uint8Array): void {
    if (conn.phase === 'closed' || !conn.handle) return
    this.ctx.metrics.messagesOut++
    this.ctx.metrics.bytesOut += bytes.length
    if (!this.io.send(conn.handle, bytes)) this.slowConsumer(conn)
  }

  private sendError(
    conn: Conn<H>,
    code: ErrorCode,
    message: string,
    ref: Uint8Array = new Uint8Array(0),
  ): void {
    this.send(conn, encodeFrame({ type: 'error', code, message: truncate(message), ref }))
  }

  /** Sends an error frame, counts it, and closes a socket that keeps sending bad frames. */
  // Returns undefined so that handlers can `return this.fail(...)` as an early exit.
  private fail(conn: Conn<H>, code: ErrorCode, message: string, ref?: Uint8Array): undefined {
    this.ctx.metrics.reject(code)
    this.sendError(conn, code, message, ref)
    if (!UNCOUNTED.has(code) && ++conn.errors > this.ctx.limits.maxErrorsPerSocket)
      this.end(conn, CloseCode.tooManyErrors, ErrorCode.tooManyErrors)
    return undefined
  }

  private slowConsumer(conn: Conn<H>): void {
    if (conn.phase === 'closed') return
    this.ctx.metrics.backpressureDrops++
    this.ctx.log('relay.slow_consumer', { conn: conn.serial, addr: conn.address })
    this.end(conn, CloseCode.slowConsumer, ErrorCode.slowConsumer)
  }

  /** Asks the shell to close; the shell's close callback then calls `close(conn)`. */
  private end(conn: Conn<H>, code: number, reason: string): void {
    if (conn.phase === 'closed' || !conn.handle) return
    const h = conn.handle
    this.ctx.log('relay.end', { conn: conn.serial, code, reason })
    this.io.close(h, code, reason)
    this.close(conn)
  }
}

function sessionKey(s: Session): string {
  return idKey(s.sessionId)
}

function truncate(message: string): string {
  return message.length > FrameLimits.errorMessage
    ? `${message.slice(0, FrameLimits.errorMessage - 1)}…`
    : message
}
