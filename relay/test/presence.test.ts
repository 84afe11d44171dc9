/** The presence rosters (relay/src/core/presence.ts): head, ticks, snapshots, pages and finds. */
import { encodeSigned, Identity, signSession } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { cursorBytes, cursorOrder, latin1, Presence, type PresenceTick } from '../src/core/presence.ts'

useNodeCrypto()
const TICK = 200

/** Session `n`: its id, join id and key are derived from n (join ids in n order unless given). */
function session(n: number, o: { joinAt?: number; key?: number } = {}) {
  const id = new Uint8Array(16)
  new DataView(id.buffer).setUint32(12, n)
  const joinId = new Uint8Array(16)
  new DataView(joinId.buffer).setUint32(6, o.joinAt ?? n)
  const publicKey = new Uint8Array(32).fill(o.key ?? n % 251)
  // The attestation is opaque here: the session id stands for it.
  return { sessionId: id, joinId, attestation: id, publicKey }
}
const sid = (n: number) => latin1(session(n).sessionId)
const ids = (list: readonly Uint8Array[]) =>
  list.map((b) => new DataView(b.buffer, b.byteOffset).getUint32(12))

describe('Presence', () => {
  it('a join in a quiet channel ticks at once', () => {
    const p = new Presence({ head: 3, tickMs: TICK })
    p.join('g', session(1))
    const [t] = p.tick(0, 'g')
    expect(t).toMatchObject({ channel: 'g', count: 1, reset: false })
    expect(ids(t!.entered)).toEqual([1])
    expect(t!.left).toEqual([])
    expect(p.tick(0)).toEqual([]) // nothing new
  })

  it('changes within tickMs wait for one tick; beyond the head they only move the count', () => {
    const p = new Presence({ head: 2, tickMs: TICK })
    p.join('g', session(1))
    expect(p.tick(0, 'g')).toHaveLength(1)
    for (let n = 2; n <= 50; n++) {
      p.join('g', session(n))
      expect(p.tick(n, 'g')).toEqual([]) // not due: the last tick was at 0
    }
    const [t] = p.tick(TICK)
    expect(t!.count).toBe(50)
    expect(ids(t!.entered)).toEqual([2]) // the head holds 1 and 2
    p.join('g', session(51))
    const [later] = p.tick(2 * TICK)
    expect(later).toMatchObject({ count: 51, entered: [], left: [], reset: false })
  })

  it('a head member leaving is replaced by the next in join order', () => {
    const p = new Presence({ head: 2, tickMs: TICK })
    for (let n = 1; n <= 4; n++) p.join('g', session(n))
    p.tick(0)
    expect(p.leave('g', session(1).sessionId)).toBe(true)
    expect(p.leave('g', session(1).sessionId)).toBe(false)
    const [t] = p.tick(TICK)
    expect(ids(t!.left)).toEqual([1])
    expect(ids(t!.entered)).toEqual([3])
    expect(t!.count).toBe(3)
    expect(ids(p.snapshot('g').map((m) => m.attestation))).toEqual([2, 3])
  })

  it('a session that joins and leaves the head between two ticks is named as gone (a snapshot may hold it)', () => {
    const p = new Presence({ head: 5, tickMs: TICK })
    p.join('g', session(1))
    p.tick(0)
    p.join('g', session(2))
    p.leave('g', session(2).sessionId)
    const [t] = p.tick(TICK)
    expect(t).toMatchObject({ count: 1, entered: [] })
    expect(ids(t!.left)).toEqual([2])
    // Outside the head it costs nothing at all.
    const q = new Presence({ head: 1, tickMs: TICK })
    q.join('g', session(1))
    q.tick(0)
    q.join('g', session(2))
    q.leave('g', session(2).sessionId)
    expect(q.tick(TICK)).toEqual([])
  })

  it('more than maxLeft sessions leaving the head in one tick make it a reset: the whole head', () => {
    const p = new Presence({ head: 3, tickMs: TICK, maxLeft: 4 })
    for (let n = 1; n <= 20; n++) p.join('g', session(n), n <= 10 ? 'node-b' : '')
    p.tick(0)
    p.leaveOrigin('node-b')
    const [t] = p.tick(TICK)
    expect(t).toMatchObject({ count: 10, left: [], reset: true })
    expect(ids(t!.entered)).toEqual([11, 12, 13])
  })

  it('a session of another node with an earlier join id enters the head and pushes the last one out', () => {
    const p = new Presence({ head: 2, tickMs: TICK })
    p.join('g', session(10, { joinAt: 10 }))
    p.join('g', session(20, { joinAt: 20 }))
    p.tick(0)
    p.join('g', session(5, { joinAt: 5 }), 'node-b')
    const [t] = p.tick(TICK)
    expect(ids(t!.entered)).toEqual([5])
    expect(ids(t!.left)).toEqual([20])
    expect(p.leaveOrigin('node-b')).toEqual(['g'])
    const [back] = p.tick(2 * TICK)
    expect(ids(back!.entered)).toEqual([20])
    expect(ids(back!.left)).toEqual([5])
  })

  it('the snapshot is the head, plus the asking session when it is outside the head', () => {
    const p = new Presence({ head: 2, tickMs: TICK })
    for (let n = 1; n <= 5; n++) p.join('g', session(n))
    expect(ids(p.snapshot('g', sid(4)).map((m) => m.attestation))).toEqual([1, 2, 4])
    expect(ids(p.snapshot('g', sid(2)).map((m) => m.attestation))).toEqual([1, 2])
    expect(p.snapshot('nowhere')).toEqual([])
  })

  it('pages return every member once, in join order, even when the cursor member left', () => {
    const p = new Presence({ head: 2, tickMs: TICK })
    for (let n = 1; n <= 10; n++) p.join('g', session(n))
    const seen: number[] = []
    let after: string | null = null
    for (;;) {
      const page: ReturnType<Presence['page']> = p.page('g', after, 3)
      seen.push(...ids(page.members.map((m) => m.attestation)))
      if (page.next === null) break
      // The wire form of a cursor is its 32 bytes.
      expect(cursorBytes(page.next)).toHaveLength(32)
      after = cursorOrder(cursorBytes(page.next))
      if (seen.length === 3) p.leave('g', session(3).sessionId)
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(p.page('g', null, 10).next).toBeNull()
    expect(p.page('other', null, 10)).toEqual({ members: [], next: null })
  })

  it('find returns every session of the keys asked, outside the head too', () => {
    const p = new Presence({ head: 2, tickMs: TICK })
    for (let n = 1; n <= 10; n++) p.join('g', session(n, { key: n === 9 ? 7 : n }))
    const key7 = latin1(new Uint8Array(32).fill(7))
    expect(ids(p.find('g', [key7], 256).map((m) => m.attestation))).toEqual([7, 9])
    expect(p.find('g', [key7], 1)).toHaveLength(1)
    p.leave('g', session(7).sessionId)
    expect(ids(p.find('g', [key7, key7], 256).map((m) => m.attestation))).toEqual([9])
  })

  it("another node's join: the key is read from the attestation; one that does not decode is dropped", async () => {
    const relay = await Identity.generate()
    const who = await Identity.generate()
    const signed = await signSession(relay, {
      relayKey: relay.publicKey,
      publicKey: who.publicKey,
      sessionId: session(1).sessionId,
      privileges: 1,
      issued: 1,
      expires: 2,
    })
    const p = new Presence({ head: 3, tickMs: TICK })
    const { sessionId, joinId } = session(1)
    expect(p.join('g', { sessionId, joinId, attestation: encodeSigned(signed) }, 'node-b')).toBe(true)
    expect(p.find('g', [latin1(who.publicKey)], 5)).toHaveLength(1)
    expect(
      p.join('g', { sessionId: session(2).sessionId, joinId, attestation: Uint8Array.of(1, 2) }, 'node-b'),
    ).toBe(false)
    expect(p.count('g')).toBe(1)
  })

  it('joining again keeps the place; a different join id moves it', () => {
    const p = new Presence({ head: 3, tickMs: TICK })
    p.join('g', session(1))
    p.join('g', session(2))
    expect(p.join('g', session(1))).toBe(false)
    expect(p.join('g', session(1, { joinAt: 99 }))).toBe(false)
    expect(ids(p.page('g', null, 5).members.map((m) => m.attestation))).toEqual([2, 1])
    expect(p.count('g')).toBe(2)
  })

  it('property: members applying their snapshot and every tick after it hold exactly the head and the count', () => {
    type Op =
      | { op: 'join'; n: number; remote: boolean; joinAt: number }
      | { op: 'leave'; n: number }
      | { op: 'again'; n: number }
      | { op: 'origin' }
      | { op: 'wait'; ms: number }
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          op: fc.constant('join' as const),
          n: fc.nat(40),
          remote: fc.boolean(),
          joinAt: fc.nat(1000),
        }),
      },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('leave' as const), n: fc.nat(40) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('again' as const), n: fc.nat(40) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('origin' as const) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.nat(3 * TICK) }) },
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 120 }), (head, ops) => {
        // A small maxLeft: resets happen too.
        const p = new Presence({ head, tickMs: TICK, maxLeft: 1 })
        let now = 0
        let clock = 1000 // this node's join ids increase
        /** What each local member's client holds: its snapshot, then every tick applied. */
        const clients = new Map<number, { head: Set<number>; count: number }>()
        const snapshotFor = (n: number) => {
          const attestations = p.snapshot('g', sid(n)).map((m) => m.attestation)
          clients.set(n, { head: new Set(ids(attestations)), count: p.count('g') })
        }
        const deliver = (ticks: PresenceTick[]) => {
          for (const t of ticks) {
            for (const [n, c] of clients) {
              // A reset is the head alone: the client keeps its own session (it knows it).
              if (t.reset) c.head = new Set([...ids(t.entered), n])
              for (const gone of ids(t.left)) c.head.delete(gone)
              for (const m of ids(t.entered)) c.head.add(m)
              c.count = t.count
            }
            // After every tick, every client holds the head (and itself, outside it).
            const truth = new Set(ids(p.snapshot('g').map((m) => m.attestation)))
            for (const [n, c] of clients) {
              const held = new Set(c.head)
              if (!truth.has(n)) held.delete(n)
              expect(held).toEqual(truth)
              expect(c.count).toBe(p.count('g'))
            }
          }
        }
        for (const o of ops) {
          if (o.op === 'wait') {
            now += o.ms
            deliver(p.tick(now))
            continue
          }
          if (o.op === 'origin') {
            // The other node went away: all its sessions leave at once.
            p.leaveOrigin('other')
            deliver(p.tick(now, 'g'))
            continue
          }
          const local = o.n % 2 === 0 // even sessions are this node's, odd ones another node's
          if (o.op === 'join') {
            if (p.has('g', sid(o.n))) continue
            p.join('g', session(o.n, { joinAt: local ? clock++ : o.joinAt }), local ? '' : 'other')
            if (local) snapshotFor(o.n)
          } else if (o.op === 'leave') {
            if (!p.leave('g', session(o.n).sessionId)) continue
            clients.delete(o.n)
          } else if (local && clients.has(o.n)) snapshotFor(o.n)
          deliver(p.tick(now, 'g'))
        }
        now += TICK
        deliver(p.tick(now))
      }),
      { numRuns: 300 },
    )
  })
})
