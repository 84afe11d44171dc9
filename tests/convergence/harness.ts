/**
 * Runs one printable scenario: replicas (ChannelLog + a sync driver) on a MemoryNetwork with
 * a virtual clock, a schedule of appends and faults, then heal and sync. Shared by the
 * convergence properties and bench/convergence.ts.
 */
import {
  type AddResult,
  ChannelLog,
  eventDigest,
  type Fingerprint,
  MemoryStore,
  type StampedEvent,
  toHex,
} from '@peerchat/engine'
import {
  encodeSyncFrame,
  MemoryNetwork,
  type MemoryTransport,
  type Scheduler,
  SyncDriver,
  type SyncStats,
  SyncType,
  VirtualClock,
} from '@peerchat/transports/memory'
import { CHANNEL, type Pool } from './fixtures.ts'

/** One step of a schedule. Replica numbers are taken modulo the replica count, so shrinking stays valid. */
export type Step =
  | { op: 'append'; replica: number; count: number }
  | { op: 'wait'; ms: number }
  | { op: 'partition'; groups: number[] }
  | { op: 'heal' }
  | { op: 'crash'; replica: number }
  | { op: 'restart'; replica: number }
  | { op: 'faults'; loss: number; duplicate: number; reorder: number }
  | { op: 'sync'; replica: number }
  /** The hostile replica (if any) pushes invalid events and garbage frames to everyone. */
  | { op: 'attack'; variant: number }

export interface Scenario {
  replicas: number
  /** Seed of the network's PRNG (latency, loss, duplication, reordering draws). */
  seed: number
  latency: { min: number; max: number }
  steps: Step[]
}

/** What the simulation needs from a driver: `SyncDriver`, or the bench's full-state baseline. */
export interface SimDriver {
  start(): void
  stop(): void
  publish(events: StampedEvent[]): Promise<AddResult>
  /** `pairwise`: only with peers of greater id (one session per pair when everyone does it). */
  syncAll(opts?: { pairwise?: boolean }): number
  readonly stats: SyncStats
}

export interface DriverContext {
  transport: MemoryTransport
  log: ChannelLog
  scheduler: Scheduler
  replyTimeoutMs: number
}

export interface Replica {
  index: number
  log: ChannelLog
  driver: SimDriver
  transport: MemoryTransport
  hostile: boolean
  /** Every id this replica's log ever stored (to show invalid events never entered, even briefly). */
  everAdded: Set<string>
}

export interface Sim {
  replicas: Replica[]
  network: MemoryNetwork
  clock: VirtualClock
  published: StampedEvent[]
  /** Next pool event to publish. */
  cursor: number
}

export interface RunOptions {
  /** Replica 0 is hostile: its store holds the pool's hostile events, it pushes them and garbage. */
  hostile?: boolean
  /** Events per unit of an append step's count (the bench uses large batches). */
  appendScale?: number
  /** Defaults to `SyncDriver`. */
  driver?: (ctx: DriverContext) => SimDriver
}

const syncDriver = (ctx: DriverContext): SimDriver => new SyncDriver(ctx)

/** Garbage a hostile replica sends besides invalid events: frame shapes a decoder must survive. */
function garbageFrames(variant: number): Uint8Array[] {
  return [
    Uint8Array.of(1, 99, 0),
    Uint8Array.of(7, 1),
    Uint8Array.of(1, SyncType.push, 200, 1, 5, 1, 2, 3),
    encodeSyncFrame({
      type: SyncType.request,
      session: 1_000 + variant,
      seq: 0,
      payload: Uint8Array.of(1, 0, 0),
    }),
    encodeSyncFrame({ type: SyncType.reply, session: 1, seq: 0, payload: Uint8Array.of(variant & 0xff) }),
    new Uint8Array(0),
  ]
}

export async function createSim(scenario: Scenario, pool: Pool, opts: RunOptions = {}): Promise<Sim> {
  const clock = new VirtualClock()
  const network = new MemoryNetwork({ seed: scenario.seed, clock, link: { latency: scenario.latency } })
  const replicas: Replica[] = []
  for (let i = 0; i < scenario.replicas; i++) {
    const hostile = opts.hostile === true && i === 0
    const store = new MemoryStore()
    if (hostile)
      await store.putMany(
        CHANNEL,
        pool.hostile
          .filter((h) => h.event.channel === CHANNEL)
          .map((h) => ({ event: h.event, digest: eventDigest(h.event) })),
      )
    const log = new ChannelLog({ channel: CHANNEL, store, relayKeys: [pool.relayKey], backend: pool.backend })
    const transport = network.transport(`r${i}`)
    const replyTimeoutMs = 2 * scenario.latency.max + 20
    const driver = (opts.driver ?? syncDriver)({ transport, log, scheduler: clock, replyTimeoutMs })
    const everAdded = new Set<string>()
    log.onAdded((events) => {
      for (const e of events) everAdded.add(e.id)
    })
    replicas.push({ index: i, log, driver, transport, hostile, everAdded })
  }
  for (const r of replicas) r.driver.start()
  for (const r of replicas) await r.transport.start()
  return { replicas, network, clock, published: [], cursor: 0 }
}

