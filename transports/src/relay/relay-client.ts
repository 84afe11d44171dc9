/**
 * The client side of the relay protocol (engine/src/protocol/relay.ts), for browsers
 * (`WebSocket`) and Node (`ws`): login, session attestation, verified presence, stamping
 * with an outbox, signaling tokens, and jittered reconnects that re-join every channel.
 *
 * Publishing is paced: at most `MAX_IN_FLIGHT` requests wait for their answer at once, and the
 * next goes out as one leaves the outbox (stamped, or refused for good). A request the relay
 * refuses for a passing reason (its rate limit) keeps its place in that window and is sent
 * again after a jittered backoff of its own (`RETRY_BACKOFF`); one that gets no answer at all
 * is sent again after `ACK_TIMEOUT_MS`. Every resend carries the same clientNonce, so a request
 * is stamped at most once.
 *
 * Everything the relay sends is checked: events against the relay key, attestations too.
 * The relay key is pinned when given (from /.well-known/peerchat.json); otherwise the first
 * challenge's key is trusted and then pinned for every reconnect.
 *
 * **Several nodes** of one community (relays sharing the relay key and their state) are given as
 * several URLs: the client logs in to one (a random one first, so clients spread), and when the
 * connection cannot be made, ends, or has no login within `LOGIN_TIMEOUT_MS`, it tries the next
 * after its jittered backoff, a node that failed recently last (`NodeRotation`). Every node must
 * present the pinned relay key: one with another key is refused (`relay_key_mismatch`, naming its
 * URL) and the client moves on; it never joins another community. Signaling tokens name the node
 * that issued them (`SignalingToken.url`): a node admits only tokens of sessions open on it.
 *
 * A **link secret** (a claim or invite link's 32 bytes, docs/protocol/admin.md §4) rides in
 * the login's `invite` field until the admin event it stands for is answered: right after the
 * welcome, before anything else is sent, the client publishes `admin.claim` (a claim link) or
 * `invite.redeem {id: inviteIdOf(secret)}` (an invite link), on the session that logged in with
 * it. Once that event is stamped or refused for good, the secret is forgotten (`link` event).
 * A close with `REMOVED_CLOSE_CODE` (a kick or ban) stops the client instead of reconnecting.
 */
import {
  type Authored,
  abytes,
  CloseCode,
  Domain,
  decodeRelayFrame,
  decodeSession,
  ErrorCode,
  encodeFrame,
  encodeLoginPayload,
  equalBytes,
  type Frame,
  FrameLimits,
  publicKeyToText,
  type RelayFrame,
  randomBytes,
  type Session,
  type Signed,
  type SignedRequest,
  type Signer,
  type StampedEvent,
  signRequest,
  TypedEmitter,
  verifyRelayStamp,
  verifySession,
} from '@peerchat/engine'
import { AdminKind, encodeAdminBody, INVITE_SECRET_BYTES, inviteIdOf } from '@peerchat/engine/chat'
import { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts'
import { ChannelPresence } from './channel-presence.ts'
import { NodeRotation } from './node-rotation.ts'
import { MAX_OUTBOX, MemoryOutboxStore, type OutboxStore, outboxKey } from './outbox.ts'

export type ConnectionState = 'stopped' | 'connecting' | 'authenticating' | 'online' | 'offline'

/**
 * The relay closed the session because its key was kicked or banned (`CloseCode.removed` of the
 * relay protocol, docs/protocol/admin.md §4); the close reason is the kick's or ban's reason.
 */
export const REMOVED_CLOSE_CODE: number = CloseCode.removed

/** A claim or invite link's secret (`INVITE_SECRET_BYTES` = 32 bytes) and what it is for. */
export interface LinkSecret {
  kind: 'claim' | 'invite'
  secret: Uint8Array
}

/** What became of a link login's admin event (`admin.claim` or `invite.redeem`). */
export type LinkOutcome =
  | { kind: LinkSecret['kind']; ok: true; event: StampedEvent }
  | { kind: LinkSecret['kind']; ok: false; code: string; message: string }

/** The subset of the WebSocket API used here (browser WebSocket and `ws` both fit). */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
}
export type WebSocketCtor = new (url: string) => WebSocketLike

export interface RelayClientOptions {
  /**
   * The relay protocol endpoint, e.g. ws://127.0.0.1:8080/relay, or the endpoints of several
   * nodes of one community (same relay key): the client fails over between them.
   */
  url: string | readonly string[]
  /** Picks the node tried first among several (default `Math.random`). */
  random?: () => number
  identity: Signer
  /** Pinned relay key; trusted on first use when absent. */
  relayKey?: Uint8Array
  /** Channels to join after every login (besides those joined later with `join`). */
  channels?: string[]
  /** A legacy admin-signed invite credential, sent at every login (any length but 32). */
  invite?: Uint8Array
  /**
   * A claim or invite link's secret: sent at each login until its admin event (published right
   * after the welcome, before anything else) is stamped or refused for good, then forgotten.
   */
  link?: LinkSecret
  WebSocket?: WebSocketCtor
  outbox?: OutboxStore
  backoff?: BackoffOptions
  now?: () => number
}

