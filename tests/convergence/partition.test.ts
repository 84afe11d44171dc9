/**
 * One schedule of the properties spelled out, as a readable example of what they check: a node
 * partitioned from the relay writes locally (pending, nothing stamped), misses what the others
 * write, and after the heal its write is stamped and the policy alone brings it what it missed.
 */
import { describe, expect, it } from 'vitest'
import { CHANNEL, makePool } from './fixtures.ts'
import { converge, createSim, heal, logOf, problems, runSteps } from './harness.ts'

describe('a node cut off from the relay', () => {
  it('writes locally, is stamped after the heal and catches up from its peers', async () => {
    const pool = await makePool({ events: 8 })
    const sim = await createSim(
      { replicas: 3, seed: 7, latency: { min: 1, max: 20 }, virtual: [], steps: [] },
      pool,
    )
    const [a, b, c] = sim.nodes
    await runSteps(sim, [
      { op: 'partition', groups: [0, 0, 1] },
      { op: 'write', replica: 2, count: 1 },
      { op: 'write', replica: 0, count: 2 },
      { op: 'wait', ms: 5_000 },
    ])
    expect(c!.running!.replica.writes().map((w) => w.state)).toEqual(['pending'])
    expect(sim.relay.stats.stamped).toBe(2)
    expect(await logOf(b!).count()).toBe(2)
    expect(await logOf(c!).count()).toBe(0)

    const sources: string[] = []
    c!.running!.replica.open(CHANNEL).onAdded((events, change) => {
      for (const _ of events) sources.push(change.source.via)
    })
    heal(sim)
    await converge(sim)
    expect(await problems(sim)).toEqual([])
    expect(await logOf(a!).count()).toBe(3)
    // Its own write came back from the relay; the two it missed, from a peer.
    expect(sources.sort()).toEqual(['peer', 'peer', 'relay'])
  })
})
