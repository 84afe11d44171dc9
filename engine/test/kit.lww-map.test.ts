/**
 * LwwMap without a Replica: the body codec and the fold (order-independent, idempotent,
 * reversible) under both clocks, on hand-built stamped events. The map on real Replicas and
 * the memory relay is tested in tests/kit/lww-map.test.ts.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DecodeError } from '../src/errors.ts'
import { Limits } from '../src/event.ts'
import { publicKeyToText } from '../src/identity/keys.ts'
import { jsonCodec, stringCodec } from '../src/kit/codecs.ts'
import { decodeLww, encodeLww, KitLimits, type LwwBody } from '../src/kit/lww-body.ts'
import { type LwwClock, LwwMap, type LwwMapChange } from '../src/kit/lww-map.ts'
import type { Ulid } from '../src/ulid.ts'
import { CHANNEL, kitEvent as event, type Field, lwwBody, schedule, T0, utf8 } from './kit-fixtures.ts'

const HOUR = 3_600_000

/** A body of map `name` setting (string) or removing (undefined) keys under one clock. */
const body = (time: number, counter: number, fields: Field[], name = 'tasks') =>
  lwwBody(name, time, counter, fields)

const detached = (clock: LwwClock = 'author') =>
  LwwMap.detached(CHANNEL, { name: 'tasks', codec: stringCodec, clock })

/** Everything observable about a map, including tombstones. */
function state(map: LwwMap<string>, keys: Iterable<string>) {
  return [...keys].map((k) => [k, map.get(k), map.meta(k)])
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
            o.keys.map((k): Field => [k, o.remove ? undefined : `${o.value}@${o.author}`]),
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

// Keep the id helper honest: ids of hand-built events sort by their stamp time.
it('hand-built events sort by ts', () => {
  const a = event({ author: 9, ts: T0, body: body(T0, 0, [['k', 'v']]) })
  const b = event({ author: 1, ts: T0 + 1, body: body(T0, 0, [['k', 'v']]) })
  expect(a.id < b.id).toBe(true)
  expect(typeof (a.id as Ulid)).toBe('string')
})
