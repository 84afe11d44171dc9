/**
 * `Cluster` on Redis, with node-redis (chosen by measurement over ioredis: about half the
 * relay CPU per call; bench/README.md "Redis client").
 *
 * Two connections: commands (no offline queue, and a deadline on every call: node-redis has
 * none for a sent command; so when Redis is down or stalls a call fails at once and the node
 * goes on alone) and a subscriber (resubscribes by itself after a reconnect).
 *
 *   pc:{c}:ev:<channel>     sharded pub/sub: event frames of the channel (SPUBLISH in the claim)
 *   pc:{c}:bus              pub/sub to every node: heartbeats, channels, presence, announces
 *   pc:{c}:n:<node>         pub/sub to one node: signals and forwarded frames for its sockets
 *   pc:{c}:idem:<a><n>      the stamp record of (author, clientNonce), for idempotencyTtlMs
 *   pc:{c}:rate:<a>         an author's token bucket (tokens, time)
 *   pc:{c}:admin            list: the admin log (event bytes, in decision order)
 *   pc:{c}:channels         set: channel names
 *   pc:{c}:nodes            hash: node -> last heartbeat (ms) : presence sequence
 *   pc:{c}:roster:<node>    hash: channel NUL session id (hex) -> join id | attestation (base64)
 *
 * `c` is the community: the first 16 hex digits of the relay key, so communities can share a
 * Redis. The `{c}` hash tag keeps a community's keys in one slot (a Redis Cluster runs the
 * claim script on one shard). Presence of other nodes is held here (`remote`) and replayed
 * to the cores as joins and leaves: from the roster hashes when a node is first seen, when
 * its presence sequence skips (a lost message) and after Redis comes back.
 */
import { fromHex, toHex } from '@peerchat/engine'
import { type CommandParser, createClient, defineScript, RESP_TYPES } from 'redis'
import type { Logger } from '../log.ts'
import type { Cluster, ClusterHooks, StampClaim, StampClaimRequest } from './cluster.ts'
import { Deadlines } from './deadlines.ts'
import {
  ClusterLimits,
  type ClusterMessage,
  decodeClusterMessage,
  encodeClusterMessage,
  type PresenceJoin,
  type PresenceLeave,
} from './messages.ts'

export interface RedisClusterOptions {
  url: string
  relayKey: Uint8Array
  /** Idempotency records live this long (the relay's idempotencyTtlMs). */
  idempotencyTtlMs: number
  /** An author's events across every node: the relay's eventsPerSecondPerKey and eventBurstPerKey. */
  eventsPerSecond: number
  eventBurst: number
  log: Logger
  /** The channels this node starts with (the others are learnt from Redis). */
  channels: Iterable<string>
  /** Test hooks. */
  node?: string
  heartbeatMs?: number
}

/** A node unheard of for this many heartbeats is gone: its sessions leave every channel. */
const NODE_TIMEOUT_BEATS = 4
const HEARTBEAT_MS = 1000
const PRESENCE_TICK_MS = 100
/** A call without a reply by then fails (a stalled Redis must not hold stamps back). */
const COMMAND_DEADLINE_MS = 500

/**
 * One round trip per stamp: an existing record wins (a retry through another node gets the
 * first stamp); else the author's token bucket (the same rate and burst as one node's, on
 * Redis's clock, shared by every node), then the record and the fan-out.
 * KEYS: idem, bucket, shard channel (declared: a Redis Cluster routes by it; all share `{c}`).
 * ARGV: record, ttl ms, rate per s, burst, message.
 */
const CLAIM_SCRIPT = `
local old = redis.call('GET', KEYS[1])
if old then return {1, old} end
local rate = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[2], 't', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
if tokens < 1 then return {2} end
redis.call('HSET', KEYS[2], 't', tokens - 1, 'at', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(burst / rate * 1000) + 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SPUBLISH', KEYS[3], ARGV[5])
return {0}
`

/** KEYS: admin list. ARGV: expected length, event bytes, bus channel, notification. */
const ADMIN_APPEND_SCRIPT = `
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`

type ClaimReply = [number, Buffer?]