export interface RelayClientEvents {
  state: ConnectionState
  welcome: { session: Session; channels: string[] }
  event: StampedEvent
  /** A channel's known members or its count changed (`members(channel)`, `memberCount(channel)`). */
  presence: { channel: string; members: ReadonlyMap<string, Session>; count: number | undefined }
  'channel-added': string
  error: { code: string; message: string }
  /** A peer frame another session sent us through the relay (the WebRTC fallback). */
  forwarded: { from: Uint8Array; fromKey: Uint8Array; payload: Uint8Array }
  /** The relay refused a queued request for good; it left the outbox. */
  refused: { channel: string; kind: string; code: string; message: string }
  /** The link login's admin event was stamped or refused for good; the secret is forgotten. */
  link: LinkOutcome
  /** The relay closed the session with `REMOVED_CLOSE_CODE` (kicked or banned): the client stopped. */
  removed: { reason: string }
}

interface Waiter {
  resolve(e: StampedEvent): void
  reject(err: Error): void
}

/** A request holding a place in the send window: sent and unanswered, or waiting to be re-sent. */
interface Flight {
  /** The ack timeout while it is out, or the retry delay after a refusal. */
  timer: ReturnType<typeof setTimeout> | undefined
  /** Created at its first refusal: the delay grows with each refusal of this request. */
  backoff: Backoff | undefined
}

/**
 * Requests sent and not yet answered (stamped or refused for good), at most, per connection;
 * a request waiting to be re-sent after a refusal keeps its place. The relay's default event
 * limit is a token bucket of 60 per key refilled at 20/s (relay/src/limits.ts): a catch-up of
 * hundreds after login goes out 8 at a time instead of all at once, and once the bucket is
 * empty at most 8 requests are being retried. At 100 ms round trip it still allows 80 stamps/s.
 */
export const MAX_IN_FLIGHT = 8

/**
 * Delay before re-sending a request the relay refused with a retryable code (`rate_limited`):
 * full jitter, doubling with each refusal of that request, capped. The relay's error frame
 * carries no retry-after; its default bucket refills one event every 50 ms, so the first retry
 * comes after 100-200 ms (2-4 refills), the window's retries together roughly match the refill
 * rate, and a request refused again and again still tries at least every 2 s. Attempts are not
 * bounded: the relay's buckets always refill, so a request is re-sent for as long as the client
 * is online (each refusal is reported as an `error` event); an outage hands it to the next login
 * like any other queued request.
 */
export const RETRY_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 2_000 }

/**
 * A request neither stamped nor refused this long after it was sent goes out again (same nonce).
 * The relay drops a frame over its per-address frame limit with an error that names no request,
 * so without this a request could wait for an answer that never comes until the next login.
 */
export const ACK_TIMEOUT_MS = 5_000

/**
 * A connection with no welcome this long after it was opened is dropped and the next node tried:
 * a node that accepts TCP but never answers (hung, or behind a load balancer with nothing behind
 * it) would otherwise hold the client until the operating system gives up (minutes). A healthy
 * relay welcomes in milliseconds, and ends a login itself after its own deadline.
 */
export const LOGIN_TIMEOUT_MS = 20_000

/** A signaling token, with the relay endpoint that issued it: only that node admits it. */
export interface SignalingToken {
  token: Uint8Array
  /** On the relay's clock (ms). */
  expires: number
  /** The relay endpoint (one of the options' `url`) of the session the token belongs to. */
  url: string
}

/**
 * `keepSignalingToken` fetches the next signaling token once this share of the current one's
 * lifetime has passed (on the relay's clock): with the relay's default of 5 minutes, every 2.5
 * minutes, so a y-webrtc reconnect always finds an unexpired token in its URL ...
 */
export const TOKEN_REFRESH_AT = 0.5
/** ... and never sooner than this after the last one (a relay configured with tiny tokens) ... */
export const MIN_TOKEN_REFRESH_MS = 1_000
/**
 * ... nor later than this: the expiry comes from the relay, and a timer past 2^31 ms fires at
 * once (a relay announcing a far expiry would otherwise get a token request every millisecond).
 */
export const MAX_TOKEN_REFRESH_MS = 3_600_000

