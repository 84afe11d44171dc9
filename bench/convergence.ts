/**
 * Convergence at scale on the shipped Replica: the schedules of the convergence properties
 * (fast-check `scenarioArb`, seed 42) with 8 nodes, node 0 hostile, their writes and imports
 * scaled to ~10,000 events, on the memory network and the memory relay with a virtual clock
 * (tests/convergence/harness.ts). After the schedule everything comes back up but stays
 * partitioned (relay restarted, crashed nodes reopened from their stores, no more loss,
 * duplication or reordering) and live traffic lands; then the network heals and time advances
 * until every honest node holds the same set. Nobody calls sync: the policy (catch-up on join,
 * anti-entropy) repairs.
 *
 *   pnpm bench:convergence          (a written-out partition split + 3 generated, 10,000 events, seed 42)
 *   SCENARIOS=5 EVENTS=20000 SEED=7 pnpm bench:convergence
 *
 * The repair is measured at the network (`MemoryNetwork.stats.bytesDelivered` from the heal to
 * convergence) against the missing bytes: the encoded size of the events each node lacked at
 * the heal (of those stamped by then: writes still pending come live from the relay), summed
 * over the honest nodes and, separately, the hostile one (it runs the same Replica and catches
 * up too, so honest nodes serve it; its attacks are part of the repair bytes). The same scenarios run in the same process with a naive
 * baseline in place of the Peer: on every peer that appears and on every anti-entropy tick it
 * sends its whole log (its own protocol id; same relay, writes and timers). Signature verdicts
 * are memoised per run (each distinct event is verified once), so this measures sync, not
 * Ed25519 (see bench:ed25519).
 */
import { performance } from 'node:perf_hooks'
import {
  type ChannelLog,
  createWriter,
  decodeWith,
  encodeEvent,
  finish,
  MAX_EVENT_BYTES,
  type MeshPort,
  protocolPort,
  type Scheduler,
  SyncPolicyDefaults,
  writeVarBytes,
} from '@peerchat/engine'
import type { MemoryTransport } from '@peerchat/transports/memory'
import fc from 'fast-check'
import { scenarioArb } from '../tests/convergence/arbitraries.ts'
import { CHANNEL, makePool, type Pool } from '../tests/convergence/fixtures.ts'
import {
  contentKey,
  converge,
  createSim,
  heal,
  honest,
  logOf,
  type MeshAttach,
  problems,
  recover,
  runSteps,
  type Scenario,
  type Sim,
  snapshot,
} from '../tests/convergence/harness.ts'

const EVENTS = Number(process.env.EVENTS ?? 10_000)
const SCENARIOS = Number(process.env.SCENARIOS ?? 3)
const SEED = Number(process.env.SEED ?? 42)
const REPLICAS = 8
/** Generated schedules shorter than this leave little to repair (most writes arrive live from the relay). */
const MIN_STEPS = 20

/**
 * The worst case, written out: three partitions (the relay reachable from the first), every
 * honest node writes and imports its own share, one crashes meanwhile; each node then holds
 * little of the others' share, so the heal repairs most of the log at every node.
 */
const split: Scenario = {
  replicas: REPLICAS,
  seed: SEED,
  latency: { min: 1, max: 30 },
  virtual: Array.from({ length: REPLICAS }, () => false),
  steps: [
    { op: 'partition', groups: [0, 0, 0, 1, 1, 1, 2, 2] },
    ...Array.from({ length: REPLICAS - 1 }, (_, i) => [
      { op: 'write' as const, replica: i + 1, count: 1 },
      { op: 'inject' as const, replica: i + 1, count: 1 },
    ]).flat(),
    { op: 'crash', replica: 4 },
    { op: 'wait', ms: 2_000 },
  ],
}

// ---- the baseline --------------------------------------------------------------------------

/** The baseline's own protocol id on the mesh port. */
const FULL_STATE = 'bench/full-state/1'
/** Events per baseline frame are cut at this many bytes. */
const FULL_STATE_FRAME_BYTES = 64 * 1024

function fullStateFrames(events: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let w = createWriter()
  let size = 0
  for (const e of events) {
    if (size > 0 && size + e.length > FULL_STATE_FRAME_BYTES) {
      out.push(finish(w))
      w = createWriter()
      size = 0
    }
    writeVarBytes(w, e)
    size += e.length + 3
  }
  if (size > 0) out.push(finish(w))
  return out
}

const readFullState = (bytes: Uint8Array): Uint8Array[] =>
  decodeWith(
    bytes,
    (r) => {
      const events: Uint8Array[] = []
      while (r.remaining > 0) events.push(r.varBytes(MAX_EVENT_BYTES, 'event'))
      return events
    },
    'full-state frame',
  )

