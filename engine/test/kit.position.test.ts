/** Fractional positions: order, validity, tie-breaks and key length under long insert runs. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LimitError } from '../src/errors.ts'
import {
  between,
  DEFAULT_TIE_BREAK,
  isValidPosition,
  MAX_POSITION_LENGTH,
  POSITION_DIGITS,
} from '../src/kit/position.ts'
import { prng } from './kit-fixtures.ts'

const exact = { tieBreak: 0 }

function expectSorted(keys: string[]): void {
  for (let i = 1; i < keys.length; i++)
    expect(keys[i - 1]! < keys[i]!, `${keys[i - 1]} < ${keys[i]}`).toBe(true)
  for (const k of keys) expect(isValidPosition(k), k).toBe(true)
}

describe('between', () => {
  it('starts at a0 and walks integer parts across head letters', () => {
    expect(between(undefined, undefined, exact)).toBe('a0')
    expect(between('a0', undefined, exact)).toBe('a1')
    expect(between('az', undefined, exact)).toBe('b00')
    expect(between('bzz', undefined, exact)).toBe('c000')
    expect(between(undefined, 'a0', exact)).toBe('Zz')
    expect(between(undefined, 'Z0', exact)).toBe('Yzz')
    expect(between('Zz', undefined, exact)).toBe('a0')
    expect(between('Yzz', undefined, exact)).toBe('Z0')
    expect(between(undefined, 'b00', exact)).toBe('az')
  })

  it('goes into the fraction between adjacent integers and at the ends of the range', () => {
    expect(between('a0', 'a1', exact)).toBe('a0V')
    // Between keys of unequal length, next to the longer one (two digits away when there is room).
    expect(between('a0', 'a0V', exact)).toBe('a0T')
    expect(between('a0V', 'a1', exact)).toBe('a0X')
    expect(between('a0z', 'a1', exact)).toBe('a0z2')
    expect(between('a0V', 'a0X', exact)).toBe('a0W')
    const top = `z${'z'.repeat(26)}`
    expect(between(top, undefined, exact)).toBe(`${top}2`)
    const nearBottom = `A${'0'.repeat(25)}1`
    const below = between(undefined, nearBottom, exact)
    expect(below < nearBottom && isValidPosition(below)).toBe(true)
    expect(isValidPosition(`A${'0'.repeat(26)}`)).toBe(false)
  })

  it('appends a tie-break so concurrent inserts at one spot differ and can be split again', () => {
    const a = between(undefined, undefined)
    const b = between(a, undefined)
    const x = between(a, b, { random: prng(1) })
    const y = between(a, b, { random: prng(2) })
    expect(x).not.toBe(y)
    expect(x.length).toBe(between(a, b, exact).length + DEFAULT_TIE_BREAK)
    const [lo, hi] = x < y ? [x, y] : [y, x]
    expectSorted([a, lo, between(lo, hi), hi, b])
  })

  it('refuses invalid keys and a >= b', () => {
    for (const bad of ['', 'a', 'a00', 'a0~', 'b0', '!0', 'a0 ', 'é0'])
      expect(() => between(bad, undefined), bad).toThrow(RangeError)
    expect(() => between('a1', 'a0')).toThrow(RangeError)
    expect(() => between('a1', 'a1')).toThrow(RangeError)
    expect(() => between('a0', undefined, { tieBreak: -1 })).toThrow(RangeError)
  })

  it('refuses to grow past MAX_POSITION_LENGTH', () => {
    const long = `a0${'V'.repeat(MAX_POSITION_LENGTH - 3)}`
    expect(isValidPosition(long)).toBe(true)
    expect(isValidPosition(`${long}VV`)).toBe(false)
    // Adjacent digits at the last place: the key must go two digits deeper.
    expect(() => between(long, `${long}1`, exact)).toThrow(LimitError)
  })

  it('property: any sequence of inserts keeps every key valid, distinct and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { minLength: 1, maxLength: 200 }),
        fc.integer(),
        (ops, seed) => {
          const random = prng(seed)
          const keys: string[] = []
          for (const [n, exactKey] of ops) {
            const i = n % (keys.length + 1)
            const key = between(keys[i - 1], keys[i], exactKey ? exact : { random })
            expect(key > (keys[i - 1] ?? '')).toBe(true)
            if (keys[i] !== undefined) expect(key < keys[i]!).toBe(true)
            keys.splice(i, 0, key)
          }
          expectSorted(keys)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: a key between two keys sorts between them with any suffix appended', () => {
    const key = fc
      .tuple(fc.nat(200), fc.array(fc.constantFrom(...POSITION_DIGITS), { maxLength: 8 }), fc.nat(60))
      .map(([n, digits, last]) => {
        let k = 'a0'
        for (let i = 0; i < n % 5; i++) k = between(k, undefined, exact)
        return digits.length === 0 ? k : `${k}${digits.join('')}${POSITION_DIGITS[1 + last]}`
      })
    fc.assert(
      fc.property(key, key, fc.array(fc.constantFrom(...POSITION_DIGITS), { maxLength: 4 }), (p, q, tail) => {
        fc.pre(p !== q)
        const [a, b] = p < q ? [p, q] : [q, p]
        const m = between(a, b, exact)
        expect(a < m && m < b).toBe(true)
        expect(`${m}${tail.join('')}` < b).toBe(true)
      }),
      { numRuns: 500 },
    )
  })
})

describe('key length', () => {
  it('10,000 appends and 10,000 prepends stay within 4 characters plus the tie-break', () => {
    const random = prng(7)
    let last: string | undefined
    let first: string | undefined
    const appended: string[] = []
    for (let i = 0; i < 10_000; i++) {
      last = between(last, undefined, { random })
      appended.push(last)
      first = between(undefined, first, { random })
    }
    expectSorted(appended)
    expect(Math.max(...appended.map((k) => k.length))).toBeLessThanOrEqual(4 + DEFAULT_TIE_BREAK)
    expect(first!.length).toBeLessThanOrEqual(4 + DEFAULT_TIE_BREAK)
  })

  it('1,000 inserts at one spot stay short: under 100 characters in runs, 400 in a zigzag', () => {
    const random = prng(11)
    const bounds = { 'after-anchor': 100, 'after-newest': 100, alternating: 100, zigzag: 400 }
    for (const [pattern, bound] of Object.entries(bounds)) {
      const keys = [between(undefined, undefined, { random })]
      keys.push(between(keys[0], undefined, { random }))
      let newest = 0 // index of the previous insert
      for (let i = 0; i < 1000; i++) {
        // after-anchor: always right after the first key; after-newest: right after the previous
        // insert; alternating: one then the other; zigzag: right after, then right before, the previous insert.
        const index =
          pattern === 'after-anchor' || (pattern === 'alternating' && i % 2 === 0)
            ? 1
            : pattern === 'zigzag' && i % 2 === 1
              ? newest
              : newest + 1
        keys.splice(index, 0, between(keys[index - 1], keys[index], { random }))
        newest = index
      }
      expectSorted(keys)
      const longest = Math.max(...keys.map((k) => k.length))
      expect(longest, pattern).toBeLessThan(bound)
    }
  })
})
