/**
 * The Replica: the one object an application holds. It owns the store and the channel logs,
 * the outbox of local writes, and the sync policy; transports are attached and detached at any
 * time, and it works with none (offline).
 *
 *   const replica = await Replica.open({ store, relayKeys: [relayKey], signer })
 *   const off = await replica.subscribe('tasks', (change) => view.apply(change))
 *   replica.connect(relayClient)        // live events, stamping
 *   replica.attach(meshTransport)       // peers: catch-up, anti-entropy, scroll-back, serving
 *   await replica.write('tasks', 'task.set', body)   // shown at once as pending
 *
 * Every change is emitted as `{ added, replaced, source, writes }`: `source` says where the
 * events came from (store, relay, which peer over which link), `writes` the local writes whose
 * state changed (pending, stamped, failed).
 */
import { randomBytes } from '../bytes.ts'
import { realClock, type Scheduler } from '../clock.ts'
import { type SignedRequest, type StampedEvent, signRequest, verifyAuthor } from '../event.ts'
import type { PublicKey, Signer } from '../identity/keys.ts'
import type { AddResult, ChannelLog } from '../log.ts'
import type { MeshPort } from '../mesh/port.ts'
import { Peer, type PeerOptions, type SyncReport } from '../peer/peer.ts'
import { LOCAL, RELAY, type Source, STORE } from '../source.ts'
import type { IdRange, Store, StoreChange } from '../store/store.ts'
import type { Ulid } from '../ulid.ts'
import {
  MAX_OUTBOX,
  MemoryOutboxStore,
  type OutboxChange,
  type OutboxEntry,
  type OutboxStore,
  outboxKey,
} from './outbox.ts'
import { SyncPolicy, type SyncPolicyOptions } from './sync-policy.ts'

/** The relay as the Replica needs it. `RelayClient` (@peerchat/transports) satisfies it. */
export interface LivePort {
  /** `online` once logged in. */
  readonly state: string
  /**
   * Queues a signed request until the relay stamps it (resent on every reconnect); resolves with
   * the stamped event, rejects with an error carrying a `code` when the relay refuses it for good.
   */
  publishSigned(request: SignedRequest): Promise<StampedEvent>
  join(channel: string): void
  on(event: 'event', listener: (e: StampedEvent) => void): () => void
  on(event: 'state', listener: (s: string) => void): () => void
}

/**
 * How long, at least, a write another tab queued waits before this tab sends it too (default
 * 5 s): its own tab normally has it stamped within milliseconds; one closed or offline
 * meanwhile leaves it to the others. Each tab waits a random extra up to the same again, so
 * that one of them sends it and the others see it stamped first.
 */
export const ADOPT_DELAY_MS = 5_000

export type WriteState = 'pending' | 'stamped' | 'failed'

/** A local write: pending until the relay stamps it. */
export interface Write {
  readonly key: string
  readonly request: SignedRequest
  readonly queuedAt: number
  state: WriteState
  /** The stamped event, once `stamped`. */
  event?: StampedEvent
  /** Why the relay refused it, when `failed`. */
  error?: { code: string; message: string }
}

export interface Change {
  channel: string
  /** Events newly in the log, in ULID order. */
  added: StampedEvent[]
  /** Ids that left the log (a retried write stamped twice keeps its smaller id; forgeries found later). */
  replaced: Ulid[]
  source: Source
  /** Local writes of this channel whose state changed. */
  writes: Write[]
}

export interface ReplicaOptions {
  store: Store
  relayKeys: Uint8Array[]
  /** Signs local writes; without it the replica only syncs. */
  signer?: Signer
  /** Where pending writes survive a restart (default memory). */
  outbox?: OutboxStore
  clock?: Scheduler
  /** Uniform [0, 1) (anti-entropy jitter, peer choice); default Math.random. */
  random?: () => number
  /** A virtual client: serves last, and starts no catch-up towards newcomers once caught up. */
  virtual?: boolean
  sync?: Partial<SyncPolicyOptions>
  /**
   * Which channels the sync policy reconciles with peers (default: all open ones). A channel
   * another authority serves whole (the chat's admin log, which the relay sends on join) need not
   * be; peers still answer for it when asked.
   */
  peerSync?: (channel: string) => boolean
  peer?: Omit<PeerOptions, 'store' | 'relayKeys' | 'clock'>
}

