/**
 * LwwMap: the body codec, the fold (order-independent, idempotent, reversible), both clocks
 * on hand-built stamped events, and the real Replica on the memory relay and network:
 * local-first writes, convergence, and the author clock's rules (offline-earlier loses,
 * future-dated clocks are clamped, causality wins over a slow wall clock).
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { MemoryNetwork } from '../../transports/src/memory/network.ts'
import { MemoryRelay } from '../../transports/src/memory/relay.ts'
import { VirtualClock } from '../src/clock.ts'
import { DecodeError } from '../src/errors.ts'
import { Limits, type SignedRequest, type StampedEvent } from '../src/event.ts'
import { Identity, publicKeyToText } from '../src/identity/keys.ts'
import { jsonCodec, stringCodec } from '../src/kit/codecs.ts'
import { decodeLww, encodeLww, KitLimits, LWW_KIND, type LwwBody } from '../src/kit/lww-body.ts'
import { type LwwClock, LwwMap, type LwwMapChange } from '../src/kit/lww-map.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import { Replica } from '../src/replica/replica.ts'
import { MemoryStore } from '../src/store/memory.ts'
import { type Ulid, ulidFromBytes } from '../src/ulid.ts'

const CHANNEL = 'board'
const T0 = 1_750_000_000_000
const HOUR = 3_600_000

beforeAll(() => useNodeCrypto())

// ---- hand-built events -----------------------------------------------------------------

let seq = 0
/** A stamped event as the log would hand it over (signatures are not checked by projections). */
function event(o: {
  author: number
  ts: number
  body: Uint8Array
  kind?: string
  channel?: string
}): StampedEvent {
  const n = ++seq
  const id = new Uint8Array(16)
  let t = o.ts
  for (let i = 5; i >= 0; i--) {
    id[i] = t % 256
    t = Math.floor(t / 256)
  }
  new DataView(id.buffer).setUint32(12, n)
  id[6] = o.author // distinct random parts across authors within one millisecond
  const clientNonce = new Uint8Array(16)
  new DataView(clientNonce.buffer).setUint32(12, n)
  return {
    channel: o.channel ?? CHANNEL,
    kind: o.kind ?? LWW_KIND,
    author: new Uint8Array(32).fill(o.author),
    clientNonce,
    body: o.body,
    authorSig: new Uint8Array(64),
    id: ulidFromBytes(id),
    ts: o.ts,
    relaySig: new Uint8Array(64),
  }
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** A body of map `name` setting (string) or removing (undefined) keys under one clock. */
function body(
  time: number,
  counter: number,
  entries: [string, string | undefined][],
  name = 'tasks',
): Uint8Array {
  return encodeLww({
    name,
    time,
    counter,
    entries: entries.map(([key, v]) => (v === undefined ? { key } : { key, value: utf8(v) })),
  })
}

const detached = (clock: LwwClock = 'author') =>
  LwwMap.detached(CHANNEL, { name: 'tasks', codec: stringCodec, clock })

/** Everything observable about a map, including tombstones. */
function state(map: LwwMap<string>, keys: Iterable<string>) {
  return [...keys].map((k) => [k, map.get(k), map.meta(k)])
}

/** The events shuffled, some delivered twice, cut into batches (seeded). */
function schedule<T>(events: readonly T[], seed: number): T[][] {
  let a = seed >>> 0
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const all = [...events]
  for (const e of events) if (rnd() < 0.3) all.push(e)
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[all[i], all[j]] = [all[j]!, all[i]!]
  }
  const batches: T[][] = []
  for (let i = 0; i < all.length; ) {
    const size = 1 + Math.floor(rnd() * 4)
    batches.push(all.slice(i, i + size))
    i += size
  }
  return batches
}

// ---- the body ---------------------------------------------------------------------------

