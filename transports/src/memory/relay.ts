/**
 * An in-process relay for simulations: it stamps signed requests with the engine's real
 * `stamp()` (a monotonic ULID on the injected clock) and fans them out to the clients that
 * joined the channel, after a delay. Like the real relay it keeps no history; it remembers the
 * stamps of its lifetime by (author, clientNonce), so a retried request gets the same stamp —
 * until it restarts (`restart()`), after which a retry is stamped anew (receivers keep the
 * smaller id). Its clients are `LivePort`s: the Replica's relay port.
 */
import {
  type Ed25519Backend,
  type LivePort,
  monotonicUlid,
  outboxKey,
  realClock,
  type Scheduler,
  type SignedRequest,
  type Signer,
  type StampedEvent,
  stamp,
  type Ulid,
  verifyAuthor,
} from '@peerchat/engine'

export interface MemoryRelayOptions {
  signer: Signer
  /** Defaults to the real clock; pass a `VirtualClock` for deterministic runs. */
  clock?: Scheduler
  /** One-way delay of every frame, in ms (default 5). */
  latencyMs?: number
  /**
   * Uniform in [0, 1): the random part of the ULIDs it stamps (default crypto). A seeded one
   * makes a simulation replay exactly, ids included.
   */
  random?: () => number
  /** The relay's posting rules: a refusal (`code`, `message`) for a request, or undefined to stamp it. */
  refuse?: (request: SignedRequest) => { code: string; message: string } | undefined
  /** Checks author signatures (default the engine's default backend). */
  backend?: Ed25519Backend
}

type Listener<T> = (value: T) => void

/** Most stamps remembered for idempotency (oldest forgotten first). */
export const MEMORY_RELAY_MAX_STAMPS = 100_000

export class MemoryRelay {
  private readonly clients = new Set<MemoryLivePort>()
  private readonly stamps = new Map<string, StampedEvent>()
  private nextId: () => Ulid
  private up = true
  /** Requests received (resends included), events stamped, requests refused. */
  readonly stats = { submitted: 0, stamped: 0, refused: 0 }

  private readonly clock: Scheduler

  constructor(private readonly o: MemoryRelayOptions) {
    this.clock = o.clock ?? realClock
    this.nextId = this.ids()
  }

  get publicKey(): Uint8Array {
    return this.o.signer.publicKey
  }

  get online(): boolean {
    return this.up
  }

  /** A client's connection (online while the relay is up). */
  client(): MemoryLivePort {
    const c = new MemoryLivePort(this)
    this.clients.add(c)
    c.setState(this.up ? 'online' : 'offline')
    return c
  }

  /** The relay goes away: every client is offline; its soft state (stamps, joins) is lost. */
  crash(): void {
    this.up = false
    this.stamps.clear()
    for (const c of this.clients) c.setState('offline')
  }

  /** It comes back: clients log in again and resend what waits for a stamp. */
  restart(): void {
    this.up = true
    this.nextId = this.ids()
    for (const c of this.clients) c.setState('online')
  }

  /** @internal */
  forget(c: MemoryLivePort): void {
    this.clients.delete(c)
  }

  /** @internal A request from a client, after the link's delay. */
  submit(from: MemoryLivePort, request: SignedRequest): void {
    this.later(async () => {
      if (!this.up || !from.connected) return
      this.stats.submitted++
      const key = outboxKey(request.author, request.clientNonce)
      let event = this.stamps.get(key)
      if (!event) {
        const refusal = (await verifyAuthor(request, this.o.backend))
          ? this.o.refuse?.(request)
          : { code: 'bad_signature', message: 'the author signature does not verify' }
        if (refusal) {
          this.stats.refused++
          from.refuse(key, refusal.code, refusal.message)
          return
        }
        event = await stamp(this.o.signer, this.nextId(), request)
        this.stats.stamped++
        this.stamps.set(key, event)
        if (this.stamps.size > MEMORY_RELAY_MAX_STAMPS) this.stamps.delete(this.stamps.keys().next().value!)
      }
      const stamped = event
      for (const c of this.clients)
        if (c.connected && c.joined.has(stamped.channel)) this.later(() => c.deliver(stamped))
      // The author hears its ack even if it has not joined the channel.
      if (!from.joined.has(stamped.channel)) this.later(() => from.deliver(stamped))
    })
  }

