/**
 * Convergence at scale: the issue-2 convergence property run on 8 replicas and 10,000
 * events under hostile schedules (fast-check generated: partitions, crashes, loss,
 * duplication, reordering, a hostile replica pushing forgeries and garbage), once with
 * range reconciliation (SyncDriver) and once with the baseline of naive full-state
 * exchange (every sync sends the whole log), on the same scenarios in the same run.
 *
 *   pnpm bench:convergence                      (3 scenarios, 10,000 events, seed 42)
 *   SCENARIOS=5 EVENTS=20000 SEED=7 pnpm bench:convergence
 *
 * Both push new events live (lossy). After the schedule the network heals but keeps 5%
 * loss (and its duplication and reordering); rounds of sync (every replica with every
 * peer; neither approach syncs on join) repeat until every honest replica holds the same
 * fingerprint, and the result is checked against the published set. Signature verdicts are memoised per run (each
 * distinct event is verified once), so the figures measure sync, not Ed25519
 * (see bench:ed25519 for that).
 */
import { performance } from 'node:perf_hooks'
import type { AddResult, ChannelLog, StampedEvent } from '@peerchat/engine'
import type { PeerId } from '@peerchat/transports'
import {
  decodeSyncFrame,
  encodePushFrames,
  type MemoryTransport,
  SyncDriver,
  type SyncStats,
  SyncType,
} from '@peerchat/transports/memory'
import fc from 'fast-check'
import { scenarioArb } from '../tests/convergence/arbitraries.ts'
import { makePool } from '../tests/convergence/fixtures.ts'
import {
  converged,
  createSim,
  type DriverContext,
  expectedState,
  heal,
  runSteps,
  type Scenario,
  type SimDriver,
  snapshot,
  syncRound,
} from '../tests/convergence/harness.ts'

const EVENTS = Number(process.env.EVENTS ?? 10_000)
const SCENARIOS = Number(process.env.SCENARIOS ?? 3)
const SEED = Number(process.env.SEED ?? 42)
const REPLICAS = 8
const HEALED_LOSS = 0.05
const MAX_ROUNDS = 30

const zeroStats = (): SyncStats => ({
  sessionsStarted: 0,
  sessionsCompleted: 0,
  sessionsFailed: 0,
  sessionsServed: 0,
  retransmits: 0,
  framesSent: 0,
  bytesSent: 0,
  pushesSent: 0,
  addedBySync: 0,
  addedByPush: 0,
  rejected: 0,
  badFrames: 0,
  staleFrames: 0,
})

/** The baseline: on every sync, send the whole log to each peer; add whatever arrives. Pushes like SyncDriver. */
class FullStateDriver implements SimDriver {
  readonly stats = zeroStats()
  private readonly transport: MemoryTransport
  private readonly log: ChannelLog
  private offs: (() => void)[] = []
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly ctx: DriverContext) {
    this.transport = ctx.transport
    this.log = ctx.log
  }

  start(): void {
    this.offs = [
      this.transport.on('frame', ({ bytes }) => {
        let frame: ReturnType<typeof decodeSyncFrame>
        try {
          frame = decodeSyncFrame(bytes)
        } catch {
          this.stats.badFrames++
          return
        }
        if (frame.type !== SyncType.push) return
        const events = frame.events
        const work = this.queue.then(async () => {
          const r = await this.log.add(events)
          this.stats.addedBySync += r.added.length
          this.stats.rejected += r.rejected.length
        })
        this.queue = work
        this.ctx.scheduler.track(work)
      }),
    ]
  }

  stop(): void {
    for (const off of this.offs) off()
  }

  async publish(events: StampedEvent[]): Promise<AddResult> {
    const result = await this.log.add(events)
    this.broadcast(result.added)
    return result
  }

  syncAll(): number {
    const peers = [...this.transport.peers().keys()]
    this.sendAll(peers)
    return peers.length
  }

  private sendAll(peers: PeerId[]): void {
    const work = this.log.range({}).then((events) => {
      if (events.length === 0) return
      const frames = encodePushFrames(events, this.transport.limits.maxFrameBytes)
      for (const peer of peers)
        for (const f of frames)
          if (this.transport.send(peer, f)) {
            this.stats.framesSent++
            this.stats.bytesSent += f.length
          }
    })
    this.ctx.scheduler.track(work)
  }

  private broadcast(events: StampedEvent[]): void {
    for (const f of encodePushFrames(events, this.transport.limits.maxFrameBytes)) {
      const n = this.transport.broadcast(f)
      this.stats.framesSent += n
      this.stats.bytesSent += n * f.length
    }
  }
}

interface Result {
  /** Wall time and CPU time (user + system) of this process: the machine is shared, CPU time is steadier. */
  ms: number
  cpuMs: number
  merged: number
  bytes: number
  /** Sent by the sync rounds after the heal (the repair). */
  repairBytes: number
  rounds: number
}

/** Scales the schedule's appends so that it publishes the whole pool. */
function appendScale(s: Scenario): number {
  const units = s.steps.reduce((n, step) => n + (step.op === 'append' ? step.count : 0), 0)
  return units === 0 ? EVENTS : Math.ceil(EVENTS / units)
}

