/**
 * An in-process network with a seeded fault schedule: per-link latency, loss, duplication
 * and reordering, partitions and heals, peer crash and restart. With a `VirtualClock` a run
 * replays exactly from `seed`; with `realClock` it drives the UI's dev:sim mode.
 */

import { randomSeed, realClock, type Scheduler, SeededRandom } from '@peerchat/engine'
import { asPeerId, type PeerId } from '../transport.ts'
import { type Endpoint, type MemoryPort, MemoryTransport, type MemoryTransportOptions } from './transport.ts'

/** How one direction of a link treats frames. Reordering needs latency spread (min < max). */
export interface LinkProfile {
  /** One-way delay in ms, uniform in [min, max]. */
  latency: { min: number; max: number }
  /** Probability a frame is dropped. */
  loss: number
  /** Probability a frame arrives twice (each copy with its own delay). */
  duplicate: number
  /** Probability a frame skips the link's FIFO order (so it may overtake or be overtaken). */
  reorder: number
}

/** Default link: FIFO, lossless, 1-10 ms. */
export const DEFAULT_LINK: Readonly<LinkProfile> = Object.freeze({
  latency: Object.freeze({ min: 1, max: 10 }),
  loss: 0,
  duplicate: 0,
  reorder: 0,
})

/**
 * Frames in flight across the whole network before new ones are dropped as congestion
 * (counted in `stats.congested`): bounds the memory a runaway simulation can take.
 */
export const DEFAULT_MAX_IN_FLIGHT = 65_536

export interface MemoryNetworkOptions {
  /** PRNG seed; a random one is chosen (and exposed as `seed`) when absent. */
  seed?: number
  /** Defaults to the real clock; pass a `VirtualClock` for deterministic runs. */
  clock?: Scheduler
  link?: Partial<LinkProfile>
  maxInFlight?: number
}

export interface NetworkStats {
  sent: number
  delivered: number
  bytesDelivered: number
  lost: number
  duplicated: number
  /** Frames cancelled in flight by a partition, crash or stop. */
  dropped: number
  congested: number
}

interface Flight {
  readonly from: PeerId
  readonly to: PeerId
  cancel: () => void
}

const linkKey = (from: PeerId, to: PeerId) => `${from}\u0000${to}`

function checkProfile(p: LinkProfile): LinkProfile {
  const prob = (x: number, what: string) => {
    if (!(x >= 0 && x <= 1)) throw new RangeError(`${what} must be a probability in [0, 1], got ${x}`)
  }
  prob(p.loss, 'loss')
  prob(p.duplicate, 'duplicate')
  prob(p.reorder, 'reorder')
  if (!(p.latency.min >= 0 && p.latency.max >= p.latency.min))
    throw new RangeError(`latency must satisfy 0 <= min <= max, got ${JSON.stringify(p.latency)}`)
  return p
}