  private ids(): () => Ulid {
    const random = this.o.random
    const bytes = random
      ? (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256))
      : undefined
    return monotonicUlid(() => this.clock.now(), bytes)
  }

  private later(fn: () => void | Promise<void>): void {
    this.clock.setTimeout(() => void this.clock.track(Promise.resolve().then(fn)), this.o.latencyMs ?? 5)
  }
}

/** One client's link to a `MemoryRelay`. */
export class MemoryLivePort implements LivePort {
  private _state = 'offline'
  readonly joined = new Set<string>()
  private readonly pending = new Map<string, { request: SignedRequest; waiters: Listener<unknown>[][] }>()
  private readonly eventListeners = new Set<Listener<StampedEvent>>()
  private readonly stateListeners = new Set<Listener<string>>()
  private closed = false
  /** False while this client's link to the relay is cut (`setLink`). */
  private linked = true

  constructor(private readonly relay: MemoryRelay) {}

  get state(): string {
    return this._state
  }

  get connected(): boolean {
    return this._state === 'online'
  }

  publishSigned(request: SignedRequest): Promise<StampedEvent> {
    const key = outboxKey(request.author, request.clientNonce)
    return new Promise((resolve, reject) => {
      const entry = this.pending.get(key) ?? { request, waiters: [] }
      entry.waiters.push([resolve as Listener<unknown>, reject as Listener<unknown>])
      this.pending.set(key, entry)
      if (this.connected) this.relay.submit(this, request)
    })
  }

  join(channel: string): void {
    this.joined.add(channel)
  }

  on(event: 'event', listener: (e: StampedEvent) => void): () => void
  on(event: 'state', listener: (s: string) => void): () => void
  on(event: 'event' | 'state', listener: Listener<never>): () => void {
    const set = (event === 'event' ? this.eventListeners : this.stateListeners) as Set<Listener<never>>
    set.add(listener)
    return () => set.delete(listener)
  }

  /**
   * Cuts (`false`) or restores this client's link, as a network partition between it and the
   * relay would: it goes offline while the relay stays up for the others; a restart of the
   * relay does not bring it back until the link is restored.
   */
  setLink(up: boolean): void {
    this.linked = up
    this.setState(up && this.relay.online ? 'online' : 'offline')
  }

  /** Leaves the relay for good. */
  close(): void {
    this.closed = true
    this.setState('stopped')
    this.relay.forget(this)
  }

  /** @internal */
  setState(next: string): void {
    if (this.closed && next !== 'stopped') return
    const s = next === 'online' && !this.linked ? 'offline' : next
    if (s === this._state) return
    this._state = s
    for (const l of [...this.stateListeners]) l(s)
    // After a login, everything still waiting for a stamp is sent again (same nonce).
    if (s === 'online') for (const { request } of this.pending.values()) this.relay.submit(this, request)
  }

  /** @internal */
  deliver(event: StampedEvent): void {
    if (!this.connected) return
    const key = outboxKey(event.author, event.clientNonce)
    const mine = this.pending.get(key)
    if (mine) {
      this.pending.delete(key)
      for (const [resolve] of mine.waiters) resolve!(event)
    }
    for (const l of [...this.eventListeners]) l(event)
  }

  /** @internal */
  refuse(key: string, code: string, message: string): void {
    const mine = this.pending.get(key)
    if (!mine) return
    this.pending.delete(key)
    for (const [, reject] of mine.waiters)
      reject!(Object.assign(new Error(`relay refused: ${message}`), { code }))
  }
}
