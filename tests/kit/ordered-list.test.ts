/**
 * OrderedList on real Replicas and the memory relay: insert, move, update and remove
 * local-first, concurrent inserts at one spot, a concurrent move and edit, equal positions from
 * a hostile writer. The fold alone is tested in engine/test/kit.ordered-list.test.ts.
 */
import { utf8 } from '@peerchat/engine'
import { between, encodeLww, LWW_KIND, OrderedList, stringCodec } from '@peerchat/engine/kit'
import { SeededRandom } from '@peerchat/transports/memory'
import { describe, expect, it } from 'vitest'
import { T0, world } from './world.ts'

const CHANNEL = 'board'

const order = (list: OrderedList<string>) => list.items().map((i) => i.value)

/** Peers that each follow the list `cards`, placing items with their own seeded randomness. */
async function lists() {
  const w = await world()
  let n = 0
  const peer = async () => {
    const p = await w.peer()
    const random = new SeededRandom(100 + n++)
    const list = await OrderedList.open(p.replica, CHANNEL, {
      name: 'cards',
      codec: stringCodec,
      random: () => random.next(),
    })
    return { ...p, list }
  }
  return { ...w, peer }
}

describe('OrderedList on the Replica', () => {
  it('inserts, moves, updates and removes, local-first, and two replicas show the same order', async () => {
    const w = await lists()
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
    const w = await lists()
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
    const w = await lists()
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
    const w = await lists()
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