const CLAIM = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: CLAIM_SCRIPT,
  parseCommand(
    parser: CommandParser,
    idem: string,
    bucket: string,
    record: Buffer,
    ttlMs: number,
    rate: number,
    burst: number,
    channel: string,
    message: Buffer,
  ) {
    parser.pushKeys([idem, bucket, channel])
    parser.push(record, String(ttlMs), String(rate), String(burst), message)
  },
  transformReply: (reply: unknown) => reply as ClaimReply,
})

const ADMIN_APPEND = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: ADMIN_APPEND_SCRIPT,
  parseCommand(
    parser: CommandParser,
    list: string,
    expected: number,
    bytes: Buffer,
    bus: string,
    note: Buffer,
  ) {
    parser.pushKey(list)
    parser.push(String(expected), bytes, bus, note)
  },
  transformReply: (reply: unknown) => reply as number,
})

function connect(url: string, offlineQueue: boolean) {
  return createClient({
    url,
    disableOfflineQueue: !offlineQueue,
    socket: { reconnectStrategy: (n: number) => Math.min(50 * (n + 1), 1000) },
    scripts: { peerchatClaim: CLAIM, peerchatAdminAppend: ADMIN_APPEND },
  })
}
type Client = ReturnType<typeof connect>

interface RemoteNode {
  lastSeen: number
  /** Sequence of its last presence message applied; -1: roster not loaded yet. */
  seq: number
  /** channel NUL session id (latin1) -> the join. */
  entries: Map<string, PresenceJoin>
  /** Session id (latin1) -> its channels here: the session leaves `sessionNodes` at zero. */
  channels: Map<string, number>
}

const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1')
const entryKey = (channel: string, sessionId: Uint8Array) => `${channel}\0${toHex(sessionId)}`

export class RedisCluster implements Cluster {
  readonly node: string
  private readonly prefix: string
  private readonly base: Client
  /** `base` with binary replies as Buffers. */
  private readonly bin
  private readonly sub: Client
  private readonly deadlines = new Deadlines(COMMAND_DEADLINE_MS)
  private readonly hooks: Partial<ClusterHooks> = {}
  private readonly remote = new Map<string, RemoteNode>()
  /** Session id (latin1) -> node, for forwarded frames. */
  private readonly sessionNodes = new Map<string, string>()
  /** This node's presence: what its roster hash holds, and the changes not yet sent. */
  private readonly local = new Map<string, PresenceJoin>()
  private joins: PresenceJoin[] = []
  private leaves: PresenceLeave[] = []
  private seq = 0
  private readonly timers: NodeJS.Timeout[] = []
  private readonly heartbeatMs: number
  private subscribedChannels = new Set<string>()
  private closed = false
  private lastClaimError = 0
  /** Whether the local roster must be written whole (first connection, after an outage). */
  private rosterDirty = true

  constructor(private readonly o: RedisClusterOptions) {
    this.node = o.node ?? toHex(crypto.getRandomValues(new Uint8Array(4)))
    this.prefix = `pc:{${toHex(o.relayKey).slice(0, 16)}}:`
    this.heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS
    this.base = connect(o.url, false)
    this.bin = this.base.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
    // The subscriber queues its (re)subscriptions while down; they apply once connected.
    this.sub = connect(o.url, true)
    // An 'error' listener is required (without one a dropped connection crashes the process);
    // the node says it once per outage.
    let down = false
    const onError = (e: Error) => {
      if (down || this.closed) return
      down = true
      o.log('relay.redis_down', { error: e.message })
    }
    this.base.on('error', onError)
    this.sub.on('error', () => {})
    this.base.on('ready', () => {
      if (down) o.log('relay.redis_up', {})
      down = false
      this.rosterDirty = true
      this.resync().catch((e) => o.log('relay.redis_resync_failed', { error: String(e) }))
    })
  }

