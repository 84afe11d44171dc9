/**
 * y-webrtc's signaling protocol (JSON text: subscribe / unsubscribe / publish / ping), hardened:
 *
 * - a socket is admitted only with a relay-signed token (purpose "signal", unexpired) whose login
 *   session is open on the relay path, one socket per token at a time; the session's close
 *   closes the signaling sockets its tokens admitted;
 * - topics (y-webrtc room names) are limited to rooms of channels the relay knows;
 * - the relay never forwards a client's `from`: every socket gets a peer id made from its
 *   authenticated key (`<key>.<serial>`), and the relay rewrites `from` to it and `to` back to
 *   the addressee's own y-webrtc id. Signals go only to their addressee. So a peer id seen by
 *   a client always names the key that sent it;
 * - one side of each pair makes the offer: an announce reaches, for each pair, only the member
 *   with the smaller peer id. y-webrtc makes an offer to every peer whose announce it sees, so
 *   two peers that announce together both offer; its glare rule then loses one of the offers
 *   now and then, and the pair stays unconnected until a watchdog tears the link down.
 */
import {
  equalBytes,
  publicKeyToText,
  SignalCloseCode,
  type SignalToken,
  type Signed,
  TOKEN_PURPOSE_SIGNAL,
  tokenFromText,
  verifyTokenSignature,
} from '@peerchat/engine'
import { nodeOfPeerId, signalPeerId } from '../cluster/cluster.ts'
import type { RelayContext } from './context.ts'
import { idKey, Tally } from './sessions.ts'

export interface SignalIo<H> {
  send(h: H, text: string): boolean
  close(h: H, code: number, reason: string): void
}

export interface SignalConn<H> {
  readonly serial: number
  readonly address: string
  readonly publicKey: Uint8Array
  /** The login session its token belongs to (`idKey`). */
  readonly sessionId: string
  /** The token that admitted it (`idKey` of its signature): in use until this socket closes. */
  readonly token: string
  /** The peer id other clients see for this socket. */
  readonly peerId: string
  handle: H | null
  closed: boolean
  /** Subscribed room -> this socket's own y-webrtc peer id in that room (learned from its messages). */
  rooms: Map<string, string | null>
  errors: number
  /** A signaling socket lives at most one session lifetime (`sessionTtlMs`) after admission. */
  readonly expires: number
}

/** A refused upgrade: the HTTP status and a reason for humans (docs/protocol/relay.md §8). */
export type Refusal = { ok: false; status: number; reason: string }
export type Admission = { ok: true; token: Signed<SignalToken> } | Refusal

/** Largest y-webrtc peer id accepted (they are UUIDs). */
export const MAX_PEER_ID_CHARS = 64
export { SignalCloseCode }

export class SignalingCore<H> {
  private serial = 0
  private readonly byPeerId = new Map<string, SignalConn<H>>()
  /** Room -> its subscribed sockets. */
  private readonly members = new Map<string, Set<SignalConn<H>>>()
  /** Sockets admitted (opened or about to be) by login session, and the tokens they hold. */
  private readonly bySession = new Map<string, Set<SignalConn<H>>>()
  private readonly tokensInUse = new Set<string>()
  private readonly perAddress = new Tally()
  private readonly perKey = new Tally()

  constructor(
    readonly ctx: RelayContext,
    private readonly io: SignalIo<H>,
  ) {
    ctx.sessions.onClose((id) => {
      for (const conn of [...(this.bySession.get(id) ?? [])])
        if (conn.handle) this.end(conn, SignalCloseCode.sessionClosed, 'session_closed')
        else this.close(conn)
    })
    // Peers on other nodes of the community: one mesh (their peer ids name their node).
    ctx.cluster?.attach({
      signalAnnounce: (room, peerId) => this.remoteAnnounce(room, peerId),
      signalDeliver: (room, to, data) => this.remoteDeliver(room, to, data),
    })
  }

