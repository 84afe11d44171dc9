/**
 * OrderedList: the fold (sorted by position then id, the same on every replica whatever the
 * delivery order), and the real Replica on the memory relay: insert, move, update, remove,
 * concurrent inserts at one spot, concurrent move and edit, equal positions from a hostile writer.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { MemoryRelay } from '../../transports/src/memory/relay.ts'
import { VirtualClock } from '../src/clock.ts'
import type { StampedEvent } from '../src/event.ts'
import { Identity } from '../src/identity/keys.ts'
import { stringCodec } from '../src/kit/codecs.ts'
import { encodeLww, LWW_KIND } from '../src/kit/lww-body.ts'
import { OrderedList, type OrderedListChange } from '../src/kit/ordered-list.ts'
import { between } from '../src/kit/position.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import { Replica } from '../src/replica/replica.ts'
import { MemoryStore } from '../src/store/memory.ts'
import { ulidFromBytes } from '../src/ulid.ts'

const CHANNEL = 'board'
const T0 = 1_750_000_000_000

beforeAll(() => useNodeCrypto())

function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

let seq = 0
/** A stamped event of the list `cards` as the log hands it over (signatures are the log's job). */
function event(
  author: number,
  ts: number,
  time: number,
  fields: [string, string | undefined][],
): StampedEvent {
  const n = ++seq
  const id = new Uint8Array(16)
  let t = ts
  for (let i = 5; i >= 0; i--) {
    id[i] = t % 256
    t = Math.floor(t / 256)
  }
  id[6] = author
  new DataView(id.buffer).setUint32(12, n)
  const clientNonce = new Uint8Array(16)
  new DataView(clientNonce.buffer).setUint32(12, n)
  return {
    channel: CHANNEL,
    kind: LWW_KIND,
    author: new Uint8Array(32).fill(author),
    clientNonce,
    body: encodeLww({
      name: 'cards',
      time,
      counter: 0,
      entries: fields.map(([key, v]) => (v === undefined ? { key } : { key, value: utf8(v) })),
    }),
    authorSig: new Uint8Array(64),
    id: ulidFromBytes(id),
    ts,
    relaySig: new Uint8Array(64),
  }
}

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
          const v: [string, string | undefined] = [`v/${o.item}`, o.kind === 'remove' ? undefined : o.value]
          const p: [string, string] = [`p/${o.item}`, o.position]
          const fields = o.kind === 'insert' ? [v, p] : o.kind === 'move' ? [p] : [v]
          return event(o.author, T0 + o.ts, T0 + o.time, fields)
        })
        const reference = detached()
        reference.apply(events)
        const random = prng(seed)
        const shuffled = [...events, ...events.filter(() => random() < 0.3)]
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1))
          ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
        }
        const other = detached()
        for (let i = 0; i < shuffled.length; i += 3) other.apply(shuffled.slice(i, i + 3))
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

// ---- on the Replica ---------------------------------------------------------------------

async function world() {
  const clock = new VirtualClock(T0)
  const relay = new MemoryRelay({ signer: await Identity.generate(), clock })
  const replicas: Replica[] = []
  let n = 0
  const peer = async () => {
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
    const list = await OrderedList.open(replica, CHANNEL, {
      name: 'cards',
      codec: stringCodec,
      random: prng(100 + n++),
    })
    return { replica, port, list }
  }
  const stop = async () => {
    for (const r of replicas) await r.stop()
  }
  return { clock, peer, stop }
}

describe('OrderedList on the Replica', () => {
  it('inserts, moves, updates and removes, local-first, and two replicas show the same order', async () => {
    const w = await world()
    const a = await w.peer()
    const b = await w.peer()
    const todo = await a.list.insert('todo')
    const done = await a.list.insert('done')
    const doing = await a.list.insert('doing', { after: todo })
    expect(order(a.list)).toEqual(['todo', 'doing', 'done']) // before any stamp
    expect(order(b.list)).toEqual([])
    await w.clock.advance(100)
    expect(order(b.list)).toEqual(['todo', 'doing', 'done'])
    await b.list.move(done, { before: todo })
    await b.list.update(doing, 'in progress')
    const top = await b.list.insert('first!', { before: done })
    await w.clock.advance(100)
    expect(order(a.list)).toEqual(['first!', 'done', 'todo', 'in progress'])
    await a.list.remove(top)
    await a.list.move(todo, { after: doing })
    await a.list
      .move(done, { after: todo, before: doing }) // inconsistent: todo is after doing
      .then(
        () => expect.unreachable(),
        (e: Error) => expect(e).toBeInstanceOf(RangeError),
      )
    await w.clock.advance(100)
    expect(order(a.list)).toEqual(['done', 'in progress', 'todo'])
    expect(b.list.items()).toEqual(a.list.items())
    await w.stop()
  })

  it('concurrent inserts at one spot both land there, in the same order everywhere', async () => {
    const w = await world()
    const a = await w.peer()
    const b = await w.peer()
    const first = await a.list.insert('first')
    await a.list.insert('last')
    await w.clock.advance(100)
    // Both insert right after `first` before seeing each other's.
    const fromA = await a.list.insert('from a', { after: first })
    const fromB = await b.list.insert('from b', { after: first })
    expect(a.list.get(fromA)!.position).not.toBe(b.list.get(fromB)!.position)
    await w.clock.advance(100)
    expect(a.list.items()).toEqual(b.list.items())
    expect(order(a.list).slice(1, 3).sort()).toEqual(['from a', 'from b'])
    expect(order(a.list)[0]).toBe('first')
    expect(order(a.list)[3]).toBe('last')
    // And something can still go between the two.
    const [x, y] = a.list.ids().slice(1, 3) as [string, string]
    await a.list.insert('between', { after: x, before: y })
    await w.clock.advance(100)
    expect(order(b.list)[2]).toBe('between')
    await w.stop()
  })

  it('a concurrent move and edit of one item both count', async () => {
    const w = await world()
    const a = await w.peer()
    const b = await w.peer()
    const x = await a.list.insert('x')
    await a.list.insert('y')
    await w.clock.advance(100)
    await a.list.update(x, 'x edited')
    await b.list.move(x, { after: b.list.ids()[1]! })
    await w.clock.advance(100)
    expect(order(a.list)).toEqual(['y', 'x edited'])
    expect(b.list.items()).toEqual(a.list.items())
    await w.stop()
  })

  it('items sharing a position (a hostile writer) still take an insert after them', async () => {
    const w = await world()
    const a = await w.peer()
    const p = between(undefined, undefined)
    for (const id of ['m', 'n'])
      await a.replica.write(
        CHANNEL,
        LWW_KIND,
        encodeLww({
          name: 'cards',
          time: T0,
          counter: 0,
          entries: [
            { key: `v/${id}`, value: utf8(id) },
            { key: `p/${id}`, value: utf8(p) },
          ],
        }),
      )
    await w.clock.advance(100)
    expect(a.list.ids()).toEqual(['m', 'n'])
    await a.list.insert('after m', { after: 'm' }) // no key fits between m and n: it goes after both
    await a.list.insert('before n', { before: 'n' })
    expect(order(a.list)).toEqual(['before n', 'm', 'n', 'after m'])
    await expect(a.list.update('nope', 'x')).rejects.toThrow(RangeError)
    await expect(a.list.insert('dup', { id: 'm' })).rejects.toThrow(RangeError)
    expect(await a.list.remove('nope')).toBeUndefined()
    await w.stop()
  })
})
