/**
 * Issues 2 and 11: sync is idempotent (once the policy converged the nodes, an explicit sync of
 * every ordered pair completes, adds and refuses nothing and changes no set; re-adding what was
 * stamped is a no-op) and order-independent (the converged state equals the same events added
 * to a fresh log in any order and any batching, conflicting twins included: the smaller id wins
 * wherever it arrives).
 */
import { BUSY, ChannelLog, MemoryStore, type StampedEvent, type SyncReport } from '@peerchat/engine'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { scenarioArb } from './arbitraries.ts'
import { CHANNEL, makePool, type Pool } from './fixtures.ts'
import { everStored, logOf, type Node, runScenario, type Sim, snapshot } from './harness.ts'

/** At least 200 in CI (issue 2); raise for a soak: CONVERGENCE_RUNS=5000. */
const RUNS = Number(process.env.CONVERGENCE_RUNS ?? 200)
/** Generous: a soak scales it. */
const TIMEOUT_MS = Math.max(120_000, RUNS * 600)
/** Virtual time between checks while an explicit sync runs, and before asking a busy peer again. */
const STEP_MS = 50
/** Virtual time an explicit sync may take (sessions time out after 30 s). */
const SYNC_WITHIN_MS = 5 * 60_000
let pool: Pool

beforeAll(async () => {
  pool = await makePool({ events: 240, twinEvery: 4 })
})

/** Adds `events` to a fresh log in the order of `keys` (a permutation), in batches cut at `cuts`. */
async function addInOrder(events: StampedEvent[], keys: number[], cuts: number[]) {
  const order = events
    .map((e, i) => ({ e, k: keys[i] ?? i }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.e)
  const log = new ChannelLog({
    channel: CHANNEL,
    store: new MemoryStore(),
    relayKeys: [pool.relayKey],
    backend: pool.backend,
  })
  let start = 0
  for (const cut of [...cuts.map((c) => c % (order.length + 1)).sort((a, b) => a - b), order.length]) {
    if (cut > start) await log.add(order.slice(start, cut))
    start = Math.max(start, cut)
  }
  return snapshot(log)
}

/** An explicit sync of `from` with `to`, asked again while `to` is busy with someone else (anti-entropy runs on). */
async function syncPair(sim: Sim, from: Node, to: Node): Promise<SyncReport> {
  const peer = from.running!.replica.peer
  const deadline = sim.clock.now() + SYNC_WITHIN_MS
  for (;;) {
    const target = peer.candidates().find((c) => c.peer === to.id)
    if (!target) throw new Error(`${from.id} does not see ${to.id}`)
    let report: SyncReport | undefined
    void peer.sync(CHANNEL, { peer: { port: target.port, peer: target.peer } }).then((r) => {
      report = r
    })
    while (!report && sim.clock.now() < deadline) await sim.clock.advance(STEP_MS)
    if (!report) throw new Error(`${from.id} -> ${to.id}: no report within ${SYNC_WITHIN_MS} ms`)
    if (report.error !== BUSY) return report
  }
}

const permutation = fc.array(fc.integer(), { minLength: 240, maxLength: 240 })
const cuts = fc.array(fc.nat(240), { maxLength: 8 })

describe('sync is idempotent and order-independent', () => {
  it(
    `an explicit sync of every pair after convergence changes nothing; the state is a function of the set (${RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          scenarioArb({ maxSteps: 30 }),
          permutation,
          cuts,
          permutation,
          cuts,
          async (scenario, k1, c1, k2, c2) => {
            const sim = await runScenario(scenario, pool)
            const before = await Promise.all(sim.nodes.map((n) => snapshot(logOf(n))))

            for (const from of sim.nodes)
              for (const to of sim.nodes) {
                if (from === to) continue
                const r = await syncPair(sim, from, to)
                expect(r, `${from.id} -> ${to.id}`).toMatchObject({ complete: true, added: 0, rejected: 0 })
              }
            const after = await Promise.all(sim.nodes.map((n) => snapshot(logOf(n))))
            expect(after).toEqual(before)
            const stored = everStored(sim)
            for (const n of sim.nodes) expect((await logOf(n).add(stored)).added, n.id).toEqual([])

            // Order independence: any order and batching of the same events gives the same state.
            const one = await addInOrder(stored, k1, c1)
            const two = await addInOrder(stored, k2, c2)
            expect(two).toEqual(one)
            for (const s of after) expect(s).toEqual(one)
          },
        ),
        { numRuns: RUNS },
      )
    },
    TIMEOUT_MS,
  )
})
