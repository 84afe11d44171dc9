import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { DecodeError, LimitError, RejectedError } from '../src/errors.ts'
import { MAX_EVENT_BYTES, type StampedEvent, signRequest, stamp } from '../src/event.ts'
import { Identity } from '../src/identity/keys.ts'
import { ChannelLog } from '../src/log.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import {
  decodeFrame,
  encodeFrame,
  MAX_EVENTS,
  MAX_FRAME_BYTES,
  MAX_ID_LIST,
  MAX_RANGES,
  Mode,
  type Frame as ReconcileFrame,
} from '../src/reconcile/frame.ts'
import { reconcileLocally } from '../src/reconcile/local.ts'
import { Reconciler, type ReconcilerOptions } from '../src/reconcile/reconciler.ts'
import { MemoryStore } from '../src/store/memory.ts'
import type { IdRange } from '../src/store/store.ts'
import { inRange } from '../src/store/store.ts'
import { fixtureUlid, signedPool, toStored } from '../src/testing/index.ts'

useNodeCrypto()

const CH = 'general'
const POOL_SIZE = 300
let relay: Identity
let pool: StampedEvent[]

beforeAll(async () => {
  relay = await Identity.fromSeed(new Uint8Array(32).fill(90))
  const author = await Identity.fromSeed(new Uint8Array(32).fill(1))
  pool = await signedPool({ channel: CH, relay, authors: [author], count: POOL_SIZE })
})

/** A log pre-filled straight into its store (setup skips verification; sync verifies). */
async function replica(indices: Iterable<number>): Promise<ChannelLog> {
  const store = new MemoryStore()
  await store.putMany(
    CH,
    [...new Set(indices)].map((i) => toStored(pool[i]!)),
  )
  return new ChannelLog({ channel: CH, store, relayKeys: [relay.publicKey] })
}

const ids = async (log: ChannelLog, range: IdRange = {}): Promise<string[]> =>
  (await log.range(range)).map((e) => e.id)

interface Trace {
  frames: number[]
}

async function sync(
  a: ChannelLog,
  b: ChannelLog,
  opts: ReconcilerOptions = {},
  bOpts: ReconcilerOptions = {},
): Promise<Trace> {
  const run = await reconcileLocally(new Reconciler(a, opts), new Reconciler(b, bOpts))
  // Well under what any of these cases needs: a loop would fail here, not hang.
  expect(run.frames.length).toBeLessThan(500)
  return run
}

const subset = fc.uniqueArray(fc.nat({ max: POOL_SIZE - 1 }), { maxLength: POOL_SIZE })
const options = fc.record({
  branching: fc.integer({ min: 2, max: 8 }),
  idListThreshold: fc.integer({ min: 0, max: 16 }),
  maxFrameBytes: fc.constantFrom(1024, 2048, 4096, 256 * 1024),
})

