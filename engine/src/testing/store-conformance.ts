/**
 * The Store conformance suite. Every Store implementation runs it with a few lines:
 *
 *   runStoreConformance('memory', async () => ({ store: new MemoryStore() }))
 *
 * A persistent store passes `{ durable: true }` and a fixture `reopen` (it closes nothing
 * itself) that returns a fresh Store over the same data, to check that `putMany`/`deleteMany`
 * are durable once resolved.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { eventDigest } from '../event.ts'
import { proofDepth } from '../stamp-proof.ts'
import { fingerprintOfDigests } from '../store/fingerprint.ts'
import type { IdRange, Store, StoredEvent } from '../store/store.ts'
import { inRange } from '../store/store.ts'
import type { Ulid } from '../ulid.ts'
import { fakeStoredEvent, fixtureUlid } from './events.ts'
import { type Fixture, perTestFixture } from './fixture.ts'

export type StoreFixture = Fixture<Store>

const CH = 'conformance'
const POOL = Array.from({ length: 120 }, (_, i) => fakeStoredEvent(CH, i))
const OTHER = Array.from({ length: 5 }, (_, i) => fakeStoredEvent('other', i))
const ids = (items: readonly StoredEvent[]): Ulid[] => items.map((s) => s.event.id)
const between = (i: number): Ulid => fixtureUlid(1_700_000_000_000 + i * 1000 + 500, 0)

/** What a correct store answers, computed naively from a list. */
function model(items: readonly StoredEvent[], range: IdRange): StoredEvent[] {
  return [...items]
    .filter((s) => inRange(s.event.id, range))
    .sort((a, b) => (a.event.id < b.event.id ? -1 : 1))
}