export interface SubscribeOptions {
  /**
   * Stored events delivered first, as one change with source `store`: all (default), the
   * newest `limit`, or none (`false`).
   */
  replay?: boolean | { limit: number }
}

type Listener = (change: Change) => void

export class Replica {
  readonly peer: Peer
  readonly clock: Scheduler
  private readonly policy: SyncPolicy
  private readonly outbox: OutboxStore
  private readonly writesByKey = new Map<string, Write>()
  /** Writes another tab queued: not sent from here before this time (ms). */
  private readonly notBefore = new Map<string, number>()
  private readonly adoptTimers = new Set<() => void>()
  private readonly waiters = new Map<string, { resolve(e: StampedEvent): void; reject(e: Error): void }[]>()
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly offs: (() => void)[] = []
  private readonly lives = new Set<{ port: LivePort; handed: WeakSet<Write> }>()
  private stopped = false
  readonly stats = { fromRelay: 0 }

  /** Whether the sync policy reconciles a channel with peers (`peerSync`, default all). */
  private readonly syncs: (channel: string) => boolean

  private constructor(private readonly opts: ReplicaOptions) {
    this.syncs = opts.peerSync ?? (() => true)
    this.clock = opts.clock ?? realClock
    this.outbox = opts.outbox ?? new MemoryOutboxStore()
    this.peer = new Peer({
      ...opts.peer,
      store: opts.store,
      relayKeys: opts.relayKeys,
      clock: this.clock,
    })
    this.policy = new SyncPolicy(
      this.peer,
      this.clock,
      opts.random ?? Math.random,
      () => this.peer.channels.filter(this.syncs),
      {
        ...(opts.virtual ? { initiateOnJoin: 'until-caught-up' as const } : {}),
        ...opts.sync,
      },
    )
  }

  /** Opens a replica over its store and outbox; no network is needed, and none is waited for. */
  static async open(opts: ReplicaOptions): Promise<Replica> {
    const replica = new Replica(opts)
    const unwatch = opts.store.watch?.((change) => void replica.clock.track(replica.fromSharedStore(change)))
    if (unwatch) replica.offs.push(unwatch)
    const unwatchOutbox = replica.outbox.watch?.(
      (change) => void replica.clock.track(replica.fromSharedOutbox(change)),
    )
    if (unwatchOutbox) replica.offs.push(unwatchOutbox)
    for (const entry of await replica.outbox.list()) replica.track(entry)
    for (const channel of await opts.store.channels()) replica.open(channel)
    return replica
  }

  get channels(): string[] {
    return this.peer.channels
  }

  /**
   * The log of a channel (created on first use; joined on every connected relay). `from`: a user
   * who surely holds it (who invited us into it), asked first when it is caught up from peers.
   */
  open(channel: string, o: { from?: PublicKey } = {}): ChannelLog {
    const known = this.peer.log(channel)
    if (known) return known
    const log = this.peer.open(channel)
    this.offs.push(
      log.onAdded((added, change) => {
        this.emit({ channel, added, replaced: change.replaced, source: change.source, writes: [] })
        // A write is stamped once its event is held, whoever brought it (another tab's session, a peer).
        if (this.writesByKey.size > 0)
          for (const e of added) {
            const w = this.writesByKey.get(outboxKey(e.author, e.clientNonce))
            if (w) void this.clock.track(this.settle(w, e))
          }
      }),
    )
    for (const { port } of this.lives) port.join(channel)
    if (this.syncs(channel)) this.policy.channelOpened(channel, o.from)
    return log
  }

