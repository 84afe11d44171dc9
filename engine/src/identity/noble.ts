/** Portable fallback: noble's curve arithmetic with RFC 8032's cofactorless equation. */
import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { concatBytes, equalBytes } from '../bytes.ts'
import type { Ed25519Backend } from './backend.ts'
import { BoundedCache, bytesKey, PUBLIC_KEY_CACHE_MAX } from './cache.ts'
import { bytesToNumberLE, L } from './policy.ts'

ed.hashes.sha512 = sha512

export const nobleBackend: Ed25519Backend = {
  name: 'noble',
  async publicKey(seed) {
    return ed.getPublicKey(seed)
  },
  async sign(seed, message) {
    return ed.sign(message, seed)
  },
  async verify(publicKey, message, signature) {
    return verifyCofactorless(publicKey, message, signature)
  },
}

/** Decoded public keys: decoding costs a square root, and keys repeat. */
const points = new BoundedCache<ed.Point>(PUBLIC_KEY_CACHE_MAX)

function decodeKey(publicKey: Uint8Array): ed.Point {
  const id = bytesKey(publicKey)
  let A = points.get(id)
  if (!A) {
    A = ed.Point.fromBytes(publicKey, false) // strict: y < p, no negative zero; throws otherwise
    points.set(id, A)
  }
  return A
}

/** [S]B - [k]A must encode to exactly the R bytes of the signature. */
export function verifyCofactorless(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    const A = decodeKey(publicKey)
    const r = signature.subarray(0, 32)
    const s = bytesToNumberLE(signature.subarray(32, 64))
    if (s >= L) return false
    const k = bytesToNumberLE(sha512(concatBytes(r, publicKey, message))) % L
    const R = ed.Point.BASE.multiply(s, false).subtract(A.multiply(k, false))
    return equalBytes(R.toBytes(), r)
  } catch {
    return false
  }
}