describe('lww body', () => {
  it('round-trips sets and removals under one clock', () => {
    const b: LwwBody = {
      name: 'tasks',
      time: T0,
      counter: 7,
      entries: [{ key: 'a', value: utf8('x') }, { key: 'b' }, { key: 'é/ü', value: new Uint8Array(0) }],
    }
    expect(decodeLww(encodeLww(b))).toEqual(b)
  })

  it('refuses what a decoder would refuse, at encode time', () => {
    const ok = { name: 'tasks', time: 1, counter: 0, entries: [{ key: 'a' }] }
    expect(() => encodeLww({ ...ok, name: 'Tasks' })).toThrow(RangeError)
    expect(() => encodeLww({ ...ok, entries: [] })).toThrow(RangeError)
    expect(() => encodeLww({ ...ok, entries: [{ key: 'a' }, { key: 'a' }] })).toThrow(RangeError)
    expect(() => encodeLww({ ...ok, entries: [{ key: '' }] })).toThrow(RangeError)
    expect(() => encodeLww({ ...ok, entries: [{ key: 'k'.repeat(KitLimits.key + 1) }] })).toThrow(RangeError)
    expect(() => encodeLww({ ...ok, time: KitLimits.time + 1 })).toThrow(RangeError)
    expect(() => encodeLww({ ...ok, counter: -1 })).toThrow(RangeError)
    expect(() => encodeLww({ ...ok, entries: [{ key: 'a', value: new Uint8Array(Limits.body) }] })).toThrow(
      RangeError,
    )
  })

  it('decodes bounded: bad versions, flags, duplicates, counts and trailing bytes are DecodeErrors', () => {
    const good = body(5, 1, [['a', 'x']])
    const bad = (mutate: (b: Uint8Array) => Uint8Array) => () => decodeLww(mutate(good.slice()))
    const at = (i: number, v: number) => (b: Uint8Array) => {
      b[i] = v
      return b
    }
    expect(bad(at(0, 2))).toThrow(DecodeError)
    expect(bad((b) => new Uint8Array([...b, 0]))).toThrow(DecodeError)
    expect(bad((b) => b.slice(0, -1))).toThrow(DecodeError)
    const flags = good.length - 3 // ... key 'a' | flags | len | 'x'
    expect(bad(at(flags, 3))).toThrow(DecodeError)
    expect(() => decodeLww(body(5, 1, [['a', undefined]]).slice(0, -1))).toThrow(DecodeError)
    const dup = body(5, 1, [
      ['a', 'x'],
      ['b', 'y'],
    ])
    dup[dup.indexOf(98 /* 'b' */)] = 97
    expect(() => decodeLww(dup)).toThrow(DecodeError)
  })

  it('property: arbitrary bytes decode or throw DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, prefixed) => {
        const input = prefixed ? new Uint8Array([1, 5, 116, 97, 115, 107, 115, ...bytes]) : bytes
        try {
          decodeLww(input)
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 2000 },
    )
  })
})

// ---- the fold ---------------------------------------------------------------------------

