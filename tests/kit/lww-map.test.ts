/**
 * LwwMap on real Replicas, the memory relay and the memory mesh: local-first writes,
 * reopening, convergence, and the author clock's rules (offline-earlier loses, future-dated
 * clocks are clamped, causality wins over a slow wall clock). The body codec and the fold
 * alone are tested in engine/test/kit.lww-map.test.ts.
 */
import type { Replica } from '@peerchat/engine'
import { type LwwClock, LwwMap, stringCodec } from '@peerchat/engine/kit'
import { describe, expect, it } from 'vitest'
import { T0, world } from './world.ts'

const CHANNEL = 'board'
const HOUR = 3_600_000

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
    await expect(
      LwwMap.detached(CHANNEL, { name: 'tasks', codec: stringCodec }).set('a', 'x'),
    ).rejects.toThrow(/detached/)
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
