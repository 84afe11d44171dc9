/**
 * Range fingerprints, as in negentropy: an order-independent, incremental summary of a set.
 *
 *   sum  = Σ digest_i  mod 2^256        (each 32-byte digest read as a little-endian integer)
 *   hash = SHA-256(sum as 32 bytes little-endian || varuint(count))[0..16]
 *
 * Addition (unlike XOR) does not cancel an item that appears twice, and it can be
 * maintained per block and subtracted, so a store answers any range without rereading it.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { abytes } from '../bytes.ts'
import { createWriter, finish, writeBytes, writeVarUint } from '../codec.ts'
import type { Fingerprint } from './store.ts'

export const DIGEST_BYTES = 32
export const FINGERPRINT_HASH_BYTES = 16

/** A 256-bit accumulator: eight little-endian 32-bit limbs. */
export type DigestSum = Uint32Array

export const newSum = (): DigestSum => new Uint32Array(8)

/** A digest as limbs, ready to add (convert once per item, add many times). */
export function digestWords(digest: Uint8Array): Uint32Array {
  abytes(digest, DIGEST_BYTES, 'digest')
  const w = new Uint32Array(8)
  for (let i = 0; i < 8; i++) {
    const o = i * 4
    w[i] = digest[o]! | (digest[o + 1]! << 8) | (digest[o + 2]! << 16) | (digest[o + 3]! << 24)
  }
  return w
}

export function addInto(acc: DigestSum, w: Uint32Array): void {
  let carry = 0
  for (let i = 0; i < 8; i++) {
    const s = acc[i]! + w[i]! + carry
    acc[i] = s // Uint32Array stores s mod 2^32
    carry = s > 0xffffffff ? 1 : 0
  }
}

export function subInto(acc: DigestSum, w: Uint32Array): void {
  let borrow = 0
  for (let i = 0; i < 8; i++) {
    const s = acc[i]! - w[i]! - borrow
    acc[i] = s // ToUint32 wraps negatives mod 2^32
    borrow = s < 0 ? 1 : 0
  }
}

export function sumBytes(acc: DigestSum): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 8; i++) {
    const v = acc[i]!
    out[i * 4] = v & 0xff
    out[i * 4 + 1] = (v >>> 8) & 0xff
    out[i * 4 + 2] = (v >>> 16) & 0xff
    out[i * 4 + 3] = v >>> 24
  }
  return out
}

export function fingerprintOf(count: number, acc: DigestSum): Fingerprint {
  const w = createWriter()
  writeBytes(w, sumBytes(acc))
  writeVarUint(w, count)
  return { count, hash: sha256(finish(w)).slice(0, FINGERPRINT_HASH_BYTES) }
}

/** The reference definition, from the digests themselves (tests and simple stores). */
export function fingerprintOfDigests(digests: readonly Uint8Array[]): Fingerprint {
  const acc = newSum()
  for (const d of digests) addInto(acc, digestWords(d))
  return fingerprintOf(digests.length, acc)
}

export function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  if (a.count !== b.count || a.hash.length !== b.hash.length) return false
  for (let i = 0; i < a.hash.length; i++) if (a.hash[i] !== b.hash[i]) return false
  return true
}