/**
 * Naive full-state exchange, with the Replica's timers: the whole log to each peer that appears
 * (after the policy's settle delay) and to one random peer per anti-entropy tick.
 */
class FullStateSync {
  private readonly port: MeshPort
  private readonly cancels = new Set<() => void>()
  private readonly offs: (() => void)[]

  constructor(
    private readonly log: ChannelLog,
    transport: MemoryTransport,
    private readonly clock: Scheduler,
    private readonly random: () => number,
  ) {
    this.port = protocolPort(transport, FULL_STATE)
    this.offs = [
      this.port.on('peer-joined', ({ peer }) =>
        this.later(SyncPolicyDefaults.settleMs, () => this.sendAll(peer)),
      ),
      this.port.on('frame', ({ from, bytes }) => void clock.track(this.receive(from, bytes))),
    ]
    this.antiEntropy()
  }

  stop(): void {
    for (const off of this.offs) off()
    for (const cancel of this.cancels) cancel()
    this.cancels.clear()
  }

  private antiEntropy(): void {
    this.later(SyncPolicyDefaults.antiEntropyMs * (0.5 + this.random()), () => {
      const peers = [...this.port.peers().keys()]
      const peer = peers[Math.floor(this.random() * peers.length)]
      if (peer !== undefined) this.sendAll(peer)
      this.antiEntropy()
    })
  }

  private later(ms: number, fn: () => void): void {
    const cancel = this.clock.setTimeout(() => {
      this.cancels.delete(cancel)
      fn()
    }, ms)
    this.cancels.add(cancel)
  }

  private sendAll(peer: string): void {
    const work = this.log.range({}).then((events) => {
      for (const f of fullStateFrames(events.map(encodeEvent))) this.port.send(peer, f)
    })
    void this.clock.track(work)
  }

  private async receive(from: string, bytes: Uint8Array): Promise<void> {
    let events: Uint8Array[]
    try {
      events = readFullState(bytes)
    } catch {
      return
    }
    await this.log.addEncoded(events, {
      source: { via: 'peer', peer: from, link: 'memory', kind: 'unknown' },
    })
  }
}

const fullState: MeshAttach = ({ node, replica, transport, sim }) => {
  const sync = new FullStateSync(replica.open(CHANNEL), transport, sim.clock, () => node.random.next())
  return () => sync.stop()
}

// ---- one run -------------------------------------------------------------------------------

interface Outcome {
  /** Wall time and CPU time (user + system) of this process: the machine is shared, CPU time is steadier. */
  ms: number
  cpuMs: number
  /** Bytes delivered on the mesh from the heal to convergence. */
  repairBytes: number
  /** Encoded size of the events each honest node lacked at the heal (of those that existed then), summed. */
  missingBytes: number
  /** The same for the hostile node: it runs the same Replica and catches up too (over its forged store). */
  hostileMissingBytes: number
  /** Encoded size of the converged log. */
  logBytes: number
  /** Bytes delivered on the mesh during the whole run. */
  meshBytes: number
  /** Virtual time from the heal to convergence. */
  convergeMs: number
  /** Sync sessions honest nodes initiated after the heal, and of those, answered `busy`. */
  sessions: number
  busy: number
}

/** Events per unit of a write or inject step, so that the schedule publishes ~EVENTS. */
function scaleOf(s: Scenario): number {
  const units = s.steps.reduce(
    (n, step) => n + (step.op === 'write' || step.op === 'inject' ? step.count : 0),
    0,
  )
  return units === 0 ? EVENTS : Math.ceil(EVENTS / units)
}

const reportsOf = (sim: Sim) =>
  honest(sim).flatMap((n) => n.running?.replica.peer.reports.map((r) => ({ node: n.id, r })) ?? [])