  /** Checks the `token` query parameter of a signaling upgrade (its signature: the async part). */
  async admit(tokenText: string | null): Promise<Admission> {
    const refuse = (reason: string): Refusal => ({ ok: false, status: 401, reason })
    if (!tokenText) return refuse('missing token')
    let token: ReturnType<typeof tokenFromText>
    try {
      token = tokenFromText(tokenText)
    } catch {
      return refuse('malformed token')
    }
    const v = token.value
    if (v.purpose !== TOKEN_PURPOSE_SIGNAL) return refuse('token has another purpose')
    if (!equalBytes(v.relayKey, this.ctx.relay.publicKey)) return refuse('token is for another relay')
    if (this.ctx.now() >= v.expires) return refuse('token expired')
    if (!(await verifyTokenSignature(token, this.ctx.relay.publicKey)))
      return refuse('token signature does not verify')
    return { ok: true, token }
  }

  /**
   * Admits a socket with a verified token, synchronously (so two upgrades cannot both pass):
   * its session must be open, the token not in use, and the address and key under their
   * limits. The token is in use from here until `close(conn)`: a shell whose upgrade fails
   * after this calls `close` itself.
   */
  newConn(address: string, token: Signed<SignalToken>): { ok: true; conn: SignalConn<H> } | Refusal {
    const v = token.value
    const sessionId = idKey(v.sessionId)
    const tokenKey = idKey(token.sig) // canonical (the policy refuses malleated signatures)
    const key = idKey(v.publicKey)
    const { socketsPerAddress, socketsPerKey } = this.ctx.limits
    if (!this.ctx.sessions.has(sessionId)) return { ok: false, status: 401, reason: 'token session closed' }
    if (this.tokensInUse.has(tokenKey)) return { ok: false, status: 409, reason: 'token in use' }
    if (this.perAddress.get(address) >= socketsPerAddress)
      return { ok: false, status: 429, reason: 'too many signaling sockets from this address' }
    if (this.perKey.get(key) >= socketsPerKey)
      return { ok: false, status: 429, reason: 'too many signaling sockets for this key' }
    const serial = ++this.serial
    const conn: SignalConn<H> = {
      serial,
      address,
      publicKey: v.publicKey,
      sessionId,
      token: tokenKey,
      peerId: signalPeerId(publicKeyToText(v.publicKey), serial, this.ctx.cluster?.node),
      handle: null,
      closed: false,
      rooms: new Map(),
      errors: 0,
      expires: this.ctx.now() + this.ctx.limits.sessionTtlMs,
    }
    this.tokensInUse.add(tokenKey)
    this.perAddress.add(address)
    this.perKey.add(key)
    const sessionConns = this.bySession.get(sessionId) ?? new Set()
    this.bySession.set(sessionId, sessionConns.add(conn))
    return { ok: true, conn }
  }

  open(conn: SignalConn<H>, handle: H): void {
    if (conn.closed) {
      // Its session closed between `newConn` and the upgrade.
      this.io.close(handle, SignalCloseCode.sessionClosed, 'session_closed')
      return
    }
    conn.handle = handle
    this.byPeerId.set(conn.peerId, conn)
    this.ctx.metrics.signalingConnections++
    this.ctx.log('signal.open', { conn: conn.serial, addr: conn.address, peer: conn.peerId.slice(0, 8) })
  }

  /** The socket closed, or its upgrade failed after `newConn`: frees its token and its counts. */
  close(conn: SignalConn<H>): void {
    if (conn.closed) return
    conn.closed = true
    this.tokensInUse.delete(conn.token)
    this.perAddress.remove(conn.address)
    this.perKey.remove(idKey(conn.publicKey))
    const sessionConns = this.bySession.get(conn.sessionId)
    if (sessionConns?.delete(conn) && sessionConns.size === 0) this.bySession.delete(conn.sessionId)
    if (!conn.handle) return // never opened
    conn.handle = null
    this.byPeerId.delete(conn.peerId)
    for (const room of conn.rooms.keys()) this.leave(conn, room)
    this.ctx.metrics.signalingConnections--
    this.ctx.log('signal.close', { conn: conn.serial, addr: conn.address })
  }