  /**
   * Connects (and keeps reconnecting: a node whose Redis is down serves its own members) and
   * resolves once Redis answered or `waitMs` passed, whichever comes first.
   */
  async start(waitMs = 5000): Promise<void> {
    const ready = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs)
      timer.unref()
      this.base.once('ready', () => {
        clearTimeout(timer)
        resolve()
      })
    })
    // connect() resolves only once Redis answers, and keeps trying: never awaited.
    this.base.connect().catch(() => {})
    this.sub.connect().catch(() => {})
    this.sub
      .subscribe([this.key('bus'), this.key(`n:${this.node}`)], (m: Buffer) => this.onMessage(m), true)
      .catch(() => {})
    for (const c of this.o.channels) this.subscribeChannel(c)
    this.timers.push(
      setInterval(() => this.flushPresence(), PRESENCE_TICK_MS),
      setInterval(() => void this.heartbeat(), this.heartbeatMs),
    )
    for (const t of this.timers) t.unref()
    await ready
    if (!this.connected) this.o.log('relay.redis_down', { url: redactUrl(this.o.url), serving: 'alone' })
  }

  get connected(): boolean {
    return this.base.isReady
  }

  get nodes(): number {
    return this.remote.size + 1
  }

  attach(hooks: Partial<ClusterHooks>): void {
    Object.assign(this.hooks, hooks)
  }

  /** Channels known to the cluster (to merge with the node's own at start). */
  async channels(): Promise<string[]> {
    return this.call(this.base.sMembers(this.key('channels')))
  }

  async claimStamp(r: StampClaimRequest): Promise<StampClaim> {
    if (!this.connected) return { kind: 'offline' }
    const message = encodeClusterMessage({
      type: 'event',
      origin: this.node,
      channel: r.channel,
      frame: r.frame,
    })
    try {
      const [verdict, record] = (await this.call(
        this.bin.peerchatClaim(
          this.key(`idem:${toHex(r.author)}${toHex(r.clientNonce)}`),
          this.key(`rate:${toHex(r.author)}`),
          view(r.record),
          this.o.idempotencyTtlMs,
          this.o.eventsPerSecond,
          this.o.eventBurst,
          this.eventChannel(r.channel),
          view(message),
        ),
      )) as ClaimReply
      if (verdict === 1 && record) return { kind: 'existing', record: new Uint8Array(record) }
      if (verdict === 2) return { kind: 'limited' }
      return { kind: 'claimed' }
    } catch (e) {
      // Once a second at most: a stalled Redis must not flood the log with one line per post.
      const now = Date.now()
      if (now - this.lastClaimError >= 1000) {
        this.lastClaimError = now
        this.o.log('relay.redis_error', { op: 'claim', error: (e as Error).message })
      }
      return { kind: 'offline' }
    }
  }

  channelAdded(channel: string): void {
    this.subscribeChannel(channel)
    if (!this.connected) return
    this.call(this.base.sAdd(this.key('channels'), channel)).catch(() => {})
    this.send(this.key('bus'), { type: 'channelAdded', origin: this.node, channel })
  }

  presenceJoin(join: PresenceJoin): void {
    this.local.set(entryKey(join.channel, join.sessionId), join)
    this.joins.push(join)
  }

  presenceLeave(leave: PresenceLeave): void {
    this.local.delete(entryKey(leave.channel, leave.sessionId))
    this.leaves.push(leave)
  }

  nodeOfSession(sessionId: Uint8Array): string | undefined {
    return this.sessionNodes.get(latin1(sessionId))
  }

  signalAnnounce(room: string, peerId: string): void {
    this.send(this.key('bus'), { type: 'signalAnnounce', origin: this.node, room, peerId })
  }

  signalDeliver(node: string, room: string, to: string, data: string): void {
    this.send(this.key(`n:${node}`), { type: 'signalDeliver', origin: this.node, room, to, data })
  }

  forward(node: string, to: Uint8Array, frame: Uint8Array): void {
    this.send(this.key(`n:${node}`), { type: 'forward', origin: this.node, to, frame })
  }

  async adminRead(from: number): Promise<Uint8Array[]> {
    const items = (await this.call(this.bin.lRange(this.key('admin'), from, -1))) as unknown as Buffer[]
    return items.map((b) => new Uint8Array(b))
  }

  async adminAppend(expected: number, bytes: Uint8Array): Promise<boolean> {
    const note = encodeClusterMessage({ type: 'adminAppended', origin: this.node, length: expected + 1 })
    const ok = await this.call(
      this.base.peerchatAdminAppend(
        this.key('admin'),
        expected,
        Buffer.from(bytes),
        this.key('bus'),
        Buffer.from(note),
      ),
    )
    return ok === 1
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const t of this.timers) clearInterval(t)
    if (this.connected)
      await this.call(
        this.base
          .multi()
          .hDel(this.key('nodes'), this.node)
          .del(this.key(`roster:${this.node}`))
          .exec(),
      ).catch(() => {})
    this.deadlines.stop()
    this.base.destroy()
    this.sub.destroy()
  }

  // ---- inbound ------------------------------------------------------------------------------

  private onMessage(bytes: Buffer): void {
    let m: ClusterMessage
    try {
      m = decodeClusterMessage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    } catch (e) {
      this.o.log('relay.cluster_bad_message', { error: (e as Error).message })
      return
    }
    if (m.origin === this.node) return // our own publication, back from Redis
    const h = this.hooks
    switch (m.type) {
      case 'event':
        h.event?.(m.channel, m.frame)
        break
      case 'channelAdded':
        this.subscribeChannel(m.channel)
        h.channelAdded?.(m.channel)
        break
      case 'heartbeat':
        this.heard(m.origin, m.presenceSeq)
        break
      case 'presence':
        this.remotePresence(m)
        break
      case 'signalAnnounce':
        h.signalAnnounce?.(m.room, m.peerId)
        break
      case 'signalDeliver':
        h.signalDeliver?.(m.room, m.to, m.data)
        break
      case 'forward':
        h.forwarded?.(m.to, m.frame)
        break
      case 'adminAppended':
        h.adminAppended?.(m.length)
        break
    }
  }

  private remotePresence(m: Extract<ClusterMessage, { type: 'presence' }>): void {
    const node = this.remoteNode(m.origin)
    if (node.seq >= 0 && m.seq <= node.seq) return // already in the roster loaded
    if (node.seq < 0 || m.seq !== node.seq + 1) {
      // Never loaded, or a message was lost: the roster hash is the truth.
      this.loadRoster(m.origin).catch(() => {})
      return
    }
    node.seq = m.seq
    this.apply(m.origin, node, m.joins, m.leaves)
  }

  private apply(origin: string, node: RemoteNode, joins: PresenceJoin[], leaves: PresenceLeave[]): void {
    for (const l of leaves) {
      if (!node.entries.delete(entryKey(l.channel, l.sessionId))) continue
      this.hooks.presenceLeave?.(l, origin)
      // A count per session, not a scan of the roster: a storm of leaves stays linear.
      const s = latin1(l.sessionId)
      const left = (node.channels.get(s) ?? 1) - 1
      if (left > 0) node.channels.set(s, left)
      else {
        node.channels.delete(s)
        this.sessionNodes.delete(s)
      }
    }
    for (const j of joins) {
      const k = entryKey(j.channel, j.sessionId)
      if (node.entries.has(k)) continue
      node.entries.set(k, j)
      const s = latin1(j.sessionId)
      node.channels.set(s, (node.channels.get(s) ?? 0) + 1)
      this.sessionNodes.set(s, origin)
      this.hooks.presenceJoin?.(j, origin)
    }
  }

  /** The node, last heard of at `seen` (now: a message from it; a roster load: its heartbeat's time). */
  private remoteNode(origin: string, seen = Date.now()): RemoteNode {
    let node = this.remote.get(origin)
    if (!node) {
      node = { lastSeen: seen, seq: -1, entries: new Map(), channels: new Map() }
      this.remote.set(origin, node)
    }
    node.lastSeen = Math.max(node.lastSeen, seen)
    return node
  }

  private heard(origin: string, seq: number): void {
    const node = this.remoteNode(origin)
    if (node.seq !== seq) this.loadRoster(origin).catch(() => {})
  }

  /** Replaces what this node holds of `origin`'s presence with its roster hash. */
  private async loadRoster(origin: string): Promise<void> {
    const [seqText, hash] = (await this.call(
      this.base
        .multi()
        .hGet(this.key('nodes'), origin)
        .hGetAll(this.key(`roster:${origin}`))
        .exec(),
    )) as unknown as [string | null, Record<string, string>]
    // Last seen when it last beat, not now: a node that died just before is not revived.
    const beat = seqText ? Number(seqText.split(':')[0]) || 0 : 0
    if (Date.now() - beat > NODE_TIMEOUT_BEATS * this.heartbeatMs) {
      const known = this.remote.get(origin)
      if (known) this.dropNode(origin, known)
      return
    }
    const node = this.remoteNode(origin, beat)
    const seq = seqText ? Number(seqText.split(':')[1] ?? -1) : -1
    const fresh = new Map<string, PresenceJoin>()
    for (const [field, value] of Object.entries(hash ?? {})) {
      const cut = field.indexOf('\0')
      const bytes = Buffer.from(value, 'base64')
      if (cut < 0 || bytes.length < 16) continue
      const channel = field.slice(0, cut)
      const sessionId = fromHex(field.slice(cut + 1))
      fresh.set(entryKey(channel, sessionId), {
        channel,
        sessionId,
        joinId: new Uint8Array(bytes.subarray(0, 16)),
        attestation: new Uint8Array(bytes.subarray(16)),
      })
    }
    const leaves = [...node.entries.entries()]
      .filter(([k]) => !fresh.has(k))
      .map(([, j]) => ({ channel: j.channel, sessionId: j.sessionId }))
    const joins = [...fresh.entries()].filter(([k]) => !node.entries.has(k)).map(([, j]) => j)
    node.seq = seq
    this.apply(origin, node, joins, leaves)
  }

  // ---- outbound -----------------------------------------------------------------------------

  private async heartbeat(): Promise<void> {
    const now = Date.now()
    for (const [origin, node] of this.remote)
      if (now - node.lastSeen > NODE_TIMEOUT_BEATS * this.heartbeatMs) this.dropNode(origin, node)
    if (!this.connected) return
    try {
      if (this.rosterDirty) await this.writeRoster()
      await this.call(this.base.hSet(this.key('nodes'), this.node, `${now}:${this.seq}`))
      this.send(this.key('bus'), { type: 'heartbeat', origin: this.node, presenceSeq: this.seq })
    } catch {}
  }

  /** A node unheard of: its sessions leave (it crashed, or this node lost Redis). */
  private dropNode(origin: string, node: RemoteNode): void {
    this.remote.delete(origin)
    const leaves = [...node.entries.values()].map((j) => ({ channel: j.channel, sessionId: j.sessionId }))
    node.entries.clear()
    node.channels.clear()
    for (const l of leaves) {
      this.sessionNodes.delete(latin1(l.sessionId))
      this.hooks.presenceLeave?.(l, origin)
    }
    this.o.log('relay.node_gone', { node: origin, sessions: leaves.length })
    // Its entries in Redis go too (any node may clear them: the same keys, idempotent), unless
    // it came back in the meantime (its heartbeat is fresh again).
    if (this.connected)
      this.call(this.base.hGet(this.key('nodes'), origin))
        .then((value) => {
          if (value && Date.now() - Number(value.split(':')[0]) <= NODE_TIMEOUT_BEATS * this.heartbeatMs)
            return
          return this.call(
            this.base
              .multi()
              .hDel(this.key('nodes'), origin)
              .del(this.key(`roster:${origin}`))
              .exec(),
          )
        })
        .catch(() => {})
  }

  private flushPresence(): void {
    if (this.joins.length === 0 && this.leaves.length === 0) return
    if (!this.connected || this.rosterDirty) {
      // Written whole once Redis is back; the changes are in `local` already.
      this.joins = []
      this.leaves = []
      this.rosterDirty = true
      return
    }
    // Leaves first (a session that left and joined again within the tick ends joined), in
    // messages of at most `presenceChanges` changes, each with its own sequence.
    const changes: (PresenceJoin | PresenceLeave)[] = [...this.leaves, ...this.joins]
    const leaving = this.leaves.length
    this.joins = []
    this.leaves = []
    const rosterKey = this.key(`roster:${this.node}`)
    const tx = this.base.multi()
    for (let at = 0; at < changes.length; at += ClusterLimits.presenceChanges) {
      const part = changes.slice(at, at + ClusterLimits.presenceChanges)
      const cut = Math.max(0, Math.min(part.length, leaving - at))
      const leaves = part.slice(0, cut) as PresenceLeave[]
      const joins = part.slice(cut) as PresenceJoin[]
      for (const l of leaves) tx.hDel(rosterKey, entryKey(l.channel, l.sessionId))
      for (const j of joins)
        if (this.local.has(entryKey(j.channel, j.sessionId)))
          tx.hSet(rosterKey, entryKey(j.channel, j.sessionId), rosterValue(j))
      this.seq++
      tx.publish(
        this.key('bus'),
        Buffer.from(
          encodeClusterMessage({ type: 'presence', origin: this.node, seq: this.seq, joins, leaves }),
        ),
      )
    }
    tx.hSet(this.key('nodes'), this.node, `${Date.now()}:${this.seq}`)
    this.call(tx.exec()).catch(() => {
      this.rosterDirty = true
    })
  }

  /** Writes the whole local roster (after connecting or an outage) under a new sequence. */
  private async writeRoster(): Promise<void> {
    const rosterKey = this.key(`roster:${this.node}`)
    this.joins = []
    this.leaves = []
    this.seq++
    const tx = this.base.multi().del(rosterKey)
    const fields: Record<string, string> = {}
    for (const j of this.local.values()) fields[entryKey(j.channel, j.sessionId)] = rosterValue(j)
    if (this.local.size > 0) tx.hSet(rosterKey, fields)
    tx.hSet(this.key('nodes'), this.node, `${Date.now()}:${this.seq}`)
    await this.call(tx.exec())
    this.rosterDirty = false
  }

  /** After (re)connecting: channels and admin log catch up, every live node's roster reloads. */
  private async resync(): Promise<void> {
    const nodes = await this.call(this.base.hGetAll(this.key('nodes')))
    const now = Date.now()
    for (const [origin, value] of Object.entries(nodes)) {
      if (origin === this.node) continue
      const seen = Number(value.split(':')[0])
      if (now - seen > NODE_TIMEOUT_BEATS * this.heartbeatMs) continue
      await this.loadRoster(origin)
    }
    // Channels: this node's to Redis, the others' to this node.
    const mine = [...this.subscribedChannels]
    if (mine.length > 0) await this.call(this.base.sAdd(this.key('channels'), mine))
    for (const c of await this.channels()) {
      this.subscribeChannel(c)
      this.hooks.channelAdded?.(c)
    }
    this.hooks.adminAppended?.(await this.call(this.base.lLen(this.key('admin'))))
  }

  private subscribeChannel(channel: string): void {
    if (this.subscribedChannels.has(channel)) return
    this.subscribedChannels.add(channel)
    this.sub
      .sSubscribe(this.eventChannel(channel), (m: Buffer) => this.onMessage(m), true)
      .catch(() => this.subscribedChannels.delete(channel))
  }

  private send(channel: string, m: ClusterMessage): void {
    if (!this.connected) return
    this.call(this.base.publish(channel, Buffer.from(encodeClusterMessage(m)))).catch(() => {})
  }

  /** Every call is bounded (node-redis has no deadline for a sent command). */
  private call<T>(p: Promise<T>): Promise<T> {
    return this.deadlines.bound(p)
  }

  private key(name: string): string {
    return this.prefix + name
  }

  private eventChannel(channel: string): string {
    return this.key(`ev:${channel}`)
  }
}

/** A Redis URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return 'redis://(unparsable)'
  }
}

/** A Buffer over the same bytes (node-redis takes Buffers; a copy per stamp is not needed). */
const view = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength)

function rosterValue(j: PresenceJoin): string {
  return Buffer.concat([j.joinId, j.attestation]).toString('base64')
}
