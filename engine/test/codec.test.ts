import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createWriter,
  decodeWith,
  finish,
  type Reader,
  writeU8,
  writeVarBytes,
  writeVarString,
  writeVarUint,
} from '../src/codec.ts'
import { DecodeError } from '../src/errors.ts'

const encodeVarUint = (n: number): Uint8Array => {
  const w = createWriter()
  writeVarUint(w, n)
  return finish(w)
}
const readVarUint = (bytes: Uint8Array, max = Number.MAX_SAFE_INTEGER): number =>
  decodeWith(bytes, (r) => r.varUint(max))

/** The same value with `extra` redundant continuation groups: what a minimal decoder must refuse. */
function padVarUint(minimal: Uint8Array, extra: number): Uint8Array {
  const out = [...minimal]
  out[out.length - 1]! |= 0x80
  for (let i = 1; i < extra; i++) out.push(0x80)
  out.push(0x00)
  return Uint8Array.from(out)
}

describe('varuint (LEB128, minimal)', () => {
  it('property: round-trips every safe integer in the fewest bytes', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const bytes = encodeVarUint(n)
        expect(readVarUint(bytes)).toBe(n)
        expect(bytes.length).toBe(Math.max(1, Math.ceil(n.toString(2).length / 7)))
      }),
      { numRuns: 1000 },
    )
  })

  it('known encodings', () => {
    expect(encodeVarUint(0)).toEqual(Uint8Array.of(0))
    expect(encodeVarUint(127)).toEqual(Uint8Array.of(0x7f))
    expect(encodeVarUint(128)).toEqual(Uint8Array.of(0x80, 0x01))
    expect(encodeVarUint(300)).toEqual(Uint8Array.of(0xac, 0x02))
    expect(encodeVarUint(Number.MAX_SAFE_INTEGER)).toEqual(
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f),
    )
  })

  it('property: every non-minimal encoding is refused', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.integer({ min: 1, max: 3 }), (n, extra) => {
        const padded = padVarUint(encodeVarUint(n), extra)
        expect(() => readVarUint(padded)).toThrow(/non-minimal|too long/)
      }),
    )
    expect(() => readVarUint(Uint8Array.of(0x80, 0x00))).toThrow(/non-minimal/)
  })

  it('refuses values over the limit, over 2^53 - 1, truncated or longer than 8 bytes', () => {
    expect(readVarUint(encodeVarUint(1000), 1000)).toBe(1000)
    expect(() => readVarUint(encodeVarUint(1001), 1000)).toThrow(/exceeds limit 1000/)
    const twoTo53 = Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10)
    expect(() => readVarUint(twoTo53, Number.POSITIVE_INFINITY)).toThrow(DecodeError)
    expect(() =>
      readVarUint(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), Number.POSITIVE_INFINITY),
    ).toThrow(/exceeds limit/)
    expect(() => readVarUint(Uint8Array.of(0x80))).toThrow(/truncated/)
    expect(() => readVarUint(new Uint8Array(9).fill(0x81))).toThrow(/too long/)
  })

  it('the writer refuses what the reader would refuse', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY])
      expect(() => writeVarUint(createWriter(), bad)).toThrow(RangeError)
  })
})

describe('bounded reads', () => {
  it('varBytes checks the length against the limit and the input before allocating', () => {
    const w = createWriter()
    writeVarBytes(w, new Uint8Array(10).fill(7))
    const ten = finish(w)
    expect(decodeWith(ten, (r) => r.varBytes(10))).toEqual(new Uint8Array(10).fill(7))
    expect(() => decodeWith(ten, (r) => r.varBytes(9))).toThrow(/exceeds limit 9/)
    // A claimed length of 2^40 with 3 bytes of input: refused without a 1 TiB allocation.
    const huge = Uint8Array.of(...encodeVarUint(2 ** 40), 1, 2, 3)
    expect(() => decodeWith(huge, (r) => r.varBytes(Number.MAX_SAFE_INTEGER))).toThrow(/truncated/)
  })

  it('bytes returns a copy that outlives the input buffer', () => {
    const input = Uint8Array.of(1, 2, 3)
    const out = decodeWith(input, (r) => r.bytes(3))
    input[0] = 9
    expect(out).toEqual(Uint8Array.of(1, 2, 3))
  })

  it('varString round-trips UTF-8 and refuses invalid UTF-8', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (s) => {
        const w = createWriter()
        writeVarString(w, s)
        expect(decodeWith(finish(w), (r) => r.varString(1000))).toBe(s)
      }),
    )
    const invalid = [
      [0xff], // never valid
      [0xc0, 0x80], // overlong NUL
      [0xed, 0xa0, 0x80], // UTF-16 surrogate
      [0xe2, 0x82], // truncated sequence
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    ]
    for (const raw of invalid)
      expect(() => decodeWith(Uint8Array.of(raw.length, ...raw), (r) => r.varString(10))).toThrow(
        /not valid UTF-8/,
      )
  })

  it('varString limits bytes, not characters', () => {
    const w = createWriter()
    writeVarString(w, 'ééé') // 6 bytes
    const bytes = finish(w)
    expect(decodeWith(bytes, (r) => r.varString(6))).toBe('ééé')
    expect(() => decodeWith(bytes, (r) => r.varString(5))).toThrow(/exceeds limit 5/)
  })

  it('count refuses counts over the limit or that the rest of the input cannot hold', () => {
    const w = createWriter()
    writeVarUint(w, 4)
    for (let i = 0; i < 8; i++) writeU8(w, i)
    const bytes = finish(w)
    const items = decodeWith(bytes, (r) => r.bytes(r.count(4, 2) * 2))
    expect(items).toEqual(bytes.subarray(1))
    expect(() => decodeWith(bytes, (r) => r.count(3, 2))).toThrow(/exceeds limit 3/)
    expect(() => decodeWith(bytes, (r) => r.count(4, 3))).toThrow(/cannot fit/)
  })
})

describe('decodeWith', () => {
  it('refuses trailing bytes and non-byte input with DecodeError', () => {
    expect(() => decodeWith(Uint8Array.of(1, 2), (r) => r.u8())).toThrow(/1 trailing bytes/)
    expect(() => decodeWith('x' as unknown as Uint8Array, (r) => r.u8())).toThrow(DecodeError)
  })

  it('turns any other exception from a reader into DecodeError', () => {
    const buggy = (_r: Reader): number => {
      throw new TypeError('boom')
    }
    expect(() => decodeWith(new Uint8Array(0), buggy)).toThrow(new DecodeError('malformed frame: boom'))
  })

  it('property: random bytes through a composite reader only ever give a value or DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeWith(bytes, (r) => {
            const n = r.count(8, 1)
            for (let i = 0; i < n; i++) r.varString(16)
            return r.varBytes(32)
          })
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 2000 },
    )
  })
})
