/**
 * The one validity policy applied before any backend, so that every peer (native or noble)
 * accepts exactly the same keys and signatures:
 *
 * - public key: 32 bytes, canonical (y < p, no "negative zero"), on the curve, not of small order;
 * - signature: 64 bytes, R encoded canonically (y < p), S < L (no malleability);
 * - the equation is RFC 8032's cofactorless one, [S]B = R + [k]A, compared on encodings —
 *   what OpenSSL (Node) and BoringSSL (Chromium) compute, and what our noble path computes.
 *
 * noble's own `verify` is cofactored and defaults to ZIP-215, so we never call it.
 */
import { Point } from '@noble/ed25519'
import { BoundedCache, bytesKey, PUBLIC_KEY_CACHE_MAX } from './cache.ts'

/** The prime order of the base point. */
export const L = (1n << 252n) + 27742317777372353535851937790883648493n

export function bytesToNumberLE(b: Uint8Array): bigint {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!)
  return n
}

/** True when the 32-byte point encoding has y < p (sign bit ignored). */
export function isCanonicalY(enc: Uint8Array): boolean {
  // Fast path: only values with the top 250 bits all set can reach p.
  if ((enc[31]! & 0x7f) !== 0x7f) return true
  for (let i = 30; i >= 1; i--) if (enc[i] !== 0xff) return true
  return enc[0]! < 0xed
}

export function isCanonicalScalar(s: Uint8Array): boolean {
  // Fast path: S < 2^252 is always < L.
  if (s[31]! < 0x10) return true
  return bytesToNumberLE(s) < L
}

/** Verdicts on public keys; exported for tests of its bound. */
export const publicKeyVerdicts = new BoundedCache<boolean>(PUBLIC_KEY_CACHE_MAX)

/** Full public-key check (decode + small order). Cached: keys repeat, decoding costs a square root. */
export function isValidPublicKey(pub: Uint8Array): boolean {
  if (!(pub instanceof Uint8Array) || pub.length !== 32) return false
  const id = bytesKey(pub)
  const hit = publicKeyVerdicts.get(id)
  if (hit !== undefined) return hit
  let ok = false
  if (isCanonicalY(pub)) {
    try {
      // zip215=false: rejects y >= p and x = 0 with the sign bit set.
      ok = !Point.fromBytes(pub, false).isSmallOrder()
    } catch {
      ok = false
    }
  }
  publicKeyVerdicts.set(id, ok)
  return ok
}

/** The cheap, backend-independent checks on a signature's encoding. */
export function isWellFormedSignature(sig: Uint8Array): boolean {
  return (
    sig instanceof Uint8Array &&
    sig.length === 64 &&
    isCanonicalY(sig.subarray(0, 32)) &&
    isCanonicalScalar(sig.subarray(32, 64))
  )
}

/** Everything the policy demands before a backend sees the input. */
export function passesPolicy(pub: Uint8Array, sig: Uint8Array): boolean {
  return isWellFormedSignature(sig) && isValidPublicKey(pub)
}