/** Error codes after which a queued request will never be stamped (the others are retried). */
const FINAL_REFUSALS = new Set<string>([
  ErrorCode.forbidden,
  ErrorCode.badSignature,
  ErrorCode.nonceReused,
  ErrorCode.limitExceeded,
  ErrorCode.unknownChannel,
  ErrorCode.badFrame,
])

/** A page or find the relay has not answered this long after it was sent is given up. */
export const QUERY_TIMEOUT_MS = 10_000

/** A page of a channel's members (`queryMembers`). */
export interface MemberPage {
  members: Session[]
  /** The cursor of the next page; null: this was the last. */
  next: Uint8Array | null
  /** Sessions in the channel. */
  count: number
}

interface Query {
  channel: string
  resolve(page: MemberPage): void
  reject(e: Error): void
  timer: ReturnType<typeof setTimeout>
}

export class RelayClient {
  private readonly emitter = new TypedEmitter<RelayClientEvents>()
  private readonly outbox: OutboxStore
  private readonly pending = new Map<string, { authored: Authored; waiters: Waiter[] }>()
  private readonly joined = new Set<string>()
  /** What this connection knows of each joined channel's presence. */
  private readonly presence = new Map<string, ChannelPresence>()
  /** Presence queries sent and not answered, by id. */
  private readonly queries = new Map<number, Query>()
  private queryId = 0
  /** Unstamped requests in the order they were queued, which is the order they are sent in. */
  private readonly requests = new Map<string, Authored & { authorSig: Uint8Array }>()
  /** The send window of this connection (at most MAX_IN_FLIGHT), by outbox key. */
  private readonly inFlight = new Map<string, Flight>()
  private readonly tokenWaiters: {
    resolve(t: { token: Uint8Array; expires: number }): void
    reject(e: Error): void
  }[] = []
  private readonly backoff: Backoff
  private readonly now: () => number
  private ws: WebSocketLike | undefined
  /** The nodes to connect to, in the order they are tried. */
  private readonly nodes: NodeRotation
  /** The endpoint `ws` connects to. */
  private wsUrl: string | undefined
  /** Drops a connection with no welcome after `LOGIN_TIMEOUT_MS`. */
  private loginTimer: ReturnType<typeof setTimeout> | undefined
  private inbox: Promise<void> = Promise.resolve()
  private timer: ReturnType<typeof setTimeout> | undefined
  private relayKey: Uint8Array | undefined
  /** Relay clock minus ours, from the last challenge (token expiries are on the relay's clock). */
  private relayClockOffset = 0
  private _state: ConnectionState = 'stopped'
  private _session: Signed<Session> | undefined
  private _channels: string[] = []
  /** The link secret, until its admin event is answered. */
  private link: LinkSecret | undefined
  /** Outbox key of the link's admin request once signed: sent alone, before any other. */
  private linkKey: string | undefined
  /** Frames received and sent, and bytes of each, for the sync-status panel. */
  readonly stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, reconnects: 0, rejectedEvents: 0 }

  constructor(private readonly opts: RelayClientOptions) {
    this.outbox = opts.outbox ?? new MemoryOutboxStore()
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF)
    this.now = opts.now ?? Date.now
    this.nodes = new NodeRotation(typeof opts.url === 'string' ? [opts.url] : opts.url, opts.random)
    this.relayKey = opts.relayKey
    for (const c of opts.channels ?? []) this.joined.add(c)
    if (opts.link) {
      if (opts.link.kind !== 'claim' && opts.link.kind !== 'invite')
        throw new TypeError(`link.kind must be claim or invite, not ${JSON.stringify(opts.link.kind)}`)
      abytes(opts.link.secret, INVITE_SECRET_BYTES, 'link secret')
      this.link = { kind: opts.link.kind, secret: opts.link.secret.slice() }
    }
  }

  /** What the pending link is for, until its admin event is answered (undefined: none). */
  get linkKind(): LinkSecret['kind'] | undefined {
    return this.link?.kind
  }

  get state(): ConnectionState {
    return this._state
  }
  get session(): Signed<Session> | undefined {
    return this._session
  }
  /** Channels the relay listed at login, plus those added since. */
  get channels(): readonly string[] {
    return this._channels
  }
  get identityKey(): Uint8Array {
    return this.opts.identity.publicKey
  }
  get pinnedRelayKey(): Uint8Array | undefined {
    return this.relayKey
  }
  /** The relay endpoint of the current connection, or of the next attempt while offline. */
  get url(): string {
    return this.wsUrl ?? this.nodes.url
  }

  on<K extends keyof RelayClientEvents>(event: K, listener: (e: RelayClientEvents[K]) => void): () => void {
    return this.emitter.on(event, listener)
  }

  /**
   * Members online in a channel known to this client, by session id (hex), each from a verified
   * attestation: the relay's head of the channel (its first `presenceHead` members, 100 by
   * default: all of a small community), this client, and whoever `findMembers` or
   * `queryMembers` brought in. `memberCount` says how many there are in all.
   */
  members(channel: string): ReadonlyMap<string, Session> {
    return this.presence.get(channel)?.members ?? new Map()
  }

  /** Sessions online in a channel as the relay counts them; undefined before its snapshot. */
  memberCount(channel: string): number | undefined {
    return this.presence.get(channel)?.count
  }

  /**
   * The next page of a joined channel's members, in join order, after `cursor` (null: from the
   * first; pass each page's `next`); they join `members(channel)`. Rejects when offline, refused
   * (`code`: `rate_limited` beyond the relay's query rate) or unanswered for `QUERY_TIMEOUT_MS`.
   */
  queryMembers(
    channel: string,
    cursor: Uint8Array | null = null,
    limit: number = FrameLimits.presencePerFrame,
  ): Promise<MemberPage> {
    if (!Number.isInteger(limit) || limit < 1 || limit > FrameLimits.presencePerFrame)
      throw new RangeError(`limit must be 1..${FrameLimits.presencePerFrame}`)
    return this.query(channel, (q) => ({ type: 'presenceQuery', q, channel, after: cursor, limit }))
  }

  /**
   * The sessions of `keys` (at most `FrameLimits.presenceFindKeys`) online in a joined channel,
   * whether or not in its head; they join `members(channel)`. Rejects like `queryMembers`.
   */
  async findMembers(channel: string, keys: readonly Uint8Array[]): Promise<Session[]> {
    if (keys.length === 0) return []
    if (keys.length > FrameLimits.presenceFindKeys)
      throw new RangeError(`at most ${FrameLimits.presenceFindKeys} keys per find`)
    for (const k of keys) abytes(k, 32, 'key')
    const page = await this.query(channel, (q) => ({ type: 'presenceFind', q, channel, keys: [...keys] }))
    return page.members
  }

  async start(): Promise<void> {
    if (this._state !== 'stopped') return
    // Requests left from an earlier run are sent again (same nonce: stamped at most once).
    for (const entry of await this.outbox.list()) this.track(entry.request)
    this.connect()
  }

  async stop(): Promise<void> {
    if (this._state === 'stopped') return
    clearTimeout(this.timer)
    this.timer = undefined
    clearTimeout(this.loginTimer)
    this.loginTimer = undefined
    this.land()
    this.setState('stopped')
    const ws = this.ws
    this.ws = undefined
    if (ws) {
      ws.onclose = ws.onmessage = ws.onopen = null
      // Closing a socket still connecting (relay down) makes `ws` emit an error: with no
      // listener, Node throws it out of the process.
      ws.onerror = () => {}
      ws.close(1000, 'client stopping')
    }
    for (const w of this.tokenWaiters.splice(0)) w.reject(new Error('relay client stopped'))
    this.presence.clear()
    this.dropQueries('relay client stopped')
  }

  join(channel: string): void {
    this.joined.add(channel)
    if (this._state === 'online') this.sendFrame(encodeFrame({ type: 'join', channel }))
  }

  leave(channel: string): void {
    this.joined.delete(channel)
    this.presence.delete(channel)
    if (this._state === 'online') this.sendFrame(encodeFrame({ type: 'leave', channel }))
  }

  /**
   * Signs and queues an event; resolves with the stamped event when the relay's fan-out
   * brings it back (the ack). Offline, it waits in the outbox and goes out on reconnect.
   */
  async publish(content: { channel: string; kind: string; body: Uint8Array }): Promise<StampedEvent> {
    if (this.pending.size >= MAX_OUTBOX) throw new Error(`outbox full (${MAX_OUTBOX} unsent requests)`)
    const request = await signRequest(this.opts.identity, { ...content, clientNonce: randomBytes(16) })
    return this.publishSigned(request)
  }

  /**
   * Queues a request the caller signed already (a UI shows it as pending before the stamp);
   * its author must be this client's identity. Resolves like `publish`.
   */
  async publishSigned(request: SignedRequest): Promise<StampedEvent> {
    if (this.pending.size >= MAX_OUTBOX) throw new Error(`outbox full (${MAX_OUTBOX} unsent requests)`)
    if (!equalBytes(request.author, this.opts.identity.publicKey))
      throw new Error('publishSigned: the request is not authored by this client')
    const key = outboxKey(request.author, request.clientNonce)
    await this.outbox.put(key, { request, queuedAt: this.now() })
    const acked = new Promise<StampedEvent>((resolve, reject) => {
      this.track(request).waiters.push({ resolve, reject })
    })
    this.pump()
    return acked
  }

  /** Requests waiting for their stamp. */
  get outboxSize(): number {
    return this.pending.size
  }

  /**
   * Sends a peer frame to another online session through the relay (the fallback when WebRTC
   * cannot connect), within the byte budget the relay grants each session. False when offline.
   */
  forward(toSession: Uint8Array, payload: Uint8Array): boolean {
    if (this._state !== 'online') return false
    this.sendFrame(encodeFrame({ type: 'forward', to: toSession, payload }))
    return true
  }

  /**
   * A short-lived signaling token for the WebRTC endpoint of the node this session is on (`url`:
   * waiters are refused when the connection closes, so the answer comes from that node).
   */
  requestToken(): Promise<SignalingToken> {
    const url = this.wsUrl
    if (this._state !== 'online' || url === undefined)
      return Promise.reject(new Error('not connected to the relay'))
    return new Promise((resolve, reject) => {
      this.tokenWaiters.push({ resolve: (t) => resolve({ ...t, url }), reject })
      this.sendFrame(encodeFrame({ type: 'tokenRequest' }))
    })
  }

  /**
   * Keeps a signaling token fresh for y-webrtc (docs/protocol/relay.md §8): a token admits only
   * while this client's login session is open and until it expires, and y-webrtc reconnects with
   * the URL it holds. So a token is fetched at every login and again when `TOKEN_REFRESH_AT` of
   * its lifetime has passed; `onToken` gets each one (point the signaling connections' `url` at
   * `<relay>/signal?token=<base64url>`, `<relay>` the node of the token's `url`: after a failover
   * the next token names the new node). Returns the function that stops it.
   */
  keepSignalingToken(onToken: (t: SignalingToken) => void): () => void {
    let timer: ReturnType<typeof setTimeout> | undefined
    let round = 0
    let stopped = false
    const refresh = async (): Promise<void> => {
      clearTimeout(timer)
      const mine = ++round
      if (stopped || this._state !== 'online') return
      let t: SignalingToken
      try {
        t = await this.requestToken()
      } catch {
        return // offline again: the next login fetches one
      }
      if (stopped || mine !== round) return // a later refresh (a new login) supersedes this one
      const left = t.expires - (this.now() + this.relayClockOffset)
      const delay = Math.min(MAX_TOKEN_REFRESH_MS, Math.max(MIN_TOKEN_REFRESH_MS, left * TOKEN_REFRESH_AT))
      timer = setTimeout(() => void refresh(), delay)
      onToken(t)
    }
    const offs = [
      this.on('welcome', () => void refresh()),
      this.on('state', (s) => {
        if (s !== 'online') clearTimeout(timer)
      }),
    ]
    void refresh()
    return () => {
      stopped = true
      clearTimeout(timer)
      for (const off of offs) off()
    }
  }

  // ---- connection ------------------------------------------------------------------------

  private track(request: Authored & { authorSig: Uint8Array }): { authored: Authored; waiters: Waiter[] } {
    const key = outboxKey(request.author, request.clientNonce)
    let p = this.pending.get(key)
    if (!p) {
      p = { authored: request, waiters: [] }
      this.pending.set(key, p)
      this.requests.set(key, request)
    }
    return p
  }

  private connect(): void {
    const Ctor = this.opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket
    if (!Ctor)
      throw new Error('no WebSocket implementation: pass options.WebSocket (the `ws` package in Node)')
    this.setState('connecting')
    const url = this.nodes.next()
    const ws = new Ctor(url)
    this.ws = ws
    this.wsUrl = url
    ws.binaryType = 'arraybuffer'
    ws.onopen = () => this.setState('authenticating')
    ws.onerror = () => {}
    this.loginTimer = setTimeout(() => {
      this.loginTimer = undefined
      if (this.ws !== ws) return
      this.emitter.emit('error', {
        code: 'login_timeout',
        message: `no login at ${url} within ${LOGIN_TIMEOUT_MS} ms`,
      })
      // Closed here, not when the socket says so: a socket still connecting may take minutes.
      const onclose = ws.onclose
      ws.onclose = ws.onmessage = ws.onopen = null
      ws.close(1000, 'login timeout')
      onclose?.({ code: 1006, reason: '' })
    }, LOGIN_TIMEOUT_MS)
    ws.onclose = (ev) => {
      if (this.ws !== ws) return
      this.ws = undefined
      this.wsUrl = undefined
      clearTimeout(this.loginTimer)
      this.loginTimer = undefined
      // The node is tried again after every other (the backoff below still applies).
      this.nodes.failed(url)
      this._session = undefined
      this.land()
      this.presence.clear()
      this.dropQueries('relay connection closed')
      for (const w of this.tokenWaiters.splice(0)) w.reject(new Error('relay connection closed'))
      if (ev.code === REMOVED_CLOSE_CODE) {
        // Kicked or banned: reconnecting would only be refused (a ban) or undo the kick.
        clearTimeout(this.timer)
        this.timer = undefined
        this.setState('stopped')
        this.emitter.emit('removed', { reason: ev.reason })
        return
      }
      if (ev.reason) this.emitter.emit('error', { code: 'closed', message: `${ev.code} ${ev.reason}` })
      this.scheduleReconnect()
    }
    ws.onmessage = (ev) => {
      const data = ev.data
      if (!(data instanceof ArrayBuffer)) return
      this.stats.framesIn++
      this.stats.bytesIn += data.byteLength
      // One frame at a time, in arrival order: verification is async, and a presence snapshot
      // handled after a later join diff would erase that join.
      const bytes = new Uint8Array(data)
      this.inbox = this.inbox
        .then(() => this.onFrame(ws, bytes))
        .catch((e) => this.emitter.emit('error', { code: 'client', message: (e as Error).message }))
    }
  }

  private scheduleReconnect(): void {
    if (this._state === 'stopped') return
    this.setState('offline')
    this.stats.reconnects++
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this._state !== 'stopped') this.connect()
    }, this.backoff.next())
  }

  // ---- the send window ---------------------------------------------------------------------

  /** Fills the window with the oldest requests not yet out. */
  private pump(): void {
    if (this._state !== 'online') return
    // A link's admin event goes alone: the relay refuses the session's other requests until then.
    const link = this.linkKey
    if (link !== undefined && this.requests.has(link)) {
      if (!this.inFlight.has(link)) this.sendRequest(link)
      return
    }
    for (const key of this.requests.keys()) {
      if (this.inFlight.size >= MAX_IN_FLIGHT) return
      if (!this.inFlight.has(key)) this.sendRequest(key)
    }
  }

  /** Sends (or re-sends) a request and waits `ACK_TIMEOUT_MS` for its answer. */
  private sendRequest(key: string): void {
    const request = this.requests.get(key)
    if (!request || this._state !== 'online') return
    let flight = this.inFlight.get(key)
    if (!flight) {
      flight = { timer: undefined, backoff: undefined }
      this.inFlight.set(key, flight)
    }
    clearTimeout(flight.timer)
    flight.timer = setTimeout(() => {
      flight.timer = undefined
      if (this.inFlight.get(key) === flight) this.sendRequest(key)
    }, ACK_TIMEOUT_MS)
    this.sendFrame(encodeFrame({ type: 'publish', request }))
  }

  /** A request refused for now keeps its place in the window and goes out again after its backoff. */
  private retryLater(key: string): void {
    const flight = this.inFlight.get(key)
    if (!flight || this._state !== 'online') return // not out on this connection: the window sends it in turn
    clearTimeout(flight.timer)
    flight.backoff ??= new Backoff(RETRY_BACKOFF)
    flight.timer = setTimeout(() => {
      flight.timer = undefined
      if (this.inFlight.get(key) === flight) this.sendRequest(key)
    }, flight.backoff.next())
  }

  /** A request left the outbox (stamped or refused for good): its place goes to the next one. */
  private settled(key: string): void {
    const flight = this.inFlight.get(key)
    if (flight) {
      clearTimeout(flight.timer)
      this.inFlight.delete(key)
    }
    this.pump()
  }

  /** Empties the window and clears its timers (offline or stopped): the next login starts over. */
  private land(): void {
    for (const flight of this.inFlight.values()) clearTimeout(flight.timer)
    this.inFlight.clear()
  }

  private setState(s: ConnectionState): void {
    if (this._state === s) return
    this._state = s
    this.emitter.emit('state', s)
  }

  private sendFrame(bytes: Uint8Array): void {
    const ws = this.ws
    if (ws?.readyState !== 1) return
    this.stats.framesOut++
    this.stats.bytesOut += bytes.length
    ws.send(bytes)
  }

  private async onFrame(ws: WebSocketLike, bytes: Uint8Array): Promise<void> {
    let frame: RelayFrame
    try {
      frame = decodeRelayFrame(bytes)
    } catch (e) {
      this.emitter.emit('error', { code: 'bad_frame', message: (e as Error).message })
      return
    }
    switch (frame.type) {
      case 'challenge':
        return this.answerChallenge(ws, frame)
      case 'welcome':
        return this.onWelcome(ws, frame.attestation, frame.channels)
      case 'event':
        return this.onEvent(frame.event)
      case 'presenceSnapshot':
      case 'presenceTick':
      case 'presencePage':
        return this.onPresence(frame)
      case 'token': {
        this.tokenWaiters.shift()?.resolve({ token: frame.token, expires: frame.expires })
        return
      }
      case 'channelAdded':
        if (!this._channels.includes(frame.channel)) this._channels = [...this._channels, frame.channel]
        this.emitter.emit('channel-added', frame.channel)
        return
      case 'error':
        return this.onError(frame.code, frame.message, frame.ref)
      case 'forwarded':
        this.emitter.emit('forwarded', { from: frame.from, fromKey: frame.fromKey, payload: frame.payload })
        return
      case 'pong':
        return
    }
  }

  private async answerChallenge(
    ws: WebSocketLike,
    f: Extract<RelayFrame, { type: 'challenge' }>,
  ): Promise<void> {
    const url = this.wsUrl
    if (this.ws !== ws || url === undefined) return
    if (this.relayKey && !equalBytes(this.relayKey, f.relayKey)) {
      // Another community (or a misconfigured node): never logged in to; the next node is tried.
      this.emitter.emit('error', {
        code: 'relay_key_mismatch',
        message: `the relay at ${url} presented key ${publicKeyToText(f.relayKey)}, not the pinned ${publicKeyToText(this.relayKey)}`,
      })
      ws.close(1000, 'relay key mismatch')
      return
    }
    this.relayKey ??= f.relayKey
    this.relayClockOffset = f.serverTime - this.now()
    const origin = new URL(url).host
    const clientTime = this.now()
    const payload = encodeLoginPayload({ relayKey: f.relayKey, nonce: f.nonce, origin, clientTime })
    const sig = await this.opts.identity.sign(Domain.login, payload)
    if (this.ws !== ws) return
    this.sendFrame(
      encodeFrame({
        type: 'login',
        publicKey: this.opts.identity.publicKey,
        clientTime,
        sig,
        invite: this.link?.secret ?? this.opts.invite ?? null,
      }),
    )
  }

  private async onWelcome(ws: WebSocketLike, attestation: Uint8Array, channels: string[]): Promise<void> {
    const session = decodeSession(attestation)
    if (
      !(await verifySession(session, this.relayKey!, this.now())) ||
      !equalBytes(session.value.publicKey, this.opts.identity.publicKey)
    ) {
      this.emitter.emit('error', {
        code: 'bad_attestation',
        message: 'the relay sent an attestation that does not verify',
      })
      ws.close(1000, 'bad attestation')
      return
    }
    const linked = this.link && this.linkKey === undefined ? await this.signLink(this.link) : undefined
    if (this.ws !== ws) return
    if (linked) this.queueFirst(linked)
    this._session = session
    this._channels = channels
    clearTimeout(this.loginTimer)
    this.loginTimer = undefined
    if (this.wsUrl !== undefined) this.nodes.succeeded(this.wsUrl)
    this.backoff.reset()
    this.setState('online')
    this.emitter.emit('welcome', { session: session.value, channels })
    for (const c of this.joined) this.sendFrame(encodeFrame({ type: 'join', channel: c }))
    this.pump()
  }

  /** The admin event a link login stands for, signed by this client's identity. */
  private signLink(link: LinkSecret): Promise<SignedRequest> {
    const body =
      link.kind === 'claim'
        ? encodeAdminBody({ kind: AdminKind.claim, body: {} })
        : encodeAdminBody({ kind: AdminKind.inviteRedeem, body: { id: inviteIdOf(link.secret) } })
    const kind = link.kind === 'claim' ? AdminKind.claim : AdminKind.inviteRedeem
    return signRequest(this.opts.identity, { channel: 'admin', kind, body, clientNonce: randomBytes(16) })
  }

  /** Queues the link's request ahead of every other; its answer forgets the link. */
  private queueFirst(request: SignedRequest): void {
    const key = outboxKey(request.author, request.clientNonce)
    const rest = [...this.requests]
    this.requests.clear()
    this.linkKey = key
    const kind = this.link!.kind
    const done = (outcome: LinkOutcome): void => {
      if (this.linkKey !== key) return
      this.link = undefined
      this.linkKey = undefined
      this.emitter.emit('link', outcome)
      this.pump()
    }
    this.track(request).waiters.push({
      resolve: (event) => done({ kind, ok: true, event }),
      reject: (e) => {
        const code = (e as Error & { code?: string }).code ?? 'refused'
        done({ kind, ok: false, code, message: e.message })
      },
    })
    for (const [k, v] of rest) this.requests.set(k, v)
  }

  private async onEvent(event: StampedEvent): Promise<void> {
    if (!this.relayKey || !(await verifyRelayStamp(event, this.relayKey))) {
      this.stats.rejectedEvents++
      return
    }
    const key = outboxKey(event.author, event.clientNonce)
    const mine = this.pending.get(key)
    if (mine) {
      this.pending.delete(key)
      this.requests.delete(key)
      this.settled(key)
      await this.outbox.delete(key)
      for (const w of mine.waiters) w.resolve(event)
    }
    this.emitter.emit('event', event)
  }

  // ---- presence (docs/protocol/relay.md §5) ---------------------------------------------------

  /** A snapshot replaces what the channel held; a tick applies on top of it; a page or find adds. */
  private async onPresence(
    f: Extract<RelayFrame, { type: 'presenceSnapshot' | 'presenceTick' | 'presencePage' }>,
  ): Promise<void> {
    const { channel } = f
    const verified = await this.verifyAttestations(f.type === 'presenceTick' ? f.entered : f.attestations)
    let p = this.presence.get(channel)
    if (f.type === 'presencePage') {
      const query = this.queries.get(f.q)
      if (query?.channel === channel) {
        this.queries.delete(f.q)
        clearTimeout(query.timer)
      }
      // Only about a channel still joined (a page may come after a leave).
      if (p && this.joined.has(channel) && p.add(verified, f.count)) this.emitPresence(channel, p)
      if (query?.channel === channel) query.resolve({ members: verified, next: f.next, count: f.count })
      return
    }
    if (!this.joined.has(channel)) return
    if (!p) {
      p = new ChannelPresence()
      this.presence.set(channel, p)
    }
    if (f.type === 'presenceSnapshot') p.snapshot(verified, f.count, this._session?.value)
    else if (!p.tick(verified, f.left, f.count)) return // before the snapshot: it will hold this
    this.emitPresence(channel, p)
  }

  private emitPresence(channel: string, p: ChannelPresence): void {
    this.emitter.emit('presence', { channel, members: p.members, count: p.count })
  }

  /** The sessions of the attestations that verify (a malformed or forged one is dropped). */
  private async verifyAttestations(attestations: readonly Uint8Array[]): Promise<Session[]> {
    const verified: Session[] = []
    for (const bytes of attestations) {
      try {
        const s = decodeSession(bytes)
        if (await verifySession(s, this.relayKey!, this.now())) verified.push(s.value)
      } catch {
        // a malformed attestation is dropped; the rest of the frame still counts
      }
    }
    return verified
  }

  /** Sends a presence query and waits for its page (or its refusal, or the timeout). */
  private query(channel: string, frame: (q: number) => Frame): Promise<MemberPage> {
    if (this._state !== 'online') return Promise.reject(new Error('not connected to the relay'))
    const q = this.queryId
    this.queryId = (this.queryId + 1) >>> 0
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.queries.delete(q)
        reject(Object.assign(new Error('the relay did not answer the presence query'), { code: 'timeout' }))
      }, QUERY_TIMEOUT_MS)
      this.queries.set(q, { channel, resolve, reject, timer })
      this.sendFrame(encodeFrame(frame(q)))
    })
  }

  private dropQueries(why: string): void {
    for (const query of this.queries.values()) {
      clearTimeout(query.timer)
      query.reject(new Error(why))
    }
    this.queries.clear()
  }

  private async onError(code: string, message: string, ref: Uint8Array): Promise<void> {
    this.emitter.emit('error', { code, message })
    // A refused presence query: its ref is the query's id.
    if (ref.length === 4) {
      const q = ((ref[0]! << 24) | (ref[1]! << 16) | (ref[2]! << 8) | ref[3]!) >>> 0
      const query = this.queries.get(q)
      if (!query) return
      this.queries.delete(q)
      clearTimeout(query.timer)
      query.reject(
        Object.assign(new Error(`relay refused the presence query: ${code}: ${message}`), { code }),
      )
      return
    }
    // A forward to a session that is gone: one we looked up or paged left without a word.
    if (code === ErrorCode.unknownPeer && ref.length === 16) {
      for (const [channel, p] of this.presence) if (p.drop(ref)) this.emitPresence(channel, p)
      return
    }
    if (ref.length !== 16) return
    for (const [key, p] of this.pending) {
      if (!equalBytes(p.authored.clientNonce, ref)) continue
      if (!FINAL_REFUSALS.has(code)) return this.retryLater(key) // rate limits and the like
      this.pending.delete(key)
      this.requests.delete(key)
      this.settled(key)
      await this.outbox.delete(key)
      const err = Object.assign(new Error(`relay refused the event: ${code}: ${message}`), { code })
      for (const w of p.waiters) w.reject(err)
      this.emitter.emit('refused', { channel: p.authored.channel, kind: p.authored.kind, code, message })
      return
    }
  }
}