async function runOne(
  scenario: Scenario,
  pool: Awaited<ReturnType<typeof makePool>>,
  driver: (ctx: DriverContext) => SimDriver,
): Promise<Result> {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  const opts = { hostile: true, appendScale: appendScale(scenario), driver }
  const sim = await createSim(scenario, pool, opts)
  await runSteps(sim, pool, scenario.steps, opts)
  if (sim.cursor < EVENTS)
    await runSteps(sim, pool, [{ op: 'append', replica: 1, count: EVENTS }], { appendScale: 1 })
  const bytesSent = () => sim.replicas.reduce((n, r) => n + r.driver.stats.bytesSent, 0)
  await heal(sim, HEALED_LOSS)
  const bytesAtHeal = bytesSent()
  let rounds = 0
  while (!(await converged(sim)) && rounds < MAX_ROUNDS) {
    await syncRound(sim)
    rounds++
  }
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  const cpuMs = (cpu.user + cpu.system) / 1000
  const honest = sim.replicas.filter((r) => !r.hostile)
  const expected = await expectedState(pool, sim.published)
  const got = await snapshot(honest[0]!.log)
  if (
    got.fingerprint.count !== expected.fingerprint.count ||
    got.contents.join() !== expected.contents.join()
  )
    throw new Error(`did not converge to the published set (seed ${scenario.seed}, ${rounds} rounds)`)
  const merged = honest.reduce((n, r) => n + r.driver.stats.addedBySync + r.driver.stats.addedByPush, 0)
  return { ms, cpuMs, merged, bytes: bytesSent(), repairBytes: bytesSent() - bytesAtHeal, rounds }
}

async function main() {
  const tPool = performance.now()
  const pool = await makePool({ events: EVENTS, twinEvery: 0, authors: 16 })
  // Warm the verdict memo so neither approach pays for first verification.
  await expectedState(pool, pool.events)
  console.log(
    `pool: ${EVENTS} events signed and verified in ${((performance.now() - tPool) / 1000).toFixed(1)} s`,
  )
  const scenarios = fc.sample(
    scenarioArb({ minReplicas: REPLICAS, maxReplicas: REPLICAS, attacks: true, maxSteps: 40 }),
    { numRuns: SCENARIOS, seed: SEED },
  )
  console.log(`scenarios: ${SCENARIOS} (fast-check seed ${SEED}), ${REPLICAS} replicas, replica 0 hostile`)
  // Neither syncs on join: after the heal, rounds of sync (not connection events) repair the gaps.
  const approaches: [string, (ctx: DriverContext) => SimDriver][] = [
    ['range reconciliation', (ctx) => new SyncDriver({ ...ctx, syncOnJoin: false })],
    ['full-state exchange', (ctx) => new FullStateDriver(ctx)],
  ]
  const totals = new Map<
    string,
    { ms: number; cpuMs: number; merged: number; bytes: number; rounds: number[] }
  >()
  for (const [name, driver] of approaches) {
    const t = { ms: 0, cpuMs: 0, merged: 0, bytes: 0, rounds: [] as number[] }
    for (const [i, s] of scenarios.entries()) {
      const r = await runOne(s, pool, driver)
      t.ms += r.ms
      t.cpuMs += r.cpuMs
      t.merged += r.merged
      t.bytes += r.bytes
      t.rounds.push(r.rounds)
      console.log(
        `  ${name} #${i} (net seed ${s.seed}, ${s.steps.length} steps): ${(r.ms / 1000).toFixed(2)} s ` +
          `(${(r.cpuMs / 1000).toFixed(2)} s CPU), ` +
          `${r.rounds} rounds, ${(r.bytes / 1e6).toFixed(1)} MB sent, ${(r.repairBytes / 1e6).toFixed(2)} MB after heal`,
      )
    }
    totals.set(name, t)
  }
  const row = (name: string) => {
    const t = totals.get(name)!
    return {
      name,
      scenariosPerS: SCENARIOS / (t.cpuMs / 1000),
      mergedPerS: t.merged / (t.cpuMs / 1000),
      wallPerS: SCENARIOS / (t.ms / 1000),
      rounds: t.rounds.reduce((a, b) => a + b, 0) / t.rounds.length,
      maxRounds: Math.max(...t.rounds),
      mb: t.bytes / 1e6 / SCENARIOS,
    }
  }
  const a = row('range reconciliation')
  const b = row('full-state exchange')
  console.log(
    '\n| approach | scenarios/s (CPU) | events merged/s (CPU) | scenarios/s (wall) | sync rounds to converge (mean / max) | MB sent per scenario |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const r of [a, b])
    console.log(
      `| ${r.name} | ${r.scenariosPerS.toFixed(3)} | ${Math.round(r.mergedPerS).toLocaleString('en')} | ` +
        `${r.wallPerS.toFixed(3)} | ${r.rounds.toFixed(1)} / ${r.maxRounds} | ${r.mb.toFixed(1)} |`,
    )
  const ratio = (x: number, y: number, digits = 2) => `${(x / Math.max(y, 1e-9)).toFixed(digits)}x`
  console.log(
    `| ratio (reconciliation / full state) | ${ratio(a.scenariosPerS, b.scenariosPerS)} | ` +
      `${ratio(a.mergedPerS, b.mergedPerS)} | ${ratio(a.wallPerS, b.wallPerS)} | ${ratio(a.rounds, b.rounds)} | ` +
      `${ratio(a.mb, b.mb, 3)} |`,
  )
}

await main()
