/**
 * Issue 2: after any schedule of appends, partitions, crashes, loss, duplication and
 * reordering, heal and sync leave every replica with the identical set. A failure prints
 * fast-check's seed and the shrunk scenario (replay it with `{ seed, path }` in fc.assert).
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { scenarioArb } from './arbitraries.ts'
import { makePool, type Pool } from './fixtures.ts'
import { expectedState, runScenario, snapshot } from './harness.ts'

/** At least 200 in CI (issue 2); raise for a soak: CONVERGENCE_RUNS=5000. */
const RUNS = Number(process.env.CONVERGENCE_RUNS ?? 200)
/** Generous: a soak scales it; CI's 200 runs take well under 20 s. */
const TIMEOUT_MS = Math.max(60_000, RUNS * 400)
let pool: Pool

beforeAll(async () => {
  pool = await makePool({ events: 240 })
})

describe('convergence under faults', () => {
  it('replays a scenario exactly from its seeds', async () => {
    const [scenario] = fc.sample(scenarioArb({ minReplicas: 5 }), { numRuns: 1, seed: 1234 })
    const trace = async () => {
      const sim = await runScenario(scenario!, pool)
      return JSON.stringify({
        now: sim.clock.now(),
        network: sim.network.stats,
        drivers: sim.replicas.map((r) => r.driver.stats),
        logs: await Promise.all(sim.replicas.map(async (r) => (await snapshot(r.log)).contents)),
      })
    }
    const first = await trace()
    expect(await trace()).toBe(first)
    expect(JSON.parse(first).network.sent).toBeGreaterThan(0)
  })

  it(
    `every replica holds the identical set after heal and sync (${RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb(), async (scenario) => {
          const outcome = await runScenario(scenario, pool)
          const expected = await expectedState(pool, outcome.published)
          for (const r of outcome.replicas) {
            const s = await snapshot(r.log)
            expect(s.fingerprint.count, `replica ${r.index} count`).toBe(expected.fingerprint.count)
            expect(s.fingerprint.hash, `replica ${r.index} fingerprint`).toEqual(expected.fingerprint.hash)
            expect(s.contents, `replica ${r.index} contents`).toEqual(expected.contents)
            // Honest peers never send each other a frame the other cannot parse.
            expect(r.driver.stats.badFrames, `replica ${r.index} bad frames`).toBe(0)
          }
        }),
        { numRuns: RUNS },
      )
    },
    TIMEOUT_MS,
  )
})