describe('LwwMap fold', () => {
  it('sets, removes and reports changes per key with the previous value and the source', () => {
    const map = detached()
    const changes: LwwMapChange<string>[] = []
    map.on('change', (c) => changes.push(c))
    map.apply([
      event({
        author: 1,
        ts: T0,
        body: body(T0, 0, [
          ['a', 'one'],
          ['b', 'two'],
        ]),
      }),
    ])
    map.apply([event({ author: 2, ts: T0 + 5, body: body(T0 + 5, 1, [['a', undefined]]) })], { via: 'relay' })
    expect(map.entries()).toEqual([['b', 'two']])
    expect(map.size).toBe(1)
    expect(map.has('a')).toBe(false)
    expect(map.meta('a')).toMatchObject({ removed: true, pending: false, time: T0 + 5, counter: 1 })
    expect(map.meta('b')?.author).toBe(publicKeyToText(new Uint8Array(32).fill(1)))
    expect(changes.map((c) => c.keys)).toEqual([['a', 'b'], ['a']])
    expect(changes[1]!.changes.get('a')).toEqual({
      value: undefined,
      previous: 'one',
      pending: false,
      source: { via: 'relay' },
    })
  })

  it('ignores other maps, kinds, channels, malformed bodies and values its codec refuses', () => {
    const numbers = LwwMap.detached(CHANNEL, {
      name: 'tasks',
      codec: jsonCodec((v) => {
        if (typeof v !== 'number') throw new Error('not a number')
        return v
      }),
    })
    numbers.apply([
      event({ author: 1, ts: T0, body: body(T0, 0, [['a', '1']], 'other') }),
      event({ author: 1, ts: T0, body: body(T0, 0, [['a', '2']]), kind: 'kit.other' }),
      event({ author: 1, ts: T0, body: body(T0, 0, [['a', '3']]), channel: 'elsewhere' }),
      event({ author: 1, ts: T0, body: new Uint8Array([1, 2, 3]) }),
      event({
        author: 1,
        ts: T0,
        body: body(T0, 0, [
          ['a', '"text"'],
          ['b', '42'],
        ]),
      }),
    ])
    expect(numbers.entries()).toEqual([['b', 42]])
    expect(numbers.stats).toEqual({ malformed: 1, rejectedValues: 1 })
  })

  it('takes back a replaced event: the next-greatest write shows again', () => {
    const map = detached()
    const first = event({ author: 1, ts: T0, body: body(T0, 0, [['a', 'first']]) })
    const second = event({ author: 2, ts: T0 + 1, body: body(T0 + 1, 1, [['a', 'second']]) })
    map.apply([first, second])
    expect(map.get('a')).toBe('second')
    map.remove([second.id])
    expect(map.get('a')).toBe('first')
    map.applyChange({ added: [], replaced: [first.id], writes: [], source: { via: 'store' } })
    expect(map.has('a')).toBe(false)
    expect(map.meta('a')).toBeUndefined()
  })

  describe("clock 'author' against 'relay', on hand-built events", () => {
    // Alice edits offline at T0+1000, reaching the relay at T0+3000; Bob edits online at T0+2000.
    const offline = () =>
      event({ author: 1, ts: T0 + 3000, body: body(T0 + 1000, 0, [['title', 'offline']]) })
    const online = () => event({ author: 2, ts: T0 + 2000, body: body(T0 + 2000, 0, [['title', 'online']]) })

    it("(a) 'author': the later online edit wins over the earlier offline one, in any order", () => {
      const [x, y] = [offline(), online()]
      for (const order of [
        [x, y],
        [y, x],
      ]) {
        const map = detached('author')
        map.apply(order)
        expect(map.get('title')).toBe('online')
      }
    })

    it("(a) 'relay': the offline edit wins, being stamped last", () => {
      const [x, y] = [offline(), online()]
      for (const order of [
        [x, y],
        [y, x],
      ]) {
        const map = detached('relay')
        map.apply(order)
        expect(map.get('title')).toBe('offline')
      }
    })

    it('(b) a future-dated author clock is clamped to its relay stamp', () => {
      // Mallory's clock says one hour ahead; her event is stamped at T0. Bob writes at T0+10.
      const future = event({ author: 3, ts: T0, body: body(T0 + HOUR, 0, [['title', 'from the future']]) })
      const later = event({ author: 2, ts: T0 + 10, body: body(T0 + 10, 0, [['title', 'later']]) })
      const map = detached('author')
      map.apply([future])
      expect(map.get('title')).toBe('from the future')
      map.apply([later])
      expect(map.get('title')).toBe('later')
      // Clamped to T0, it still beats what was written before T0.
      const earlier = event({ author: 2, ts: T0 - 5, body: body(T0 - 5, 0, [['title', 'earlier']]) })
      const other = detached('author')
      other.apply([earlier, future])
      expect(other.get('title')).toBe('from the future')
    })

    it('ties on effective time break by counter, then by event id', () => {
      const a = event({ author: 1, ts: T0, body: body(T0, 2, [['k', 'counter 2']]) })
      const b = event({ author: 2, ts: T0 + 50, body: body(T0, 1, [['k', 'counter 1']]) })
      const c = event({ author: 3, ts: T0 + 60, body: body(T0, 2, [['k', 'counter 2, later id']]) })
      const map = detached('author')
      map.apply([c, b, a])
      expect(map.get('k')).toBe('counter 2, later id')
      map.remove([c.id])
      expect(map.get('k')).toBe('counter 2')
    })
  })

  describe('property: order-independent and idempotent', () => {
    const op = fc.record({
      author: fc.integer({ min: 1, max: 3 }),
      keys: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 3 }),
      remove: fc.boolean(),
      value: fc.string({ maxLength: 3 }),
      // Small ranges so that times, counters and stamps tie often; time > ts is future-dated.
      time: fc.integer({ min: 0, max: 40 }),
      counter: fc.integer({ min: 0, max: 3 }),
      ts: fc.integer({ min: 0, max: 40 }),
    })
    type Op = typeof op extends fc.Arbitrary<infer T> ? T : never
    const build = (ops: Op[]) =>
      ops.map((o) =>
        event({
          author: o.author,
          ts: T0 + o.ts,
          body: body(
            T0 + o.time,
            o.counter,
            o.keys.map((k): [string, string | undefined] => [
              k,
              o.remove ? undefined : `${o.value}@${o.author}`,
            ]),
          ),
        }),
      )
    const KEYS = ['a', 'b', 'c', 'd']

    for (const clock of ['author', 'relay'] as const) {
      it(`clock '${clock}': any permutation, duplication and batching gives the same map`, () => {
        fc.assert(
          fc.property(
            fc.array(op, { minLength: 1, maxLength: 25 }),
            fc.integer(),
            fc.integer(),
            (ops, s1, s2) => {
              const events = build(ops)
              const reference = detached(clock)
              reference.apply(events)
              const maps = [s1, s2].map((seed) => {
                const m = detached(clock)
                for (const batch of schedule(events, seed)) m.apply(batch)
                return m
              })
              for (const m of maps) {
                expect(state(m, KEYS)).toEqual(state(reference, KEYS))
                expect(m.entries()).toEqual(reference.entries())
                expect(m.size).toBe(reference.entries().length)
              }
            },
          ),
          { numRuns: 300 },
        )
      })
    }

    it('removing events gives the map of the events that are left', () => {
      fc.assert(
        fc.property(
          fc.array(op, { minLength: 1, maxLength: 25 }),
          fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
          (ops, drop) => {
            const events = build(ops)
            const gone = events.filter((_, i) => drop[i])
            const kept = events.filter((_, i) => !drop[i])
            const map = detached()
            map.apply(events)
            map.remove(gone.map((e) => e.id))
            const fresh = detached()
            fresh.apply(kept)
            expect(state(map, KEYS)).toEqual(state(fresh, KEYS))
            expect(map.size).toBe(fresh.size)
          },
        ),
        { numRuns: 300 },
      )
    })
  })
})

