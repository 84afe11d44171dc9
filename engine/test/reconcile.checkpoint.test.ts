/**
 * Reconciliation of checkpointed history: frames end after a checkpoint (so a receiver hashes
 * whole windows), and pipelined receiving gives the same sets and totals as the plain one.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { CHECKPOINT_KIND } from '../src/checkpoint.ts'
import { decodeEvent, type StampedEvent } from '../src/event.ts'
import { Identity } from '../src/identity/keys.ts'
import { ChannelLog } from '../src/log.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import { decodeFrame } from '../src/reconcile/frame.ts'
import { Reconciler } from '../src/reconcile/reconciler.ts'
import { MemoryStore } from '../src/store/memory.ts'
import type { Store } from '../src/store/store.ts'
import { signedPool, toStored, withCheckpoints } from '../src/testing/index.ts'

useNodeCrypto()

const CH = 'general'
const EVERY = 32
let relay: Identity
let pool: StampedEvent[]

beforeAll(async () => {
  relay = await Identity.fromSeed(new Uint8Array(32).fill(90))
  const author = await Identity.fromSeed(new Uint8Array(32).fill(1))
  pool = await withCheckpoints(
    await signedPool({ channel: CH, relay, authors: [author], count: 400 }),
    relay,
    EVERY,
  )
})

async function holding(events: StampedEvent[], store: Store = new MemoryStore()): Promise<ChannelLog> {
  await store.putMany(CH, events.map(toStored))
  return new ChannelLog({ channel: CH, store, relayKeys: [relay.publicKey] })
}

/** Runs a session to the end, recording every frame and the summed counts of each side. */
async function run(initiator: Reconciler, responder: Reconciler) {
  const frames: Uint8Array[] = []
  const totals = { added: 0, rejected: 0 }
  let msg: Uint8Array | null = await initiator.initiate()
  for (let turn = 1; msg; turn ^= 1) {
    frames.push(msg)
    const r = await (turn ? responder : initiator).receive(msg)
    totals.added += r.added
    totals.rejected += r.rejected
    msg = r.reply
  }
  return { frames, totals }
}

describe('reconciling checkpointed history', () => {
  it('every full frame of events ends right after a checkpoint, and the receiver vouches for all', async () => {
    const source = await holding(pool)
    const empty = await holding([])
    let vouched = 0
    const add = empty.addEncoded.bind(empty)
    empty.addEncoded = async (f) => {
      const r = await add(f)
      vouched += r.vouched
      return r
    }
    const { frames } = await run(new Reconciler(empty), new Reconciler(source, { maxFrameBytes: 8 * 1024 }))
    const withEvents = frames.map(decodeFrame).filter((f) => f.events.length > 0)
    expect(withEvents.length).toBeGreaterThan(3)
    for (const f of withEvents.slice(0, -1))
      expect(decodeEvent(f.events[f.events.length - 1]!).kind).toBe(CHECKPOINT_KIND)
    expect(await empty.count()).toBe(pool.length)
    expect(vouched).toBe(400)
  })

  it('property: pipelined receiving ends with the same sets and the same totals', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: pool.length, maxLength: pool.length }),
        fc.array(fc.boolean(), { minLength: pool.length, maxLength: pool.length }),
        fc.integer({ min: 2, max: 16 }),
        async (inA, inB, kib) => {
          const a = pool.filter((_, i) => inA[i])
          const b = pool.filter((_, i) => inB[i])
          const results = []
          for (const pipeline of [false, true]) {
            const x = await holding(a)
            const y = await holding(b)
            const opts = { maxFrameBytes: kib * 1024, pipeline }
            const r = await run(new Reconciler(x, opts), new Reconciler(y, opts))
            const ids = (await x.range({})).map((e) => e.id)
            expect((await y.range({})).map((e) => e.id)).toEqual(ids)
            results.push({ ids, totals: r.totals })
          }
          expect(results[1]).toEqual(results[0])
        },
      ),
      { numRuns: 25 },
    )
  })

  it('a store failure under a pipelined add fails the next receive', async () => {
    const source = await holding(pool)
    const store = new MemoryStore()
    const sink = await holding([], store)
    const initiator = new Reconciler(sink, { pipeline: true })
    const responder = new Reconciler(source, { maxFrameBytes: 4096 })
    const first = (await responder.receive(await initiator.initiate())).reply!
    expect(decodeFrame(first).more).toBe(true)
    store.putMany = () => Promise.reject(new Error('disk full'))
    const r = await initiator.receive(first) // answered at once; the add fails behind it
    expect(r.reply).not.toBeNull()
    const second = (await responder.receive(r.reply!)).reply!
    await expect(initiator.receive(second)).rejects.toThrow('disk full')
  })
})