async function runOne(scenario: Scenario, pool: Pool, mesh?: MeshAttach): Promise<Outcome> {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  const sim = await createSim(scenario, pool, {
    hostile: true,
    scale: scaleOf(scenario),
    clean: true,
    ...(mesh ? { mesh } : {}),
  })
  const steps = scenario.steps.some((s) => s.op === 'write' || s.op === 'inject')
    ? scenario.steps
    : [...scenario.steps, { op: 'write' as const, replica: 1, count: 1 }]
  await runSteps(sim, steps)
  await recover(sim)
  const held = new Map(
    await Promise.all(sim.nodes.map(async (n) => [n, new Set((await snapshot(logOf(n))).contents)] as const)),
  )
  // Writes still pending (cut off from the relay) are stamped after the heal and arrive live.
  const existed = new Set([...sim.stamped.keys(), ...honest(sim).flatMap((n) => [...held.get(n)!])])
  const bytesAtHeal = sim.network.stats.bytesDelivered
  const reportsAtHeal = new Set(reportsOf(sim).map(({ r }) => r))
  heal(sim)
  const convergeMs = await converge(sim)
  const repairBytes = sim.network.stats.bytesDelivered - bytesAtHeal
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  const found = await problems(sim)
  if (found.length > 0)
    throw new Error(`did not converge (network seed ${scenario.seed}):\n${found.join('\n')}`)

  const final = await logOf(honest(sim)[0]!).range({})
  const size = new Map(final.map((e) => [contentKey(e), encodeEvent(e).length]))
  const missing = (have: Set<string>) => {
    let n = 0
    for (const [key, bytes] of size) if (existed.has(key) && !have.has(key)) n += bytes
    return n
  }
  const after = reportsOf(sim).filter(({ r }) => !reportsAtHeal.has(r))
  return {
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    repairBytes,
    missingBytes: honest(sim).reduce((n, node) => n + missing(held.get(node)!), 0),
    hostileMissingBytes: sim.nodes.reduce((n, node) => n + (node.hostile ? missing(held.get(node)!) : 0), 0),
    logBytes: [...size.values()].reduce((a, b) => a + b, 0),
    meshBytes: sim.network.stats.bytesDelivered,
    convergeMs,
    sessions: after.length,
    busy: after.filter(({ r }) => r.error === 'busy').length,
  }
}

// ---- main ----------------------------------------------------------------------------------

const mb = (n: number) => (n / 1e6).toFixed(2)
const x = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a')

async function main() {
  const tPool = performance.now()
  const pool = await makePool({ events: EVENTS, twinEvery: 0, authors: 16 })
  console.log(`pool: ${EVENTS} events signed in ${((performance.now() - tPool) / 1000).toFixed(1)} s`)
  const scenarios = [
    split,
    ...fc.sample(
      scenarioArb({
        minReplicas: REPLICAS,
        maxReplicas: REPLICAS,
        attacks: true,
        minSteps: MIN_STEPS,
        maxSteps: 40,
      }),
      { numRuns: SCENARIOS, seed: SEED },
    ),
  ]
  console.log(
    `scenarios: a partition split and ${SCENARIOS} generated (fast-check seed ${SEED}), ${REPLICAS} nodes, node 0 hostile`,
  )
  const approaches: [string, MeshAttach | undefined][] = [
    ['Replica (range reconciliation)', undefined],
    ['full-state exchange', fullState],
  ]
  const totals = new Map<string, Outcome[]>()
  for (const [name, mesh] of approaches) {
    const runs: Outcome[] = []
    for (const [i, s] of scenarios.entries()) {
      const o = await runOne(s, pool, mesh)
      runs.push(o)
      console.log(
        `  ${name} #${i} (net seed ${s.seed}, ${s.steps.length} steps): ${(o.ms / 1000).toFixed(1)} s ` +
          `(${(o.cpuMs / 1000).toFixed(1)} s CPU); converged ${(o.convergeMs / 1000).toFixed(0)} s (virtual) after the heal; ` +
          `repair ${mb(o.repairBytes)} MB for ${mb(o.missingBytes)} MB missing at honest nodes ` +
          `+ ${mb(o.hostileMissingBytes)} MB at the hostile one (${x(o.repairBytes, o.missingBytes + o.hostileMissingBytes)}), ` +
          `log ${mb(o.logBytes)} MB, mesh total ${mb(o.meshBytes)} MB` +
          (mesh ? '' : `; ${o.sessions} sessions after the heal (${o.busy} busy)`),
      )
    }
    totals.set(name, runs)
  }
  const sum = (runs: Outcome[], f: (o: Outcome) => number) => runs.reduce((n, o) => n + f(o), 0)
  console.log(
    '\n| approach | repair MB | missing MB: honest + hostile node | repair / missing (all nodes) | repair / missing (honest only) | repair in copies of the log | virtual s to converge (mean / max) | mesh MB per scenario | CPU s per scenario |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const [name, runs] of totals) {
    const repair = sum(runs, (o) => o.repairBytes)
    const missing = sum(runs, (o) => o.missingBytes)
    const hostileMissing = sum(runs, (o) => o.hostileMissingBytes)
    const log = sum(runs, (o) => o.logBytes)
    const conv = runs.map((o) => o.convergeMs / 1000)
    console.log(
      `| ${name} | ${mb(repair)} | ${mb(missing)} + ${mb(hostileMissing)} | ${x(repair, missing + hostileMissing)} | ` +
        `${x(repair, missing)} | ${(repair / log).toFixed(2)} | ` +
        `${(conv.reduce((a, b) => a + b, 0) / conv.length).toFixed(0)} / ${Math.max(...conv).toFixed(0)} | ` +
        `${mb(sum(runs, (o) => o.meshBytes) / runs.length)} | ${(sum(runs, (o) => o.cpuMs) / runs.length / 1000).toFixed(1)} |`,
    )
  }
}

await main()