  /**
   * Delivers the channel's stored events (see `replay`) and its pending writes, then every later
   * change — in one step: nothing slips between the replay and the subscription, nothing comes twice.
   */
  async subscribe(channel: string, listener: Listener, o: SubscribeOptions = {}): Promise<() => void> {
    const log = this.open(channel)
    let buffer: Change[] | undefined = []
    const deliver: Listener = (c) => (buffer ? buffer.push(c) : listener(c))
    const set = this.listeners.get(channel) ?? new Set()
    set.add(deliver)
    this.listeners.set(channel, set)
    const off = () => void set.delete(deliver)
    try {
      const replayed = new Set<Ulid>()
      const replay = o.replay ?? true
      if (replay !== false) {
        const events =
          replay === true
            ? await log.range({})
            : (await log.range({}, { limit: replay.limit, reverse: true })).reverse()
        for (const e of events) replayed.add(e.id)
        if (events.length > 0) listener({ channel, added: events, replaced: [], source: STORE, writes: [] })
      }
      const writes = this.writes(channel)
      if (writes.length > 0) listener({ channel, added: [], replaced: [], source: LOCAL, writes })
      for (const c of buffer) {
        const added = c.added.filter((e) => !replayed.has(e.id))
        if (added.length > 0 || c.replaced.length > 0 || c.writes.length > 0) listener({ ...c, added })
      }
    } catch (e) {
      off()
      throw e
    } finally {
      buffer = undefined
    }
    return off
  }

  /**
   * Signs a write and queues it: listeners see it at once as `pending`; it is kept in the outbox
   * (across restarts) until the relay stamps it. Resolves once it is queued, not stamped.
   */
  async write(channel: string, kind: string, body: Uint8Array): Promise<Write> {
    const signer = this.opts.signer
    if (!signer) throw new Error('this replica has no signer: pass options.signer to write')
    if (this.writesByKey.size >= MAX_OUTBOX)
      throw new Error(`outbox full (${MAX_OUTBOX} unstamped writes): reconnect to the relay first`)
    this.open(channel)
    const request = await signRequest(signer, { channel, kind, body, clientNonce: randomBytes(16) })
    const entry: OutboxEntry = { request, queuedAt: this.clock.now() }
    await this.outbox.put(outboxKey(request.author, request.clientNonce), entry)
    return this.track(entry)
  }

  /** Local writes not stamped yet (pending or failed), oldest first; of one channel if given. */
  writes(channel?: string): Write[] {
    return [...this.writesByKey.values()].filter(
      (w) => channel === undefined || w.request.channel === channel,
    )
  }

