import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  abytes,
  compareBytes,
  concatBytes,
  equalBytes,
  fromBase64url,
  fromHex,
  toBase64url,
  toHex,
} from '../src/bytes.ts'

describe('hex', () => {
  it('round-trips and matches Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        expect(toHex(b)).toBe(Buffer.from(b).toString('hex'))
        expect(fromHex(toHex(b))).toEqual(b)
        expect(fromHex(toHex(b).toUpperCase())).toEqual(b)
      }),
    )
  })

  it('refuses odd lengths and foreign characters', () => {
    expect(() => fromHex('abc')).toThrow(RangeError)
    expect(() => fromHex('zz')).toThrow(RangeError)
    expect(() => fromHex('0x00')).toThrow(RangeError)
    expect(() => fromHex(12 as unknown as string)).toThrow(TypeError)
  })
})

describe('base64url', () => {
  it('round-trips and matches Buffer (no padding)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        const text = toBase64url(b)
        expect(text).toBe(Buffer.from(b).toString('base64url'))
        expect(fromBase64url(text)).toEqual(b)
      }),
    )
  })

  it('is strict: one byte string has exactly one text', () => {
    expect(() => fromBase64url('AA==')).toThrow(/invalid base64url character/)
    expect(() => fromBase64url('a+b/')).toThrow(/invalid base64url character at 1/)
    expect(() => fromBase64url('Aé')).toThrow(RangeError)
    expect(() => fromBase64url('AAAAA')).toThrow(/length/)
    // 'AB' carries 12 bits for one byte; the 4 spare bits must be zero.
    expect(fromBase64url('AA')).toEqual(Uint8Array.of(0))
    expect(() => fromBase64url('AB')).toThrow(/trailing bits/)
    expect(() => fromBase64url(null as unknown as string)).toThrow(TypeError)
  })

  it('property: any text that decodes re-encodes to itself', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{0,20}$/), (text) => {
        let bytes: Uint8Array
        try {
          bytes = fromBase64url(text)
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError)
          return
        }
        expect(toBase64url(bytes)).toBe(text)
      }),
    )
  })
})

describe('comparisons', () => {
  it('compareBytes is lexicographic with shorter prefixes first, like Buffer.compare', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), (a, b) => {
        expect(Math.sign(compareBytes(a, b))).toBe(Buffer.compare(a, b))
        expect(equalBytes(a, b)).toBe(Buffer.compare(a, b) === 0)
      }),
    )
  })

  it('concatBytes joins in order', () => {
    expect(concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3))).toEqual(
      Uint8Array.of(1, 2, 3),
    )
    expect(concatBytes()).toEqual(new Uint8Array(0))
  })
})

describe('abytes', () => {
  it('TypeError for a wrong type, RangeError for a wrong length, naming the value', () => {
    expect(() => abytes('x', 32, 'seed')).toThrow(new TypeError('seed must be a Uint8Array'))
    expect(() => abytes(new Uint8Array(31), 32, 'seed')).toThrow(
      new RangeError('seed must be 32 bytes, got 31'),
    )
    const ok = new Uint8Array(32)
    expect(abytes(ok, 32)).toBe(ok)
    expect(abytes(ok)).toBe(ok)
  })
})