export function runStoreConformance(
  name: string,
  setup: () => Promise<StoreFixture>,
  o: { durable?: boolean } = {},
): void {
  describe(`Store conformance: ${name}`, () => {
    const { open, reopen } = perTestFixture(setup)

    it('putMany inserts absent ids only and reports how many were new', async () => {
      const store = await open()
      expect(await store.putMany(CH, POOL.slice(0, 10))).toBe(10)
      expect(await store.putMany(CH, POOL.slice(5, 15))).toBe(5)
      expect(await store.putMany(CH, [POOL[20]!, POOL[20]!])).toBe(1)
      expect(await store.putMany(CH, [])).toBe(0)
      expect(await store.count(CH)).toBe(16)
      expect(await store.has(CH, POOL[3]!.event.id)).toBe(true)
      expect(await store.has(CH, POOL[17]!.event.id)).toBe(false)
    })

    it('refuses an item of another channel', async () => {
      const store = await open()
      await expect(store.putMany(CH, [OTHER[0]!])).rejects.toThrow(RangeError)
      expect(await store.count(CH)).toBe(0)
    })

    it('getRange is ordered, half-open, limited and reversible', async () => {
      const store = await open()
      const shuffled = [...POOL.slice(0, 30)].reverse()
      await store.putMany(CH, shuffled)
      const all = await store.getRange(CH, {})
      expect(ids(all)).toEqual(ids(POOL.slice(0, 30)))
      const range = { gte: POOL[5]!.event.id, lt: POOL[9]!.event.id }
      expect(ids(await store.getRange(CH, range))).toEqual(ids(POOL.slice(5, 9)))
      expect(ids(await store.getRange(CH, range, { limit: 2 }))).toEqual(ids(POOL.slice(5, 7)))
      expect(ids(await store.getRange(CH, range, { reverse: true, limit: 2 }))).toEqual(
        ids([POOL[8]!, POOL[7]!]),
      )
      expect(ids(await store.getRange(CH, { gte: between(3), lt: between(5) }))).toEqual(
        ids(POOL.slice(4, 6)),
      )
      expect(await store.getRange(CH, { gte: POOL[9]!.event.id, lt: POOL[5]!.event.id })).toEqual([])
      expect(await store.getRange('nothing-here', {})).toEqual([])
      const [first] = all
      expect(first!.event.body).toEqual(POOL[0]!.event.body)
      expect(first!.digest).toEqual(POOL[0]!.digest)
    })

    it('count and fingerprint match the reference definition on every range', async () => {
      const store = await open()
      await store.putMany(CH, POOL)
      const bounds = [undefined, ...POOL.filter((_, i) => i % 7 === 0).map((s) => s.event.id), between(50)]
      for (const gte of bounds)
        for (const lt of bounds) {
          const range: IdRange = { gte, lt }
          const expected = model(POOL, range)
          expect(await store.count(CH, range)).toBe(expected.length)
          expect(await store.fingerprint(CH, range)).toEqual(
            fingerprintOfDigests(expected.map((s) => s.digest)),
          )
        }
      expect(await store.fingerprint('nothing-here', {})).toEqual(fingerprintOfDigests([]))
    })

    it('fingerprints do not depend on insertion order', async () => {
      const store = await open()
      await store.putMany(CH, POOL)
      const reordered = [...POOL].sort(
        (a, b) => a.digest[0]! - b.digest[0]! || (a.event.id < b.event.id ? -1 : 1),
      )
      const copy = reordered.map((s) => ({ ...s, event: { ...s.event, channel: 'copy' } }))
      for (let i = 0; i < copy.length; i += 17) await store.putMany('copy', copy.slice(i, i + 17))
      expect(await store.fingerprint('copy', {})).toEqual(await store.fingerprint(CH, {}))
    })

    it('idsAtRanks returns the ids at ranks inside a range', async () => {
      const store = await open()
      await store.putMany(CH, POOL)
      const range = { gte: POOL[10]!.event.id, lt: POOL[100]!.event.id }
      expect(await store.idsAtRanks(CH, range, [0, 1, 44, 89])).toEqual(
        ids([POOL[10]!, POOL[11]!, POOL[54]!, POOL[99]!]),
      )
      await expect(store.idsAtRanks(CH, range, [90])).rejects.toThrow(RangeError)
    })

    it('deleteMany removes present ids, ignores absent ones, and updates aggregates', async () => {
      const store = await open()
      await store.putMany(CH, POOL.slice(0, 40))
      const gone = [POOL[3]!.event.id, POOL[4]!.event.id, POOL[60]!.event.id]
      expect(await store.deleteMany(CH, gone)).toBe(2)
      expect(await store.has(CH, POOL[3]!.event.id)).toBe(false)
      const rest = POOL.slice(0, 40).filter((_, i) => i !== 3 && i !== 4)
      expect(await store.fingerprint(CH, {})).toEqual(fingerprintOfDigests(rest.map((s) => s.digest)))
      expect(await store.count(CH)).toBe(38)
      expect(await store.putMany(CH, [POOL[3]!])).toBe(1)
      expect(await store.deleteMany('nothing-here', gone)).toBe(0)
    })

    it('keeps channels apart and lists the non-empty ones', async () => {
      const store = await open()
      await store.putMany(CH, POOL.slice(0, 3))
      await store.putMany('other', OTHER)
      expect(await store.channels()).toEqual(['conformance', 'other'])
      expect(await store.count('other')).toBe(5)
      expect(await store.has('other', POOL[10]!.event.id)).toBe(false)
      await store.deleteMany('other', ids(OTHER))
      expect(await store.channels()).toEqual(['conformance'])
    })

    it('agrees with a model under random puts, deletes and queries', async () => {
      const store = await open()
      let channel = 0
      const index = fc.nat({ max: POOL.length - 1 })
      const op = fc.oneof(
        fc.record({ put: fc.array(index, { maxLength: 30 }) }),
        fc.record({ del: fc.array(index, { maxLength: 10 }) }),
      )
      const bound = fc.option(fc.nat({ max: POOL.length }), { nil: undefined })
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, { maxLength: 8 }),
          fc.array(fc.tuple(bound, bound), { maxLength: 6 }),
          async (ops, queries) => {
            const ch = `model${channel++}`
            const pool = POOL.map((s) => ({ ...s, event: { ...s.event, channel: ch } }))
            const held = new Map<Ulid, StoredEvent>()
            for (const o of ops) {
              if ('put' in o) {
                const items = o.put.map((i) => pool[i]!)
                const fresh = new Set(items.map((s) => s.event.id).filter((id) => !held.has(id)))
                expect(await store.putMany(ch, items)).toBe(fresh.size)
                for (const s of items) held.set(s.event.id, s)
              } else {
                const gone = o.del.map((i) => pool[i]!.event.id)
                const present = new Set(gone.filter((id) => held.has(id)))
                expect(await store.deleteMany(ch, gone)).toBe(present.size)
                for (const id of gone) held.delete(id)
              }
            }
            for (const [a, b] of queries) {
              const range: IdRange = {
                gte: a === undefined ? undefined : between(a),
                lt: b === undefined ? undefined : between(b),
              }
              const expected = model([...held.values()], range)
              expect(await store.count(ch, range)).toBe(expected.length)
              expect(ids(await store.getRange(ch, range))).toEqual(ids(expected))
              expect(await store.fingerprint(ch, range)).toEqual(
                fingerprintOfDigests(expected.map((s) => s.digest)),
              )
              if (expected.length > 0) {
                const last = expected.length - 1
                expect(await store.idsAtRanks(ch, range, [0, last >> 1, last])).toEqual(
                  ids([expected[0]!, expected[last >> 1]!, expected[last]!]),
                )
              }
            }
          },
        ),
        { numRuns: 60 },
      )
    })

    it('holds more than a few blocks of events, inserted out of order', async () => {
      const store = await open()
      const many = Array.from({ length: 3000 }, (_, i) => fakeStoredEvent('big', (i * 7919) % 3000))
      for (let i = 0; i < many.length; i += 500) await store.putMany('big', many.slice(i, i + 500))
      const sorted = model(many, {})
      expect(ids(await store.getRange('big', {}))).toEqual(ids(sorted))
      const range = { gte: sorted[777]!.event.id, lt: sorted[2222]!.event.id }
      expect(await store.fingerprint('big', range)).toEqual(
        fingerprintOfDigests(sorted.slice(777, 2222).map((s) => s.digest)),
      )
      expect(await store.idsAtRanks('big', range, [0, 1000])).toEqual(ids([sorted[777]!, sorted[1777]!]))
      expect(ids(await store.getRange('big', range, { reverse: true, limit: 3 }))).toEqual(
        ids([sorted[2221]!, sorted[2220]!, sorted[2219]!]),
      )
      await store.deleteMany('big', ids(sorted.slice(0, 2900)))
      expect(ids(await store.getRange('big', {}))).toEqual(ids(sorted.slice(2900)))
    })

    it('returns batch-stamped events as they were put, proofs included', async () => {
      const store = await open()
      // Stamps of one batch of 5 (docs/protocol/identity-event.md §8); the store never verifies.
      const batched = POOL.slice(0, 5).map(({ event }, index): StoredEvent => {
        const path = Array.from({ length: proofDepth(index, 5) }, (_, k) =>
          new Uint8Array(32).fill(index * 8 + k),
        )
        const e = { ...event, batch: { size: 5, index, path } }
        return { event: e, digest: eventDigest(e) }
      })
      await store.putMany(CH, [...batched, ...POOL.slice(5, 8)])
      expect(await store.getRange(CH, {})).toEqual(model([...batched, ...POOL.slice(5, 8)], {}))
      expect(await store.fingerprint(CH, {})).toEqual(
        fingerprintOfDigests([...batched, ...POOL.slice(5, 8)].map((s) => s.digest)),
      )
    })

    if (o.durable)
      it('is durable once putMany and deleteMany resolve', async () => {
        const store = await open()
        await store.putMany(CH, POOL.slice(0, 20))
        await store.deleteMany(CH, [POOL[0]!.event.id])
        await store.close()
        const again = await reopen()
        expect(ids(await again.getRange(CH, {}))).toEqual(ids(POOL.slice(1, 20)))
        expect(await again.fingerprint(CH, {})).toEqual(
          fingerprintOfDigests(POOL.slice(1, 20).map((s) => s.digest)),
        )
      })

    it('rejects every call after close, and close is idempotent', async () => {
      const store = await open()
      await store.putMany(CH, POOL.slice(0, 2))
      await store.close()
      await store.close()
      await expect(store.count(CH)).rejects.toThrow()
      await expect(store.putMany(CH, POOL.slice(2, 3))).rejects.toThrow()
      await expect(store.getRange(CH, {})).rejects.toThrow()
    })
  })
}