// ---- on the Replica ---------------------------------------------------------------------

/** Replicas on one virtual clock, a memory relay and a memory mesh. */
async function world(
  o: { refuse?: (r: SignedRequest) => { code: string; message: string } | undefined } = {},
) {
  const clock = new VirtualClock(T0)
  const network = new MemoryNetwork({ seed: 3, clock })
  const relay = new MemoryRelay({
    signer: await Identity.generate(),
    clock,
    ...(o.refuse ? { refuse: o.refuse } : {}),
  })
  const replicas: Replica[] = []
  let n = 0
  const peer = async (opts: { mesh?: boolean } = {}) => {
    const replica = await Replica.open({
      store: new MemoryStore(),
      relayKeys: [relay.publicKey],
      signer: await Identity.generate(),
      clock,
      random: () => 0.5,
    })
    replicas.push(replica)
    const port = relay.client()
    replica.connect(port)
    if (opts.mesh) {
      const transport = network.transport(`p${n++}`)
      replica.attach(transport)
      await transport.start()
    }
    return { replica, port }
  }
  const stop = async () => {
    for (const r of replicas) await r.stop()
  }
  return { clock, relay, peer, stop }
}

const open = (replica: Replica, o: { clock?: LwwClock; now?: () => number } = {}) =>
  LwwMap.open(replica, CHANNEL, { name: 'tasks', codec: stringCodec, ...o })

