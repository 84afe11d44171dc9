import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  addInto,
  digestWords,
  fingerprintOfDigests,
  newSum,
  subInto,
  sumBytes,
} from '../src/store/fingerprint.ts'
import { RankedIndex } from '../src/store/ranked-index.ts'
import { inRange } from '../src/store/store.ts'
import { fixtureUlid } from '../src/testing/index.ts'
import type { Ulid } from '../src/ulid.ts'

const N = 400
const IDS = Array.from({ length: N }, (_, i) => fixtureUlid(1_700_000_000_000 + i * 10, i))
const digest = (i: number): Uint8Array => new Uint8Array(32).map((_, j) => (i * 31 + j * 7 + (i >> 3)) & 0xff)
const boundAt = (k: number | undefined): Ulid | undefined =>
  k === undefined ? undefined : fixtureUlid(1_700_000_000_000 + k * 10 - 5, 0)

describe('RankedIndex (small blocks, so splits and merges happen constantly)', () => {
  it('agrees with a sorted-array model under random inserts, deletes and range queries', () => {
    const op = fc.oneof(
      { weight: 3, arbitrary: fc.record({ insert: fc.array(fc.nat({ max: N - 1 }), { maxLength: 60 }) }) },
      { weight: 2, arbitrary: fc.record({ remove: fc.array(fc.nat({ max: N - 1 }), { maxLength: 60 }) }) },
    )
    const bound = fc.option(fc.nat({ max: N }), { nil: undefined })
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 9 }),
        fc.array(op, { maxLength: 12 }),
        fc.array(fc.tuple(bound, bound), { maxLength: 8 }),
        (blockMax, ops, queries) => {
          const index = new RankedIndex<number>(blockMax)
          const model = new Set<number>()
          for (const o of ops) {
            if ('insert' in o)
              for (const i of o.insert)
                expect(index.insert(IDS[i]!, digest(i), i)).toBe(!model.has(i) && !!model.add(i))
            else for (const i of o.remove) expect(index.delete(IDS[i]!)).toBe(model.delete(i))
          }
          expect(index.size).toBe(model.size)
          const sorted = [...model].sort((a, b) => a - b)
          for (const [a, b] of queries) {
            const range = { gte: boundAt(a), lt: boundAt(b) }
            const inside = sorted.filter((i) => inRange(IDS[i]!, range))
            expect(index.count(range)).toBe(inside.length)
            expect(index.fingerprint(range)).toEqual(fingerprintOfDigests(inside.map(digest)))
            expect([...index.entries(range)].map((e) => e.value)).toEqual(inside)
            expect([...index.entries(range, true, 3)].map((e) => e.value)).toEqual(inside.slice(-3).reverse())
            const ranks = inside.map((_, r) => r).filter((r) => r % 3 === 0)
            expect(index.idsAtRanks(range, ranks)).toEqual(ranks.map((r) => IDS[inside[r]!]))
          }
          for (const i of sorted) expect(index.get(IDS[i]!)).toBe(i)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('refuses ranks out of order or past the range', () => {
    const index = new RankedIndex<number>(4)
    for (let i = 0; i < 10; i++) index.insert(IDS[i]!, digest(i), i)
    expect(() => index.idsAtRanks({}, [3, 2])).toThrow(RangeError)
    expect(() => index.idsAtRanks({}, [10])).toThrow(RangeError)
    expect(() => new RankedIndex(1)).toThrow(RangeError)
  })
})

describe('fingerprint arithmetic', () => {
  it('adds mod 2^256 with carries and subtracts back exactly', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 20 }), (digests) => {
        const acc = newSum()
        for (const d of digests) addInto(acc, digestWords(d))
        // Reference: BigInt sum of little-endian integers mod 2^256.
        let big = 0n
        for (const d of digests) for (let i = 31; i >= 0; i--) big += BigInt(d[i]!) << BigInt(8 * i)
        big %= 1n << 256n
        const bytes = sumBytes(acc)
        let got = 0n
        for (let i = 31; i >= 0; i--) got = (got << 8n) | BigInt(bytes[i]!)
        expect(got).toBe(big)
        for (const d of digests) subInto(acc, digestWords(d))
        expect(sumBytes(acc)).toEqual(new Uint8Array(32))
      }),
      { numRuns: 200 },
    )
  })

  it('is order independent and not XOR: a repeated item changes the hash', () => {
    const a = digest(1)
    const b = digest(2)
    expect(fingerprintOfDigests([a, b])).toEqual(fingerprintOfDigests([b, a]))
    const c = digest(3)
    // Under XOR both multisets would sum to c; under addition they differ.
    expect(fingerprintOfDigests([a, a, c]).hash).not.toEqual(fingerprintOfDigests([c, b, b]).hash)
    expect(fingerprintOfDigests([]).hash).toHaveLength(16)
  })
})