describe('Reconciler', () => {
  it('costs one small frame when both sides agree', async () => {
    const all = Array.from({ length: POOL_SIZE }, (_, i) => i)
    const trace = await sync(await replica(all), await replica(all))
    expect(trace.frames).toHaveLength(1)
    expect(trace.frames[0]).toBeLessThan(64)
  })

  it('fills an empty replica, and empties into one, in a few frames', async () => {
    const all = Array.from({ length: POOL_SIZE }, (_, i) => i)
    for (const [x, y] of [
      [all, []],
      [[], all],
    ] as const) {
      const a = await replica(x)
      const b = await replica(y)
      const trace = await sync(a, b)
      expect(await ids(a)).toEqual(pool.map((e) => e.id))
      expect(await ids(b)).toEqual(pool.map((e) => e.id))
      expect(trace.frames.length).toBeLessThanOrEqual(3)
    }
  })

  it('both sides end with the union, in bounded frames, and a second sync is one frame', async () => {
    await fc.assert(
      fc.asyncProperty(subset, subset, options, options, async (x, y, opts, bOpts) => {
        const a = await replica(x)
        const b = await replica(y)
        const trace = await sync(a, b, opts, bOpts)
        const union = [...new Set([...x, ...y])].sort((p, q) => p - q).map((i) => pool[i]!.id)
        expect(await ids(a)).toEqual(union)
        expect(await ids(b)).toEqual(union)
        trace.frames.forEach((size, i) => {
          expect(size).toBeLessThanOrEqual(i % 2 === 0 ? opts.maxFrameBytes : bOpts.maxFrameBytes)
        })
        expect(await a.fingerprint({})).toEqual(await b.fingerprint({}))
        expect((await sync(a, b, opts, bOpts)).frames).toHaveLength(1)
      }),
      { numRuns: 200 },
    )
  })

  it('converges with events near the frame size (events wait for room, never overflow)', async () => {
    const author = await Identity.fromSeed(new Uint8Array(32).fill(5))
    const big = await signedPool({
      channel: CH,
      relay,
      authors: [author],
      count: 60,
      bodyBytes: 800,
      start: 1_600_000_000_000,
    })
    // Small events interleaved with large ones, so ranges and events compete for room.
    const mixed = [...pool, ...big]
    const load = async (indices: number[]): Promise<ChannelLog> => {
      const store = new MemoryStore()
      await store.putMany(
        CH,
        [...new Set(indices)].map((i) => toStored(mixed[i]!)),
      )
      return new ChannelLog({ channel: CH, store, relayKeys: [relay.publicKey] })
    }
    // Deterministic case: small frames full of ranges while large events are owed.
    for (const branching of [2, 16]) {
      const a = await load(mixed.map((_, i) => i))
      const b = await load(pool.map((_, i) => i).filter((i) => i % 2 === 1))
      const opts = { branching, idListThreshold: 0, maxFrameBytes: 2048 }
      await sync(a, b, opts, opts)
      expect(await b.count()).toBe(mixed.length)
    }
    const some = fc.uniqueArray(fc.nat({ max: mixed.length - 1 }), { maxLength: mixed.length })
    // A 1,011-byte event needs frames of more than 1 KiB.
    const roomyOptions = options.filter((o) => o.maxFrameBytes >= 2048)
    await fc.assert(
      fc.asyncProperty(some, some, roomyOptions, async (x, y, opts) => {
        const a = await load(x)
        const b = await load(y)
        const trace = await sync(a, b, opts, opts)
        for (const size of trace.frames) expect(size).toBeLessThanOrEqual(opts.maxFrameBytes)
        expect(await ids(a)).toEqual(await ids(b))
        expect(await a.count()).toBe(new Set([...x, ...y]).size)
      }),
      { numRuns: 60 },
    )
  })

  it('syncs exactly the requested range and nothing outside it', async () => {
    await fc.assert(
      fc.asyncProperty(
        subset,
        subset,
        fc.nat({ max: POOL_SIZE - 1 }),
        fc.nat({ max: POOL_SIZE - 1 }),
        async (x, y, p, q) => {
          const [lo, hi] = p <= q ? [p, q + 1] : [q, p + 1]
          const range: IdRange = {}
          if (lo > 0) range.gte = pool[lo]!.id
          if (hi < POOL_SIZE) range.lt = pool[hi]!.id // lo < hi: an empty range is refused
          const a = await replica(x)
          const b = await replica(y)
          await sync(a, b, { range })
          const expectFor = (own: number[]): string[] =>
            [...new Set([...own, ...[...x, ...y].filter((i) => inRange(pool[i]!.id, range))])]
              .sort((m, n) => m - n)
              .map((i) => pool[i]!.id)
          expect(await ids(a)).toEqual(expectFor(x))
          expect(await ids(b)).toEqual(expectFor(y))
        },
      ),
      { numRuns: 60 },
    )
  })

  it('a responder with a range refuses a request outside it', async () => {
    const a = await replica([1, 2, 3])
    const b = await replica([4])
    const first = await new Reconciler(a).initiate()
    const narrow = new Reconciler(b, { range: { gte: pool[100]!.id } })
    await expect(narrow.receive(first)).rejects.toMatchObject({ reason: 'outOfRange' })
  })

  it('keeps making progress when the answers overflow small frames', async () => {
    const a = await replica(pool.map((_, i) => i).filter((i) => i % 2 === 0))
    const b = await replica(pool.map((_, i) => i).filter((i) => i % 3 === 0))
    const opts = { maxFrameBytes: 1024, branching: 8, idListThreshold: 2 }
    const trace = await sync(a, b, opts, opts)
    for (const size of trace.frames) expect(size).toBeLessThanOrEqual(1024)
    expect(await ids(a)).toEqual(await ids(b))
    expect(await a.count()).toBe(200)
  })

  it('splits a large transfer over frames of at most maxFrameBytes', async () => {
    const a = await replica(Array.from({ length: POOL_SIZE }, (_, i) => i))
    const b = await replica([])
    const trace = await sync(a, b, { maxFrameBytes: 4096 }, { maxFrameBytes: 4096 })
    expect(trace.frames.length).toBeGreaterThan(POOL_SIZE / 20)
    for (const size of trace.frames) expect(size).toBeLessThanOrEqual(4096)
    expect(await b.count()).toBe(POOL_SIZE)
  })

  it('counts and refuses invalid events a peer sends', async () => {
    const a = await replica([0, 1, 2])
    const b = await replica([])
    const initiator = new Reconciler(b)
    const responder = new Reconciler(a)
    const reply = (await responder.receive(await initiator.initiate())).reply!
    const frame = decodeFrame(reply)
    frame.events = frame.events.map((e, i) =>
      i === 0 ? e.map((v, j) => (j === e.length - 1 ? v ^ 1 : v)) : e,
    )
    const result = await initiator.receive(encodeFrame(frame))
    expect(result).toMatchObject({ added: 2, rejected: 1 })
    expect(await b.count()).toBe(2)
  })

  it('rejects options that cannot make progress', async () => {
    const log = await replica([])
    expect(() => new Reconciler(log, { maxFrameBytes: 100 })).toThrow(RangeError)
    expect(() => new Reconciler(log, { branching: 1 })).toThrow(RangeError)
    expect(() => new Reconciler(log, { branching: 65 })).toThrow(RangeError)
    expect(() => new Reconciler(log, { idListThreshold: 2000 })).toThrow(RangeError)
    expect(() => new Reconciler(log, { range: { gte: pool[5]!.id, lt: pool[5]!.id } })).toThrow(RangeError)
  })
})

