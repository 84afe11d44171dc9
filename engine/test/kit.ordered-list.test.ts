/**
 * OrderedList without a Replica: the fold (sorted by position then id, the same whatever the
 * delivery order and duplication), on hand-built stamped events. Insert, move, update and
 * remove on real Replicas and the memory relay are tested in tests/kit/ordered-list.test.ts.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stringCodec } from '../src/kit/codecs.ts'
import { OrderedList, type OrderedListChange } from '../src/kit/ordered-list.ts'
import { between } from '../src/kit/position.ts'
import { CHANNEL, type Field, kitEvent, lwwBody, prng, schedule, T0 } from './kit-fixtures.ts'

/** An event of the list `cards` (counter 0) setting or removing item fields. */
const event = (author: number, ts: number, time: number, fields: Field[]) =>
  kitEvent({ author, ts, body: lwwBody('cards', time, 0, fields) })

const detached = () => OrderedList.detached(CHANNEL, { name: 'cards', codec: stringCodec })
const order = (list: OrderedList<string>) => list.items().map((i) => i.value)

describe('OrderedList fold', () => {
  it('sorts by position, then id; an item without a position sorts first; removal hides', () => {
    const list = detached()
    list.apply([
      event(1, T0, T0, [
        ['v/x', 'X'],
        ['p/x', 'a1'],
      ]),
      event(1, T0 + 1, T0 + 1, [
        ['v/y', 'Y'],
        ['p/y', 'a0'],
      ]),
      event(2, T0 + 2, T0 + 2, [
        ['v/w', 'W'],
        ['p/w', 'a0'],
      ]),
      event(2, T0 + 3, T0 + 3, [['v/bare', 'no position']]),
      event(2, T0 + 4, T0 + 4, [['p/ghost', 'a5']]), // a position without a value: no item
    ])
    expect(list.ids()).toEqual(['bare', 'w', 'y', 'x'])
    expect(list.get('bare')?.position).toBe('')
    list.apply([event(3, T0 + 5, T0 + 5, [['v/w', undefined]])])
    expect(order(list)).toEqual(['no position', 'Y', 'X'])
    expect(list.size).toBe(3)
    expect(list.indexOf('x')).toBe(2)
    expect(list.indexOf('w')).toBe(-1)
  })

  it('ignores invalid positions and keys that are not fields of an item', () => {
    const list = detached()
    list.apply([
      event(1, T0, T0, [
        ['v/x', 'X'],
        ['p/x', 'a00'], // trailing zero: not a position
        ['other', 'ignored'],
      ]),
    ])
    expect(list.items()).toEqual([{ id: 'x', value: 'X', position: '' }])
    expect(list.map.stats.rejectedValues).toBe(2)
  })

  it('reports insert, move, update and removal per item', () => {
    const list = detached()
    const changes: OrderedListChange<string>[] = []
    list.on('change', (c) => changes.push(c))
    list.apply([
      event(1, T0, T0, [
        ['v/x', 'X'],
        ['p/x', 'a1'],
      ]),
    ])
    list.apply([event(1, T0 + 1, T0 + 1, [['p/x', 'a2']])])
    list.apply([event(1, T0 + 2, T0 + 2, [['v/x', 'X2']])])
    list.apply([event(1, T0 + 3, T0 + 3, [['v/x', undefined]])])
    expect(changes.map((c) => c.changes.get('x'))).toMatchObject([
      { value: 'X', previous: undefined, position: 'a1', previousPosition: undefined },
      { value: 'X', previous: 'X', position: 'a2', previousPosition: 'a1' },
      { value: 'X2', previous: 'X', position: 'a2', previousPosition: 'a2' },
      { value: undefined, previous: 'X2', position: undefined, previousPosition: 'a2' },
    ])
  })

  it('property: replicas folding the same events in any order and duplication show the same order', () => {
    const positions = (() => {
      const random = prng(5)
      const keys = [between(undefined, undefined, { random })]
      for (let i = 0; i < 12; i++) {
        const at = Math.floor(random() * (keys.length + 1))
        keys.splice(at, 0, between(keys[at - 1], keys[at], { random }))
      }
      return [...keys, keys[3]!, keys[3]!] // equal positions happen (a hostile or unlucky writer)
    })()
    const op = fc.record({
      author: fc.integer({ min: 1, max: 3 }),
      item: fc.constantFrom('i1', 'i2', 'i3', 'i4', 'i5'),
      kind: fc.constantFrom('insert', 'move', 'update', 'remove'),
      position: fc.constantFrom(...positions),
      value: fc.string({ maxLength: 2 }),
      time: fc.integer({ min: 0, max: 30 }),
      ts: fc.integer({ min: 0, max: 30 }),
    })
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), fc.integer(), (ops, seed) => {
        const events = ops.map((o) => {
          const v: Field = [`v/${o.item}`, o.kind === 'remove' ? undefined : o.value]
          const p: [string, string] = [`p/${o.item}`, o.position]
          const fields = o.kind === 'insert' ? [v, p] : o.kind === 'move' ? [p] : [v]
          return event(o.author, T0 + o.ts, T0 + o.time, fields)
        })
        const reference = detached()
        reference.apply(events)
        const other = detached()
        for (const batch of schedule(events, seed)) other.apply(batch)
        expect(other.items()).toEqual(reference.items())
        const sorted = [...reference.items()].sort((a, b) =>
          a.position < b.position ? -1 : a.position > b.position ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
        )
        expect(reference.items()).toEqual(sorted)
      }),
      { numRuns: 300 },
    )
  })
})
