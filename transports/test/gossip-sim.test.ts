/**
 * The blob gossip simulator (issue #5) at test sizes: every case is seeded (the seed is in
 * its name) and replays exactly. Larger N and the figures live in `pnpm bench:gossip`.
 */
import { describe, expect, it } from 'vitest'
import { runGossipSim } from '../src/memory/index.ts'

const target = (n: number) => Math.ceil(Math.log(n) / Math.log(3) - 1e-9) + 3

describe('blob gossip simulator', () => {
  for (const [peers, churn, seed] of [
    [10, 0, 11],
    [30, 0, 12],
    [10, 0.2, 13],
    [30, 0.2, 14],
  ] as const) {
    it(`N=${peers}, churn ${churn * 100}%, seed ${seed}: every peer gets the blob, about once`, async () => {
      const r = await runGossipSim({ peers, churn, seed, size: 256 * 1024 })
      expect(r.holders).toBe(peers)
      expect(r.rounds).toBeDefined()
      if (churn === 0) expect(r.rounds!).toBeLessThanOrEqual(target(peers))
      expect(r.totalBytes).toBeLessThanOrEqual(1.05 * r.idealBytes)
      expect(r.uploaderCopies).toBeLessThanOrEqual(3)
      expect(r.virtualShare).toBeLessThan(0.05)
      expect(r.badChunks).toBe(0)
    })
  }

  it('delivers to every peer through 10% frame loss and churn (seed 21)', async () => {
    const r = await runGossipSim({ peers: 20, churn: 0.2, loss: 0.1, seed: 21, size: 256 * 1024 })
    expect(r.holders).toBe(20)
    expect(r.totalBytes).toBeLessThanOrEqual(1.25 * r.idealBytes)
  })

  it('with upload bandwidth limited, every peer gets it and no chunk travels twice (seed 51)', async () => {
    const r = await runGossipSim({ peers: 12, seed: 51, size: 256 * 1024, uplinkBytesPerMs: 1250 })
    expect(r.holders).toBe(12)
    expect(r.wastedBytes).toBe(0)
    expect(r.uploaderCopies).toBeLessThanOrEqual(3)
    expect(r.totalBytes).toBeLessThanOrEqual(1.05 * r.idealBytes)
  })

  it('replays exactly from its seed', async () => {
    const a = await runGossipSim({ peers: 12, churn: 0.2, loss: 0.05, seed: 31, size: 128 * 1024 })
    const b = await runGossipSim({ peers: 12, churn: 0.2, loss: 0.05, seed: 31, size: 128 * 1024 })
    expect(b).toEqual(a)
  })

  it('virtual clients serve only when no real client holds the blob', async () => {
    // 3 real peers and 3 virtual ones: the real ones are asked first, virtual ones wait.
    const r = await runGossipSim({ peers: 6, virtual: 3, seed: 41, size: 128 * 1024 })
    expect(r.holders).toBe(6)
    expect(r.virtualShare).toBe(0)
  })
})