describe('reconcile frames', () => {
  it('round-trip every mode', async () => {
    const frame: ReconcileFrame = {
      more: true,
      lower: pool[0]!.id,
      ranges: [
        { upper: pool[10]!.id, mode: Mode.skip },
        {
          upper: pool[20]!.id,
          mode: Mode.fingerprint,
          fingerprint: { count: 3, hash: new Uint8Array(16).fill(9) },
        },
        { upper: pool[30]!.id, mode: Mode.idList, ids: [pool[21]!.id, pool[25]!.id] },
        { upper: null, mode: Mode.need, listed: 10, bits: new Uint8Array([0xff, 0x03]) },
      ],
      events: [new Uint8Array([1, 2, 3])],
    } as const
    const decoded = decodeFrame(
      encodeFrame({ ...frame, ranges: [...frame.ranges], events: [...frame.events] }),
    )
    expect(decoded.more).toBe(true)
    expect(decoded.events).toEqual([new Uint8Array([1, 2, 3])])
    expect(decoded.ranges).toHaveLength(4)
    expect(decoded.ranges[2]).toEqual(frame.ranges[2])
    // Bounds travel as short prefixes: only the bytes needed survive.
    expect(decoded.ranges[0]!.upper! <= pool[10]!.id).toBe(true)
  })

  it('refuse version, flags, order, mode and trailing-byte errors', () => {
    const good = encodeFrame({
      more: false,
      lower: pool[0]!.id,
      ranges: [{ upper: null, mode: Mode.skip }],
      events: [],
    })
    const bad = [
      new Uint8Array([2, ...good.subarray(1)]),
      new Uint8Array([1, 4, ...good.subarray(2)]),
      new Uint8Array([...good, 0]),
      new Uint8Array([1, 0, 0, 1, 255, 9, 0]),
      new Uint8Array([1, 0, 0, 2, 255, 0, 255, 0, 0]),
      new Uint8Array([1, 0, 1, 0, 0, 0]),
      new Uint8Array([1, 0, 0, 1, 255, 2, 200, 1, 0]),
      new Uint8Array([1, 0, 0, 1, 255, 3, 3, 0xff, 0]),
    ]
    for (const bytes of bad) expect(() => decodeFrame(bytes)).toThrow(DecodeError)
  })

  it('decoding random bytes gives a frame or a DecodeError, and a decoded frame re-encodes to itself', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        // Bias towards plausible frames: version 1, no flags.
        const input = bytes.length >= 2 ? new Uint8Array([1, bytes[1]! & 1, ...bytes.subarray(2)]) : bytes
        let frame: ReconcileFrame
        try {
          frame = decodeFrame(input)
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
          return
        }
        expect(encodeFrame(frame)).toEqual(input)
      }),
      { numRuns: 2000 },
    )
  })

  it('a reconciler given random or mutated frames throws only RejectedError', async () => {
    const xs = Array.from({ length: 120 }, (_, i) => i).filter((i) => i % 2 === 0)
    const ys = Array.from({ length: 120 }, (_, i) => i).filter((i) => i % 3 === 0)
    const opts = { branching: 3, idListThreshold: 4 }
    const initiator = new Reconciler(await replica(xs), opts)
    const first = await initiator.initiate()
    const second = (await new Reconciler(await replica(ys), opts).receive(first)).reply!
    const third = (await initiator.receive(second)).reply!
    const mutated = fc
      .tuple(
        fc.constantFrom(first, second, third),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
        fc.nat(),
      )
      .map(([frame, edits, cut]) => {
        const copy = frame.slice(0, frame.length - (cut % 3 === 0 ? cut % frame.length : 0))
        for (const [at, v] of edits) if (copy.length > 0) copy[at % copy.length] = v
        return copy
      })
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated),
        fc.boolean(),
        async (bytes, midway) => {
          // A fresh responder, or an initiator that has sent its first frame and listed ids.
          const target = new Reconciler(await replica(midway ? xs : ys), opts)
          if (midway) await target.initiate()
          try {
            await target.receive(bytes)
          } catch (e) {
            expect(e).toBeInstanceOf(RejectedError)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('reconcile limits', () => {
  const header = (nRanges: number[]): number[] => [1, 0, 0, ...nRanges]

  it('refuses a frame over MAX_FRAME_BYTES before decoding it', async () => {
    const r = new Reconciler(await replica([]))
    await expect(r.receive(new Uint8Array(MAX_FRAME_BYTES + 1))).rejects.toMatchObject({ reason: 'tooLarge' })
  })

  it('refuses an id list longer than MAX_ID_LIST', () => {
    const n = MAX_ID_LIST + 1
    const ids = new Uint8Array(16 * n)
    for (let i = 0; i < n; i++) new DataView(ids.buffer).setUint32(16 * i + 12, i + 1)
    const count = [(n & 0x7f) | 0x80, n >> 7]
    const bytes = new Uint8Array([...header([1]), 255, Mode.idList, ...count, ...ids, 0])
    expect(() => decodeFrame(bytes)).toThrow(/id list length/)
    // One fewer decodes.
    const ok = new Uint8Array([...header([1]), 255, Mode.idList, 0x80, 8, ...ids.subarray(0, 16 * 1024), 0])
    expect(decodeFrame(ok).ranges[0]).toMatchObject({ mode: Mode.idList })
    // A Need can index at most MAX_ID_LIST ids too.
    const needBits = new Uint8Array(Math.ceil(n / 8))
    expect(() =>
      decodeFrame(new Uint8Array([...header([1]), 255, Mode.need, ...count, ...needBits, 0])),
    ).toThrow(/need length/)
  })

  it('refuses more than MAX_RANGES ranges and MAX_EVENTS events', () => {
    const big = (n: number): number[] => [(n & 0x7f) | 0x80, ((n >> 7) & 0x7f) | 0x80, n >> 14]
    expect(() => decodeFrame(new Uint8Array([...header(big(MAX_RANGES + 1))]))).toThrow(/range count/)
    expect(() =>
      decodeFrame(
        new Uint8Array([...header([0]), ...big(MAX_EVENTS + 1), ...new Uint8Array(MAX_EVENTS + 1)]),
      ),
    ).toThrow(/event count/)
  })

  it('refuses an event longer than MAX_EVENT_BYTES', () => {
    const n = MAX_EVENT_BYTES + 1
    const len = [(n & 0x7f) | 0x80, ((n >> 7) & 0x7f) | 0x80, n >> 14]
    expect(() => decodeFrame(new Uint8Array([...header([0]), 1, ...len, ...new Uint8Array(n)]))).toThrow(
      /event length/,
    )
  })

  it('throws LimitError when one event cannot fit in maxFrameBytes', async () => {
    const author = await Identity.fromSeed(new Uint8Array(32).fill(3))
    const [large] = await signedPool({ channel: CH, relay, authors: [author], count: 1, bodyBytes: 2000 })
    const store = new MemoryStore()
    await store.putMany(CH, [toStored(large!)])
    const a = new ChannelLog({ channel: CH, store, relayKeys: [relay.publicKey] })
    const b = await replica([])
    const first = await new Reconciler(b).initiate()
    await expect(
      new Reconciler(a, { maxFrameBytes: 1024, branching: 2, idListThreshold: 2 }).receive(first),
    ).rejects.toThrow(LimitError)
  })
})

describe('reconcile with the dedup rule', () => {
  it('converges when the replicas hold different events for one (author, clientNonce)', async () => {
    const author = await Identity.fromSeed(new Uint8Array(32).fill(4))
    const clientNonce = new Uint8Array(16).fill(0xab)
    const make = async (n: number, body: string): Promise<StampedEvent> =>
      stamp(
        relay,
        fixtureUlid(1_900_000_000_000 + n, n),
        await signRequest(author, {
          channel: CH,
          kind: 'message',
          clientNonce,
          body: new TextEncoder().encode(body),
        }),
      )
    const small = await make(1, 'first')
    const large = await make(2, 'second')
    const a = await replica([0, 1, 2])
    const b = await replica([1, 2, 3])
    await a.add([large])
    await b.add([small])
    await sync(a, b)
    expect(await ids(a)).toEqual(await ids(b))
    expect(await ids(a)).toContain(small.id)
    expect(await ids(a)).not.toContain(large.id)
    expect((await sync(a, b)).frames).toHaveLength(1)
  })
})