  /** Called with the relay sweep: closes signaling sockets older than a session. */
  sweep(): void {
    const now = this.ctx.now()
    for (const conn of [...this.byPeerId.values()])
      if (now >= conn.expires) this.end(conn, SignalCloseCode.sessionExpired, 'session_expired')
  }

  closeAll(): void {
    for (const conn of [...this.byPeerId.values()])
      this.end(conn, SignalCloseCode.shuttingDown, 'shutting_down')
  }

  /** Handles one text message (already a string: nothing refers to the socket's buffer). */
  message(conn: SignalConn<H>, text: string): undefined {
    if (conn.closed) return
    this.ctx.metrics.messagesIn++
    if (
      !this.ctx.frameLimiter.take(conn.address) ||
      !this.ctx.signalLimiter.take(publicKeyToText(conn.publicKey))
    )
      return this.fail(conn, 'rate_limited', 'too many signaling messages', false)
    let msg: unknown
    try {
      msg = JSON.parse(text)
    } catch {
      return this.fail(conn, 'bad_message', 'not JSON')
    }
    if (!isObject(msg) || typeof msg.type !== 'string') return this.fail(conn, 'bad_message', 'missing type')
    switch (msg.type) {
      case 'ping':
        this.send(conn, '{"type":"pong"}')
        return
      case 'subscribe':
      case 'unsubscribe': {
        const topics = msg.topics
        if (!Array.isArray(topics) || topics.length > this.ctx.limits.subscriptionsPerSocket)
          return this.fail(conn, 'bad_message', 'topics must be a short array')
        for (const t of topics) {
          // A refusal may have closed the socket (too many errors): stop there.
          if (conn.closed || !conn.handle) return
          if (msg.type === 'subscribe') this.subscribe(conn, t)
          else if (typeof t === 'string' && conn.rooms.delete(t)) this.leave(conn, t)
        }
        return
      }
      case 'publish':
        return this.publish(conn, msg.topic, msg.data)
      default:
        return this.fail(conn, 'bad_message', 'unknown type')
    }
  }

  /** Whether `room` is a y-webrtc room this relay admits: the community room, a channel, or `<channel>/<anything>`. */
  isAllowedRoom(room: unknown): room is string {
    if (typeof room !== 'string' || room.length === 0) return false
    if (Buffer.byteLength(room) > this.ctx.limits.maxTopicBytes) return false
    if (room === this.ctx.communityRoom || this.ctx.channels.has(room)) return true
    const slash = room.indexOf('/')
    return slash > 0 && this.ctx.channels.has(room.slice(0, slash))
  }

  private subscribe(conn: SignalConn<H>, room: unknown): undefined {
    if (!this.isAllowedRoom(room))
      return this.fail(conn, 'forbidden_topic', 'topic is not a room of this community')
    if (conn.rooms.has(room)) return
    if (conn.rooms.size >= this.ctx.limits.subscriptionsPerSocket)
      return this.fail(conn, 'too_many_subscriptions', 'too many topics')
    conn.rooms.set(room, null)
    const set = this.members.get(room) ?? new Set()
    this.members.set(room, set.add(conn))
  }

  private leave(conn: SignalConn<H>, room: string): void {
    const set = this.members.get(room)
    if (set?.delete(conn) && set.size === 0) this.members.delete(room)
  }

