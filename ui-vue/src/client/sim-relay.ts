/**
 * The simulated relay: checks the author's signature, assigns a monotonic ULID and signs the
 * stamp with the engine's real `stamp()`, then fans the event out after a simulated delay.
 * Like the real relay it keeps no history; clients and peers do.
 */
import {
  Identity,
  monotonicUlid,
  RejectedError,
  type SignedRequest,
  type StampedEvent,
  stamp,
  type Ulid,
  verifyAuthor,
} from '@peerchat/engine'

export interface SimRelayOptions {
  /** One-way delay of every delivery, in ms (default 20). */
  latencyMs?: number
  now?: () => number
}

type Subscriber = (event: StampedEvent) => void

export class SimRelay {
  private readonly subscribers = new Set<Subscriber>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly nextId: () => Ulid
  private readonly latencyMs: number
  private stopped = false

  private constructor(
    readonly signer: Identity,
    options: SimRelayOptions,
  ) {
    this.latencyMs = options.latencyMs ?? 20
    this.nextId = monotonicUlid(options.now)
  }

  static async create(options: SimRelayOptions = {}): Promise<SimRelay> {
    return new SimRelay(await Identity.generate(), options)
  }

  get publicKey(): Uint8Array {
    return this.signer.publicKey
  }

  /** Stamps a signed request and fans it out to every subscriber (the author included). */
  async submit(req: SignedRequest): Promise<StampedEvent> {
    await this.delay()
    if (this.stopped) throw new RejectedError('relay-stopped', 'the simulated relay is stopped')
    if (!(await verifyAuthor(req)))
      throw new RejectedError('bad-signature', 'author signature does not verify')
    const event = await stamp(this.signer, this.nextId(), req)
    this.later(() => {
      for (const fn of [...this.subscribers]) fn(event)
    })
    await this.delay()
    return event
  }

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn)
    return () => this.subscribers.delete(fn)
  }

  stop(): void {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.subscribers.clear()
  }

  private delay(): Promise<void> {
    return new Promise((resolve) => this.later(resolve))
  }

  private later(fn: () => void): void {
    if (this.stopped) return
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, this.latencyMs)
    this.timers.add(t)
  }
}