describe('LwwMap on the Replica', () => {
  it('shows a write at once as pending, then stamped; a refused write goes away', async () => {
    const w = await world({
      refuse: (r) => (r.body.length > 60 ? { code: 'too_big', message: 'no' } : undefined),
    })
    const { replica } = await w.peer()
    const map = await open(replica)
    const seen: [string, string | undefined, boolean][] = []
    map.on('change', (c) => {
      for (const k of c.keys) seen.push([k, c.changes.get(k)!.value, c.changes.get(k)!.pending])
    })
    const writing = map.set('a', 'hello')
    expect(map.get('a')).toBe('hello') // before signing, before the relay
    expect(map.meta('a')).toMatchObject({ pending: true })
    const write = await writing
    expect(write.state).toBe('pending')
    await w.clock.advance(100)
    expect(write.state).toBe('stamped')
    expect(map.meta('a')).toMatchObject({ pending: false, id: write.event!.id, ts: write.event!.ts })
    expect(seen).toEqual([
      ['a', 'hello', true],
      ['a', 'hello', false],
    ])
    const refused = await map.set('a', 'x'.repeat(80))
    expect(map.get('a')).toBe('x'.repeat(80))
    await w.clock.advance(100)
    expect(refused.state).toBe('failed')
    expect(map.get('a')).toBe('hello')
    expect(await map.delete('nothing')).toBeUndefined()
    await w.stop()
  })

  it('picks up pending writes and stored events when reopened', async () => {
    const w = await world()
    const { replica, port } = await w.peer()
    const map = await open(replica)
    await map.set('a', 'stamped')
    await w.clock.advance(100)
    port.setLink(false)
    await map.set('b', 'pending')
    map.close()
    const again = await open(replica)
    expect(again.entries()).toEqual([
      ['a', 'stamped'],
      ['b', 'pending'],
    ])
    expect(again.meta('b')?.pending).toBe(true)
    port.setLink(true)
    await w.clock.advance(100)
    expect(again.meta('b')?.pending).toBe(false)
    expect(again.size).toBe(2)
    await w.stop()
  })

  it('two replicas converge through the relay; writes to different keys never interfere', async () => {
    const w = await world()
    const a = await w.peer()
    const b = await w.peer()
    const ma = await open(a.replica)
    const mb = await open(b.replica)
    await Promise.all([ma.set('x', 'from a'), mb.set('y', 'from b')])
    await Promise.all([ma.set('z', 'a wins?'), mb.set('z', 'b wins?')])
    await w.clock.advance(200)
    await ma.write([
      { key: 'x', remove: true },
      { key: 'w', value: 'batch' },
    ])
    await w.clock.advance(200)
    expect(ma.entries()).toEqual(mb.entries())
    expect(ma.get('y')).toBe('from b')
    expect(ma.has('x')).toBe(false)
    expect(mb.get('w')).toBe('batch')
    expect(['a wins?', 'b wins?']).toContain(ma.get('z'))
    expect(ma.meta('z')).toEqual(mb.meta('z'))
    await w.stop()
  })

  for (const clock of ['author', 'relay'] as const) {
    it(`(a) offline-earlier against online-later, clock '${clock}'`, async () => {
      const w = await world()
      const alice = await w.peer({ mesh: true })
      const bob = await w.peer({ mesh: true })
      const ma = await open(alice.replica, { clock })
      const mb = await open(bob.replica, { clock })
      await ma.set('title', 'draft')
      await w.clock.advance(1_000)
      // Alice loses the relay and edits at T0+2s; Bob edits at T0+5s, online.
      alice.port.setLink(false)
      await ma.set('title', 'offline edit')
      await w.clock.advance(3_000)
      await mb.set('title', 'online edit')
      await w.clock.advance(2_000)
      expect(ma.get('title')).toBe('offline edit') // her pending edit; she has not seen Bob's
      expect(mb.get('title')).toBe('online edit')
      // Alice reconnects at T0+7s: her edit is stamped after Bob's, and she catches up with Bob.
      alice.port.setLink(true)
      await w.clock.advance(5_000)
      expect(ma.meta('title')?.pending).toBe(false)
      expect(await alice.replica.open(CHANNEL).count()).toBe(3)
      expect(await bob.replica.open(CHANNEL).count()).toBe(3)
      const winner = clock === 'author' ? 'online edit' : 'offline edit'
      expect(ma.get('title')).toBe(winner)
      expect(mb.get('title')).toBe(winner)
      await w.stop()
    })
  }

  it('(b) a replica whose clock runs an hour ahead cannot win for ever', async () => {
    const w = await world()
    const mallory = await w.peer()
    const bob = await w.peer()
    const mm = await open(mallory.replica, { now: () => w.clock.now() + HOUR })
    const mb = await open(bob.replica)
    await mm.set('title', 'future')
    await w.clock.advance(100)
    expect(mm.meta('title')!.time).toBe(T0 + HOUR)
    const stamped = mm.meta('title')!.ts!
    expect(stamped).toBeLessThan(T0 + 1000)
    // A minute later Bob, who has not changed anything, writes with his true clock: he wins.
    await w.clock.advance(60_000)
    await mb.set('title', 'now')
    await w.clock.advance(100)
    expect(mb.meta('title')!.time).toBeLessThan(T0 + HOUR)
    expect(mm.get('title')).toBe('now')
    expect(mb.get('title')).toBe('now')
    await w.stop()
  })

  it('(c) causality: a write made after seeing a value wins even when the writer clock is behind', async () => {
    const w = await world()
    const alice = await w.peer()
    const bob = await w.peer()
    const ma = await open(alice.replica)
    const mb = await open(bob.replica, { now: () => w.clock.now() - 10 * 60_000 }) // ten minutes slow
    await w.clock.advance(5_000)
    await ma.set('status', 'doing')
    await w.clock.advance(100)
    expect(mb.get('status')).toBe('doing')
    const seen = mb.meta('status')!
    await mb.set('status', 'done')
    // Bob's wall clock says ten minutes ago; his clock goes one past what he has seen.
    expect(mb.meta('status')!.time).toBe(Math.min(seen.time, seen.ts!) + 1)
    await w.clock.advance(100)
    expect(ma.get('status')).toBe('done')
    expect(mb.get('status')).toBe('done')
    expect(mb.meta('status')!.counter).toBe(seen.counter + 1)
    await w.stop()
  })

  it('a detached map cannot write; a closed map stops following', async () => {
    await expect(detached().set('a', 'x')).rejects.toThrow(/detached/)
    const w = await world()
    const { replica } = await w.peer()
    const map = await open(replica)
    map.close()
    await expect(map.set('a', 'x')).rejects.toThrow(/closed/)
    const other = await open(replica)
    await other.set('a', 'x')
    expect(map.has('a')).toBe(false)
    expect(other.get('a')).toBe('x')
    await w.stop()
  })
})

// Keep the id helper honest: ids of hand-built events sort by their stamp time.
it('hand-built events sort by ts', () => {
  const a = event({ author: 9, ts: T0, body: body(T0, 0, [['k', 'v']]) })
  const b = event({ author: 1, ts: T0 + 1, body: body(T0, 0, [['k', 'v']]) })
  expect(a.id < b.id).toBe(true)
  expect(typeof (a.id as Ulid)).toBe('string')
})