/** Publishes the next `count` pool events at replica `index` (the hostile replica's go to replica 1). */
export async function publish(sim: Sim, pool: Pool, index: number, count: number): Promise<void> {
  const take = pool.events.slice(sim.cursor, sim.cursor + count)
  sim.cursor += take.length
  sim.published.push(...take)
  // The hostile replica's store already holds forged twins of honest ids, so what it
  // published would never spread (and that is not what the hostile scenarios test).
  const n = sim.replicas.length
  const target = sim.replicas[index % n]!.hostile ? sim.replicas[1]! : sim.replicas[index % n]!
  if (take.length > 0) await target.driver.publish(take)
}

export async function runSteps(sim: Sim, pool: Pool, steps: Step[], opts: RunOptions = {}): Promise<void> {
  const { network, clock, replicas } = sim
  const n = replicas.length
  const peerId = (i: number) => replicas[i % n]!.transport.self
  for (const step of steps) {
    switch (step.op) {
      case 'append':
        await publish(sim, pool, step.replica, step.count * (opts.appendScale ?? 1))
        break
      case 'wait':
        await clock.advance(step.ms)
        break
      case 'partition': {
        const groups = new Map<number, ReturnType<typeof peerId>[]>()
        for (let i = 0; i < n; i++) {
          const g = step.groups[i] ?? 0
          groups.set(g, [...(groups.get(g) ?? []), peerId(i)])
        }
        network.partition([...groups.values()])
        break
      }
      case 'heal':
        network.heal()
        break
      case 'crash':
        network.crash(peerId(step.replica))
        break
      case 'restart':
        network.restart(peerId(step.replica))
        break
      case 'faults':
        network.configure({ loss: step.loss, duplicate: step.duplicate, reorder: step.reorder })
        break
      case 'sync':
        replicas[step.replica % n]!.driver.syncAll()
        break
      case 'attack': {
        const h = replicas.find((r) => r.hostile)
        if (!h) break
        h.transport.broadcast(
          encodeSyncFrame({ type: SyncType.push, events: pool.hostile.map((x) => x.event) }),
        )
        for (const frame of garbageFrames(step.variant)) h.transport.broadcast(frame)
        break
      }
    }
  }
}

/** Ends every fault but duplication and reordering (no partition, every peer back, at most `loss`). */
export async function heal(sim: Sim, loss = 0): Promise<void> {
  sim.network.heal()
  for (const r of sim.replicas) sim.network.restart(r.transport.self)
  sim.network.configure({ loss })
  await sim.clock.run()
}

/** One sync round: one session per pair of connected replicas; runs until all are closed. */
export async function syncRound(sim: Sim): Promise<void> {
  for (const r of sim.replicas) r.driver.syncAll({ pairwise: true })
  await sim.clock.run()
}

/** The properties' run: schedule, heal, one round of sync. */
export async function runScenario(scenario: Scenario, pool: Pool, opts: RunOptions = {}): Promise<Sim> {
  const sim = await createSim(scenario, pool, opts)
  await runSteps(sim, pool, scenario.steps, opts)
  await heal(sim)
  await syncRound(sim)
  return sim
}

export interface Snapshot {
  fingerprint: Fingerprint
  /** `id:digest` of every event, in id order. */
  contents: string[]
}

export const contentKey = (e: StampedEvent): string => `${e.id}:${toHex(eventDigest(e))}`

export async function snapshot(log: ChannelLog): Promise<Snapshot> {
  const events = await log.range({})
  return { fingerprint: await log.fingerprint({}), contents: events.map(contentKey) }
}

/** True when every honest replica has the same full-range fingerprint. */
export async function converged(sim: Sim): Promise<boolean> {
  const prints = await Promise.all(sim.replicas.filter((r) => !r.hostile).map((r) => r.log.fingerprint({})))
  const hex = prints.map((p) => `${p.count}:${toHex(p.hash)}`)
  return hex.every((h) => h === hex[0])
}

/** The state every honest replica must reach: the published events added to a fresh log. */
export async function expectedState(pool: Pool, published: StampedEvent[]): Promise<Snapshot> {
  const log = new ChannelLog({
    channel: CHANNEL,
    store: new MemoryStore(),
    relayKeys: [pool.relayKey],
    backend: pool.backend,
  })
  await log.add(published)
  return snapshot(log)
}
