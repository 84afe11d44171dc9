/** The validity policy on its own: exact boundaries of each rule, and its bounded cache. */
import * as ed from '@noble/ed25519'
import { describe, expect, it } from 'vitest'
import { concatBytes, fromHex } from '../src/bytes.ts'
import { BoundedCache, bytesKey, PUBLIC_KEY_CACHE_MAX } from '../src/identity/cache.ts'
import {
  isCanonicalScalar,
  isCanonicalY,
  isValidPublicKey,
  isWellFormedSignature,
  L,
  passesPolicy,
  publicKeyVerdicts,
} from '../src/identity/policy.ts'
import {
  encodeY,
  NON_CANONICAL_SMALL_ORDER_HEX,
  nonCanonicalYEncodings,
  numberToBytesLE,
  P,
  SMALL_ORDER_HEX,
  T8,
} from './vectors/ed25519-adversarial.ts'

const validKey = ed.Point.BASE.multiply(123456789n).toBytes()
const sigWith = (r: Uint8Array, s: bigint) => concatBytes(r, numberToBytesLE(s))

describe('encodings', () => {
  it('isCanonicalY: y < p is canonical, p <= y < 2^255 is not, whatever the sign bit', () => {
    for (const sign of [false, true]) {
      expect(isCanonicalY(encodeY(0n, sign))).toBe(true)
      expect(isCanonicalY(encodeY(P - 1n, sign))).toBe(true)
      expect(isCanonicalY(encodeY(P, sign))).toBe(false)
      expect(isCanonicalY(encodeY(2n ** 255n - 1n, sign))).toBe(false)
      // The fast path must not misjudge values just below 2^255 - 2^k.
      expect(isCanonicalY(encodeY(2n ** 255n - 2n ** 8n, sign))).toBe(true)
    }
    for (const enc of nonCanonicalYEncodings()) expect(isCanonicalY(enc)).toBe(false)
  })

  it('isCanonicalScalar: S < L only', () => {
    expect(isCanonicalScalar(numberToBytesLE(0n))).toBe(true)
    expect(isCanonicalScalar(numberToBytesLE(2n ** 252n - 1n))).toBe(true)
    expect(isCanonicalScalar(numberToBytesLE(L - 1n))).toBe(true)
    expect(isCanonicalScalar(numberToBytesLE(L))).toBe(false)
    expect(isCanonicalScalar(numberToBytesLE(L + 1n))).toBe(false)
    expect(isCanonicalScalar(numberToBytesLE(2n ** 256n - 1n))).toBe(false)
  })

  it('isWellFormedSignature: 64 bytes, canonical R, S < L', () => {
    const R = ed.Point.BASE.toBytes()
    expect(isWellFormedSignature(sigWith(R, L - 1n))).toBe(true)
    expect(isWellFormedSignature(sigWith(R, L))).toBe(false)
    expect(isWellFormedSignature(sigWith(encodeY(P + 1n, false), 1n))).toBe(false)
    expect(isWellFormedSignature(new Uint8Array(63))).toBe(false)
    expect(isWellFormedSignature(new Uint8Array(65))).toBe(false)
    expect(isWellFormedSignature([...new Uint8Array(64)] as unknown as Uint8Array)).toBe(false)
  })
})

describe('public keys', () => {
  it('accepts ordinary keys and keys with a torsion component (not small order)', () => {
    expect(isValidPublicKey(validKey)).toBe(true)
    expect(isValidPublicKey(ed.Point.fromBytes(validKey).add(T8).toBytes())).toBe(true)
  })

  it('refuses the 8 small-order points, non-canonical y, negative zero, off-curve and wrong sizes', () => {
    for (const hex of [...SMALL_ORDER_HEX, ...NON_CANONICAL_SMALL_ORDER_HEX])
      expect(isValidPublicKey(fromHex(hex)), hex).toBe(false)
    for (const enc of nonCanonicalYEncodings()) expect(isValidPublicKey(enc)).toBe(false)
    // y = 2 is not on the curve (x^2 would be a non-square).
    expect(() => ed.Point.fromBytes(encodeY(2n, false))).toThrow()
    expect(isValidPublicKey(encodeY(2n, false))).toBe(false)
    expect(isValidPublicKey(validKey.subarray(0, 31))).toBe(false)
    expect(isValidPublicKey(concatBytes(validKey, Uint8Array.of(0)))).toBe(false)
    expect(isValidPublicKey('key' as unknown as Uint8Array)).toBe(false)
  })

  it('passesPolicy needs both a valid key and a well-formed signature', () => {
    const sig = sigWith(ed.Point.BASE.toBytes(), 5n)
    expect(passesPolicy(validKey, sig)).toBe(true)
    expect(passesPolicy(fromHex(SMALL_ORDER_HEX[0]!), sig)).toBe(false)
    expect(passesPolicy(validKey, sigWith(ed.Point.BASE.toBytes(), L))).toBe(false)
  })

  it(`the verdict cache stays at ${PUBLIC_KEY_CACHE_MAX} entries and answers stay right after eviction`, () => {
    const smallOrder = fromHex(SMALL_ORDER_HEX[4]!)
    expect(isValidPublicKey(smallOrder)).toBe(false)
    expect(isValidPublicKey(validKey)).toBe(true)
    // Cheap distinct keys: most random y are off-curve or refused, which is fine for the bound.
    for (let i = 0; i < PUBLIC_KEY_CACHE_MAX + 100; i++)
      isValidPublicKey(encodeY(BigInt(i) * 7919n + 3n, false))
    expect(publicKeyVerdicts.size).toBe(PUBLIC_KEY_CACHE_MAX)
    expect(publicKeyVerdicts.get(bytesKey(validKey))).toBeUndefined() // evicted
    expect(isValidPublicKey(smallOrder)).toBe(false)
    expect(isValidPublicKey(validKey)).toBe(true)
  })
})

describe('BoundedCache', () => {
  it('drops the oldest entry past its bound, and refuses a non-positive bound', () => {
    const c = new BoundedCache<number>(3)
    for (const k of ['a', 'b', 'c', 'd']) c.set(k, k.charCodeAt(0))
    expect(c.size).toBe(3)
    expect(c.get('a')).toBeUndefined()
    expect(c.get('d')).toBe(100)
    c.set('b', 1) // updating an entry does not evict
    expect(c.size).toBe(3)
    expect(c.get('c')).toBe(99)
    expect(() => new BoundedCache(0)).toThrow(RangeError)
  })

  it('bytesKey is one-to-one on byte strings', () => {
    expect(bytesKey(Uint8Array.of(0, 255))).not.toBe(bytesKey(Uint8Array.of(255, 0)))
    expect(bytesKey(Uint8Array.of(1, 2)).length).toBe(2)
  })
})