  private publish(conn: SignalConn<H>, room: unknown, data: unknown): undefined {
    if (typeof room !== 'string' || !conn.rooms.has(room))
      return this.fail(conn, 'not_subscribed', 'publish to a subscribed topic')
    // Encrypted (password) rooms carry an opaque string: the relay could not bind identities, so they are refused.
    if (!isObject(data) || typeof data.type !== 'string')
      return this.fail(conn, 'bad_message', 'data must be an object')
    const own = data.from
    if (typeof own !== 'string' || own.length === 0 || own.length > MAX_PEER_ID_CHARS)
      return this.fail(conn, 'bad_message', 'from must be a peer id')
    conn.rooms.set(room, own)
    if (data.type === 'announce') return this.announce(conn, room)
    if (data.type !== 'signal') return this.fail(conn, 'bad_message', 'unknown data type')
    const to = typeof data.to === 'string' ? data.to : undefined
    const target = to === undefined ? undefined : this.byPeerId.get(to)
    const node = target || to === undefined ? undefined : this.remoteNodeOf(to)
    const targetOwn = target?.rooms.get(room)
    // Peer gone: y-webrtc retries on the next announce.
    if (!node && (!target || target.closed || !targetOwn)) return
    if (!isObject(data.signal) || typeof data.signal.type !== 'string')
      return this.fail(conn, 'bad_message', 'signal must be an object')
    const signal = {
      type: 'signal',
      from: conn.peerId,
      ...(typeof data.token === 'number' ? { token: data.token } : {}),
      signal: data.signal,
    }
    // Its node sets `to` (the addressee's own y-webrtc id, which only that node knows).
    if (node) this.ctx.cluster!.signalDeliver(node, room, to!, JSON.stringify(signal))
    else
      this.send(target!, JSON.stringify({ type: 'publish', topic: room, data: { ...signal, to: targetOwn } }))
  }

  /** The node of a peer id of another node of the cluster (undefined: none, or this one). */
  private remoteNodeOf(peerId: string): string | undefined {
    const node = nodeOfPeerId(peerId)
    return node && this.ctx.cluster && node !== this.ctx.cluster.node ? node : undefined
  }

  /** `announce`'s pairing rule for a socket of another node that spoke in `room`. */
  private remoteAnnounce(room: string, peerId: string): void {
    const node = this.remoteNodeOf(peerId)
    if (!node) return
    for (const other of this.members.get(room) ?? []) {
      if (!other.rooms.get(room)) continue
      if (other.peerId < peerId)
        this.send(
          other,
          JSON.stringify({ type: 'publish', topic: room, data: { type: 'announce', from: peerId } }),
        )
      else
        this.ctx.cluster!.signalDeliver(
          node,
          room,
          peerId,
          JSON.stringify({ type: 'announce', from: other.peerId }),
        )
    }
  }

  /** A message from another node for local peer `to`: addressed to its own id in `room`. */
  private remoteDeliver(room: string, to: string, text: string): void {
    const target = this.byPeerId.get(to)
    const own = target?.rooms.get(room)
    if (!target || target.closed || !own) return
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch {
      return
    }
    if (!isObject(data)) return
    this.send(target, JSON.stringify({ type: 'publish', topic: room, data: { ...data, to: own } }))
  }

  /**
   * Tells the member with the smaller peer id of each pair {conn, other} about the other one:
   * that member offers, the other answers. Members that have not spoken in the room yet are
   * left out (the relay could not address them); their own announce pairs them up.
   */
  private announce(conn: SignalConn<H>, room: string): undefined {
    for (const other of this.members.get(room) ?? []) {
      if (other === conn || !other.rooms.get(room)) continue
      const [offerer, announced] = other.peerId < conn.peerId ? [other, conn] : [conn, other]
      const out = { type: 'publish', topic: room, data: { type: 'announce', from: announced.peerId } }
      this.send(offerer, JSON.stringify(out))
    }
    this.ctx.cluster?.signalAnnounce(room, conn.peerId)
    return undefined
  }

  private send(conn: SignalConn<H>, text: string): void {
    if (conn.closed || !conn.handle) return
    this.ctx.metrics.messagesOut++
    if (!this.io.send(conn.handle, text)) this.end(conn, SignalCloseCode.slowConsumer, 'slow_consumer')
  }

  // Returns undefined so that handlers can `return this.fail(...)` as an early exit.
  private fail(conn: SignalConn<H>, code: string, message: string, counted = true): undefined {
    this.ctx.metrics.reject(`signal:${code}`)
    this.send(conn, JSON.stringify({ type: 'error', code, message }))
    if (counted && ++conn.errors > this.ctx.limits.maxErrorsPerSocket)
      this.end(conn, SignalCloseCode.tooManyErrors, 'too_many_errors')
    return undefined
  }

  private end(conn: SignalConn<H>, code: number, reason: string): void {
    if (conn.closed || !conn.handle) return
    this.io.close(conn.handle, code, reason)
    this.close(conn)
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
