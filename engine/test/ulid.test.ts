import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareBytes } from '../src/bytes.ts'
import { DecodeError } from '../src/errors.ts'
import {
  MAX_TIME,
  monotonicUlid,
  parseUlid,
  ULID_MAX,
  ULID_MIN,
  type Ulid,
  ulidAtTime,
  ulidFromBytes,
  ulidTime,
  ulidToBytes,
} from '../src/ulid.ts'

const ulidBytes = fc.uint8Array({ minLength: 16, maxLength: 16 })
const textOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** A clock that replays the given readings, then repeats the last one. */
function scriptedClock(readings: number[]): () => number {
  let i = 0
  return () => readings[Math.min(i++, readings.length - 1)]!
}

function expectStrictlyIncreasing(ids: Ulid[]): void {
  for (let i = 1; i < ids.length; i++)
    if (!(ids[i - 1]! < ids[i]!)) throw new Error(`not increasing at ${i}: ${ids[i - 1]} then ${ids[i]}`)
}

describe('binary and text forms', () => {
  it('property: bytes -> text -> bytes is the identity, and the text parses', () => {
    fc.assert(
      fc.property(ulidBytes, (b) => {
        const text = ulidFromBytes(b)
        expect(text).toHaveLength(26)
        expect(parseUlid(text)).toBe(text)
        expect(ulidToBytes(text)).toEqual(b)
      }),
      { numRuns: 500 },
    )
  })

  it('property: the order of texts equals the order of bytes', () => {
    fc.assert(
      fc.property(ulidBytes, ulidBytes, (a, b) => {
        expect(textOrder(ulidFromBytes(a), ulidFromBytes(b))).toBe(Math.sign(compareBytes(a, b)))
      }),
      { numRuns: 500 },
    )
  })

  it('the time is the first 48 bits, big-endian', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TIME }), ulidBytes, (ms, b) => {
        for (let i = 5, x = ms; i >= 0; i--, x = Math.floor(x / 256)) b[i] = x % 256
        expect(ulidTime(ulidFromBytes(b))).toBe(ms)
        expect(ulidTime(ulidAtTime(ms))).toBe(ms)
        expect(ulidAtTime(ms) <= ulidFromBytes(b)).toBe(true)
      }),
    )
  })

  it('ULID_MIN and ULID_MAX are the all-zero and all-one ids', () => {
    expect(ULID_MIN).toBe(ulidFromBytes(new Uint8Array(16)))
    expect(ULID_MAX).toBe(ulidFromBytes(new Uint8Array(16).fill(0xff)))
    expect(ulidTime(ULID_MAX)).toBe(MAX_TIME)
  })

  it('parseUlid refuses wrong lengths, foreign characters, lower case and overflow', () => {
    const ok = '01ARZ3NDEKTSV4RRFFQ69G5FAV'
    expect(parseUlid(ok)).toBe(ok)
    for (const bad of [
      ok.slice(1),
      `${ok}0`,
      ok.toLowerCase(),
      `${ok.slice(0, 25)}I`,
      `${ok.slice(0, 25)}U`,
      `8${ok.slice(1)}`,
      42,
    ]) {
      expect(() => parseUlid(bad as string)).toThrow(DecodeError)
    }
  })

  it('ulidToBytes refuses text that is not a canonical ULID instead of returning garbage', () => {
    for (const bad of [
      '01arz3ndektsv4rrffq69g5fav',
      '8ZZZZZZZZZZZZZZZZZZZZZZZZZ',
      '01ARZ3NDEKTSV4RRFFQ69G5FA',
      '01ARZ3NDEKTSV4RRFFQ69G5FAé',
    ])
      expect(() => ulidToBytes(bad as Ulid)).toThrow(RangeError)
  })

  it('ulidFromBytes wants exactly 16 bytes; ulidAtTime wants a ULID time', () => {
    expect(() => ulidFromBytes(new Uint8Array(15))).toThrow(DecodeError)
    expect(() => ulidAtTime(-1)).toThrow(RangeError)
    expect(() => ulidAtTime(MAX_TIME + 1)).toThrow(RangeError)
    expect(() => ulidAtTime(1.5)).toThrow(RangeError)
  })
})

describe('monotonicUlid', () => {
  it('stays strictly increasing when the clock steps back, keeping the latest time', () => {
    const next = monotonicUlid(scriptedClock([1000, 1000, 999, 500, 0, 1000, 1001, 1001, 7]))
    const ids = Array.from({ length: 9 }, next)
    expectStrictlyIncreasing(ids)
    expect(ids.map(ulidTime)).toEqual([1000, 1000, 1000, 1000, 1000, 1000, 1001, 1001, 1001])
  })

  it('makes 100,000 increasing ids within one millisecond', () => {
    const next = monotonicUlid(() => 1_700_000_000_000)
    const ids = Array.from({ length: 100_000 }, next)
    expectStrictlyIncreasing(ids)
    expect(ulidTime(ids[99_999]!)).toBe(1_700_000_000_000)
  })

  it('carries across random bytes that are all ones', () => {
    const next = monotonicUlid(
      () => 5,
      (n) => new Uint8Array(n).fill(0xff),
    )
    const ids = [next(), next(), next()]
    expectStrictlyIncreasing(ids)
    expect(ulidToBytes(ids[1]!).subarray(6)).toEqual(Uint8Array.of(0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0))
  })

  it('stays increasing with a fractional, non-finite or out-of-range clock', () => {
    const next = monotonicUlid(
      scriptedClock([10.2, 10.7, 10.9, Number.NaN, -5, MAX_TIME + 10, MAX_TIME + 20, Infinity]),
    )
    const ids = Array.from({ length: 8 }, next)
    expectStrictlyIncreasing(ids)
    expect(ulidTime(ids[2]!)).toBe(10)
    expect(ulidTime(ids[7]!)).toBe(MAX_TIME)
  })

  it('property: any clock sequence gives strictly increasing ids whose time never goes back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { minLength: 1, maxLength: 200 }),
        (readings) => {
          const next = monotonicUlid(scriptedClock(readings))
          const ids = readings.map(() => next())
          expectStrictlyIncreasing(ids)
          let max = 0
          ids.forEach((id, i) => {
            max = Math.max(max, readings[i]!)
            expect(ulidTime(id)).toBe(max)
          })
        },
      ),
    )
  })
})