  /**
   * Resolves with the stamped event once the relay stamps `write`; rejects if the relay refuses
   * it (a later `retry` may still get it stamped: wait again then).
   */
  stamped(write: Write): Promise<StampedEvent> {
    if (write.state === 'stamped' && write.event) return Promise.resolve(write.event)
    if (write.state === 'failed')
      return Promise.reject(
        Object.assign(new Error(write.error?.message ?? 'refused'), { code: write.error?.code }),
      )
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(write.key) ?? []
      list.push({ resolve, reject })
      this.waiters.set(write.key, list)
    })
  }

  /** Sends a failed write again (same signature and nonce: it can still be stamped only once). */
  async retry(key: string): Promise<void> {
    const w = this.writesByKey.get(key)
    if (w?.state !== 'failed') return
    w.state = 'pending'
    delete w.error
    await this.outbox.put(key, { request: w.request, queuedAt: w.queuedAt })
    this.changed(w)
    for (const live of this.lives) live.handed.delete(w)
    this.hand(w)
  }

  /** Forgets a failed write. */
  async discard(key: string): Promise<void> {
    const w = this.writesByKey.get(key)
    if (w?.state !== 'failed') return
    this.writesByKey.delete(key)
    await this.outbox.delete(key)
  }

  /** Live events and stamping through the relay; returns the function that disconnects it. */
  connect(port: LivePort): () => void {
    const live = { port, handed: new WeakSet<Write>() }
    this.lives.add(live)
    const offs = [
      port.on('event', (e) => void this.clock.track(this.onLiveEvent(e))),
      port.on('state', (s) => {
        if (s === 'online') this.policy.relayOnline()
      }),
    ]
    for (const channel of this.channels) port.join(channel)
    this.handAll()
    if (port.state === 'online') this.policy.relayOnline()
    return () => {
      for (const off of offs) off()
      this.lives.delete(live)
    }
  }

  /** Syncs with peers on `port` from now on; returns the function that detaches it. */
  attach(port: MeshPort): () => void {
    return this.peer.attach(port)
  }

  /** Reconciles a channel (or a range of it) with the best peer now (scroll-back, a refresh). */
  sync(channel: string, range?: IdRange): Promise<SyncReport> {
    this.open(channel)
    return this.peer.sync(channel, range ? { range } : {})
  }

  /**
   * Pulls history older than `before` (the newest when omitted) from peers until `want` events
   * arrived or nobody has more; waits up to `waitMs` for a first peer when none is linked yet.
   */
  async backfill(
    channel: string,
    o: { before?: Ulid; want: number; waitMs?: number; signal?: AbortSignal },
  ): Promise<{ added: number; exhausted: boolean }> {
    this.open(channel)
    if (!(await this.policy.waitForPeer(o.waitMs ?? 0))) return { added: 0, exhausted: true }
    return this.policy.backfill(channel, o.before, o.want, o.signal)
  }

  /** Resolves when no sync job is queued or running (tests and benchmarks). */
  settled(): Promise<void> {
    return this.policy.settled()
  }

  /** Stops syncing and drops every listener; the store stays open (the application owns it). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.policy.stop()
    for (const off of this.offs.splice(0)) off()
    for (const cancel of this.adoptTimers) cancel()
    this.adoptTimers.clear()
    this.lives.clear()
    this.listeners.clear()
    await this.peer.stop()
  }

  // ---- internals -------------------------------------------------------------------------

  private emit(change: Change): void {
    for (const listener of [...(this.listeners.get(change.channel) ?? [])]) listener(change)
  }

  /** Another handle of the store (another tab of this person) stored or dropped events. */
  private async fromSharedStore(change: StoreChange): Promise<void> {
    if (this.stopped) return
    try {
      await this.open(change.channel).takeExternal(change.added, change.deleted)
    } catch (err) {
      if (!this.stopped) throw err // else: the store closed after stop()
    }
  }

  /**
   * Another tab queued a write of this person: shown here as pending too, and sent from here
   * only if it is still waiting after 1-2 x ADOPT_DELAY_MS (its tab closed or went offline). A delete
   * there is a stamp (its event reaches this tab through the shared store) or a discard.
   */
  private async fromSharedOutbox(change: OutboxChange): Promise<void> {
    if (this.stopped) return
    if ('deleted' in change) {
      const w = this.writesByKey.get(change.deleted)
      if (w?.state === 'failed') this.writesByKey.delete(change.deleted)
      return
    }
    const { request } = change.put
    const { author, clientNonce, channel } = request
    const key = outboxKey(author, clientNonce)
    // Another page of the origin may post anything: only this person's signed requests, within the
    // outbox's bound, are taken (a signature is checked once per write another tab queued).
    if (this.writesByKey.has(key) || this.writesByKey.size >= MAX_OUTBOX) return
    if (!(await verifyAuthor(request))) return
    // The store's broadcast may overtake the outbox's: a write whose event is held is no write.
    if (await this.open(channel).held(author, clientNonce)) return
    if (this.stopped || this.writesByKey.has(key)) return
    const delay = ADOPT_DELAY_MS * (1 + (this.opts.random ?? Math.random)())
    this.notBefore.set(key, this.clock.now() + delay)
    const w = this.track(change.put)
    const cancel = this.clock.setTimeout(() => {
      this.adoptTimers.delete(cancel)
      this.hand(w)
    }, delay)
    this.adoptTimers.add(cancel)
  }

  private changed(w: Write): void {
    const channel = w.request.channel
    this.emit({ channel, added: [], replaced: [], source: LOCAL, writes: [w] })
  }

  private track(entry: OutboxEntry): Write {
    const key = outboxKey(entry.request.author, entry.request.clientNonce)
    const known = this.writesByKey.get(key)
    if (known) return known
    const w: Write = {
      key,
      request: entry.request,
      queuedAt: entry.queuedAt,
      state: entry.failed ? 'failed' : 'pending',
      ...(entry.failed ? { error: entry.failed } : {}),
    }
    this.writesByKey.set(key, w)
    this.open(w.request.channel)
    this.changed(w)
    this.hand(w)
    return w
  }

  /** Hands every pending write to every connected relay that does not hold it yet. */
  private handAll(): void {
    for (const w of this.writesByKey.values()) this.hand(w)
  }

  private hand(w: Write): void {
    const after = this.notBefore.get(w.key)
    if (after !== undefined) {
      if (this.clock.now() < after) return
      this.notBefore.delete(w.key)
    }
    for (const live of this.lives) {
      if (w.state !== 'pending' || live.handed.has(w)) continue
      live.handed.add(w)
      live.port.publishSigned(w.request).then(
        (event) => void this.clock.track(this.onStamped(w, event)),
        (e: Error & { code?: string }) => void this.clock.track(this.onRefused(w, e)),
      )
    }
  }

  private async onStamped(w: Write, event: StampedEvent): Promise<void> {
    if (w.state === 'stamped' || this.stopped) return
    let result: AddResult
    try {
      result = await this.peer.open(event.channel).add([event], { source: RELAY })
    } catch (err) {
      if (this.stopped) return // the store closed after stop(): the outbox keeps the write
      throw err
    }
    // The log verifies the stamp: an acknowledgement it refuses (forged, or not this write's)
    // stamps nothing; the write stays pending and is handed again on the next connection.
    if (result.rejected.length > 0 || outboxKey(event.author, event.clientNonce) !== w.key) {
      for (const live of this.lives) live.handed.delete(w)
      return
    }
    await this.settle(w, event)
  }

  /** The write's event is held: it is stamped (idempotent). */
  private async settle(w: Write, event: StampedEvent): Promise<void> {
    if (w.state === 'stamped' || this.stopped) return
    w.state = 'stamped'
    delete w.error
    this.notBefore.delete(w.key)
    w.event = event
    this.writesByKey.delete(w.key)
    await this.outbox.delete(w.key).catch(() => {}) // a closed outbox: stamped anyway, deduped by nonce
    this.changed(w)
    for (const waiter of this.waiters.get(w.key) ?? []) waiter.resolve(event)
    this.waiters.delete(w.key)
  }

  private async onRefused(w: Write, e: Error & { code?: string }): Promise<void> {
    if (w.state !== 'pending' || this.stopped) return
    // A relay connection that stopped is not a refusal: the write waits for the next one.
    if (e.code === undefined) {
      for (const live of this.lives) live.handed.delete(w)
      return
    }
    w.state = 'failed'
    w.error = { code: e.code, message: e.message }
    await this.outbox
      .put(w.key, { request: w.request, queuedAt: w.queuedAt, failed: w.error })
      .catch(() => {})
    this.changed(w)
    const err = Object.assign(new Error(`relay refused the write: ${e.code}: ${e.message}`), { code: e.code })
    for (const waiter of this.waiters.get(w.key) ?? []) waiter.reject(err)
    this.waiters.delete(w.key)
  }

  private async onLiveEvent(e: StampedEvent): Promise<void> {
    const log = this.peer.log(e.channel)
    if (!log || this.stopped) return
    try {
      const r = await log.add([e], { source: RELAY })
      this.stats.fromRelay += r.added.length
    } catch (err) {
      if (!this.stopped) throw err // else: the app closed the store after stop(); nothing to keep
    }
  }
}