export class MemoryNetwork implements MemoryPort {
  readonly seed: number
  readonly clock: Scheduler
  readonly maxInFlight: number
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    bytesDelivered: 0,
    lost: 0,
    duplicated: 0,
    dropped: 0,
    congested: 0,
  }
  private readonly random: SeededRandom
  private defaults: LinkProfile
  private readonly links = new Map<string, LinkProfile>()
  private readonly lastArrival = new Map<string, number>()
  private readonly endpoints = new Map<PeerId, Endpoint>()
  private readonly crashed = new Set<PeerId>()
  private readonly groupOf = new Map<PeerId, number>()
  private readonly adjacency = new Map<PeerId, Set<PeerId>>()
  private readonly flights = new Map<PeerId, Set<Flight>>()
  private inFlightCount = 0

  constructor(opts: MemoryNetworkOptions = {}) {
    this.seed = opts.seed ?? randomSeed()
    this.random = new SeededRandom(this.seed)
    this.clock = opts.clock ?? realClock
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    this.defaults = checkProfile({ ...DEFAULT_LINK, ...opts.link })
  }

  /** A transport on this network (not started). */
  transport(id: string, opts?: MemoryTransportOptions): MemoryTransport {
    return new MemoryTransport(this, asPeerId(id), opts)
  }

  /** Changes the default profile of every link without its own. */
  configure(profile: Partial<LinkProfile>): void {
    this.defaults = checkProfile({ ...this.defaults, ...profile })
  }

  /** Sets the profile of the link from `a` to `b` and, unless `oneWay`, from `b` to `a`. */
  setLink(a: PeerId, b: PeerId, profile: Partial<LinkProfile>, oneWay = false): void {
    const directions: [PeerId, PeerId][] = oneWay
      ? [[a, b]]
      : [
          [a, b],
          [b, a],
        ]
    for (const [from, to] of directions) {
      const key = linkKey(from, to)
      this.links.set(key, checkProfile({ ...(this.links.get(key) ?? this.defaults), ...profile }))
    }
  }

  /** Forgets per-link profiles: every link uses the defaults again. */
  resetLinks(): void {
    this.links.clear()
  }

  /**
   * Splits the network: peers in different groups cannot reach each other (both sides see
   * `peer-left`, frames in flight between them are lost). Peers in no group form one more group.
   */
  partition(groups: readonly (readonly PeerId[])[]): void {
    this.groupOf.clear()
    groups.forEach((group, i) => {
      for (const peer of group) {
        if (this.groupOf.has(peer)) throw new RangeError(`peer ${peer} is in two partition groups`)
        this.groupOf.set(peer, i)
      }
    })
    this.updateLinks()
  }

  /** Ends every partition: separated peers see each other join again. */
  heal(): void {
    this.groupOf.clear()
    this.updateLinks()
  }

  /** The peer drops off abruptly: everyone (itself included) sees the others leave; its frames in flight are lost. */
  crash(peer: PeerId): void {
    this.crashed.add(peer)
    this.updateLinks()
  }

  /** A crashed peer comes back and reconnects to whoever it can reach. */
  restart(peer: PeerId): void {
    this.crashed.delete(peer)
    this.updateLinks()
  }

  isCrashed(peer: PeerId): boolean {
    return this.crashed.has(peer)
  }

  /** Frames scheduled but not yet delivered. */
  get inFlight(): number {
    return this.inFlightCount
  }

  /** Transports currently started on this network. */
  get attached(): number {
    return this.endpoints.size
  }

  /** @internal Called by `MemoryTransport.start`. */
  attach(endpoint: Endpoint): void {
    if (this.endpoints.has(endpoint.id)) throw new Error(`peer id ${endpoint.id} is already on this network`)
    this.endpoints.set(endpoint.id, endpoint)
    this.adjacency.set(endpoint.id, new Set())
    this.updateLinks()
  }

  /** @internal Called by `MemoryTransport.stop`. */
  detach(id: PeerId): void {
    if (!this.endpoints.has(id)) return
    for (const peer of [...(this.adjacency.get(id) ?? [])].sort()) this.disconnect(id, peer)
    this.endpoints.delete(id)
    this.adjacency.delete(id)
    this.flights.delete(id)
  }

  /** @internal Called by `MemoryTransport.send`: false when `to` is not reachable from `from`. */
  transmit(from: PeerId, to: PeerId, bytes: Uint8Array): boolean {
    if (!this.adjacency.get(from)?.has(to)) return false
    this.stats.sent++
    const profile = this.links.get(linkKey(from, to)) ?? this.defaults
    if (this.random.chance(profile.loss)) {
      this.stats.lost++
      return true
    }
    const copies = this.random.chance(profile.duplicate) ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    for (let i = 0; i < copies; i++) this.schedule(from, to, i === 0 ? bytes : bytes.slice(), profile)
    return true
  }

  private schedule(from: PeerId, to: PeerId, bytes: Uint8Array, profile: LinkProfile): void {
    if (this.inFlightCount >= this.maxInFlight) {
      this.stats.congested++
      return
    }
    const { min, max } = profile.latency
    const now = this.clock.now()
    let at = now + min + this.random.next() * (max - min)
    const key = linkKey(from, to)
    if (!this.random.chance(profile.reorder)) {
      at = Math.max(at, this.lastArrival.get(key) ?? 0)
      this.lastArrival.set(key, at)
    }
    const flight: Flight = { from, to, cancel: () => {} }
    const cancelTimer = this.clock.setTimeout(() => {
      this.forget(flight)
      this.stats.delivered++
      this.stats.bytesDelivered += bytes.length
      this.endpoints.get(to)?.receive(from, bytes)
    }, at - now)
    flight.cancel = () => {
      cancelTimer()
      this.forget(flight)
      this.stats.dropped++
    }
    this.flightsOf(from).add(flight)
    this.flightsOf(to).add(flight)
    this.inFlightCount++
  }

  private flightsOf(peer: PeerId): Set<Flight> {
    let set = this.flights.get(peer)
    if (!set) {
      set = new Set()
      this.flights.set(peer, set)
    }
    return set
  }

  private forget(flight: Flight): void {
    this.flights.get(flight.from)?.delete(flight)
    this.flights.get(flight.to)?.delete(flight)
    this.inFlightCount--
  }

  private reachable(a: PeerId, b: PeerId): boolean {
    return (
      a !== b &&
      this.endpoints.has(a) &&
      this.endpoints.has(b) &&
      !this.crashed.has(a) &&
      !this.crashed.has(b) &&
      (this.groupOf.get(a) ?? -1) === (this.groupOf.get(b) ?? -1)
    )
  }

  /** Brings the adjacency in line with partitions and crashes, in a deterministic order. */
  private updateLinks(): void {
    const ids = [...this.endpoints.keys()].sort()
    for (const a of ids)
      for (const b of ids) {
        if (a >= b) continue
        const want = this.reachable(a, b)
        const have = this.adjacency.get(a)!.has(b)
        if (have && !want) this.disconnect(a, b)
        else if (!have && want) this.connect(a, b)
      }
  }

  private connect(a: PeerId, b: PeerId): void {
    const ea = this.endpoints.get(a)!
    const eb = this.endpoints.get(b)!
    this.adjacency.get(a)!.add(b)
    this.adjacency.get(b)!.add(a)
    ea.joined(b, { ...eb.info })
    eb.joined(a, { ...ea.info })
  }

  private disconnect(a: PeerId, b: PeerId): void {
    this.adjacency.get(a)?.delete(b)
    this.adjacency.get(b)?.delete(a)
    for (const f of [...(this.flights.get(a) ?? [])]) if (f.from === b || f.to === b) f.cancel()
    this.lastArrival.delete(linkKey(a, b))
    this.lastArrival.delete(linkKey(b, a))
    this.endpoints.get(a)?.left(b)
    this.endpoints.get(b)?.left(a)
  }
}
