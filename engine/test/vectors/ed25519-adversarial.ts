/**
 * Hostile Ed25519 inputs, crafted with noble's point arithmetic and our own scalar math so
 * that each one reaches the exact edge it targets (small-order and mixed-order keys,
 * non-canonical encodings, malleated S, torsion added to R). Used by the backend-agreement
 * properties in identity.agreement.test.ts and the policy tests.
 */
import { Point } from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import { concatBytes, fromHex, toHex } from '../../src/bytes.ts'
import { type Domain, signedMessage } from '../../src/identity/domains.ts'
import { bytesToNumberLE, L } from '../../src/identity/policy.ts'

/** The field prime 2^255 - 19. */
export const P = 2n ** 255n - 19n

/**
 * The 8 points of small order in canonical encoding (as listed by libsodium and Wycheproof):
 * y = 0 (order 4, both signs of x), y = 1 (identity), y = -1 (order 2), and 4 of order 8.
 */
export const SMALL_ORDER_HEX: readonly string[] = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2 (y = p - 1)
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4 (y = 0)
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4 (y = 0, other x)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
]

/** A generator of the torsion subgroup (order 8); its multiples are the 8 points above. */
export const T8 = Point.fromHex(SMALL_ORDER_HEX[4]!)

/** Non-canonical encodings of small-order points: y >= p, and "negative zero" (x = 0 with the sign bit). */
export const NON_CANONICAL_SMALL_ORDER_HEX: readonly string[] = [
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p (= 0)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // y = p, sign bit
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 (= 1, identity)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // y = p + 1, sign bit
  '0100000000000000000000000000000000000000000000000000000000000080', // identity, negative zero
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // order 2, negative zero
]

export function numberToBytesLE(n: bigint, len = 32): Uint8Array {
  const out = new Uint8Array(len)
  for (let i = 0; i < len; i++) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

/** Encodes y (taken as is, so y >= p gives a non-canonical encoding) with a sign bit. */
export function encodeY(y: bigint, sign: boolean): Uint8Array {
  const b = numberToBytesLE(y)
  if (sign) b[31]! |= 0x80
  return b
}

/** Every y >= p (there are 19: p .. 2^255 - 1) with both sign bits: 38 encodings, some on the curve. */
export function nonCanonicalYEncodings(): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let k = 0n; k < 19n; k++) for (const sign of [false, true]) out.push(encodeY(P + k, sign))
  return out
}

/** Whether noble decodes the bytes as a point under ZIP-215 (lenient) rules. */
export function decodesLeniently(enc: Uint8Array): boolean {
  try {
    Point.fromBytes(enc, true)
    return true
  } catch {
    return false
  }
}

const modL = (n: bigint): bigint => ((n % L) + L) % L
const scalarFrom = (seed: Uint8Array, tag: string): bigint => {
  const s = modL(bytesToNumberLE(sha512(concatBytes(new TextEncoder().encode(tag), seed))))
  return s === 0n ? 1n : s
}
const challenge = (r: Uint8Array, a: Uint8Array, msg: Uint8Array): bigint =>
  modL(bytesToNumberLE(sha512(concatBytes(r, a, msg))))

/** A crafted input and, where the policy fixes it, the answer every backend must give. */
export interface Case {
  kind: string
  publicKey: Uint8Array
  payload: Uint8Array
  signature: Uint8Array
  expected?: boolean
}

export const CASE_KINDS = [
  'honest',
  'sPlusL',
  'sAboveL',
  'torsionR',
  'mixedOrderKey',
  'nonCanonicalR',
  'nonCanonicalREncodings',
  'canonicalRControl',
  'smallOrderKey',
  'nonCanonicalKey',
  'flipPayload',
  'flipSignature',
  'flipKey',
  'random',
] as const
export type CaseKind = (typeof CASE_KINDS)[number]

interface Keyed {
  a: bigint
  pub: Uint8Array
}
/** A key with a known scalar; `mixed` adds T8, giving a key of order 8L (not small, not torsion-free). */
function keyFrom(seed: Uint8Array, mixed = false): Keyed {
  const a = scalarFrom(seed, 'a')
  const aB = Point.BASE.multiply(a)
  const A = mixed ? aB.add(T8) : aB
  return { a, pub: A.toBytes() }
}

/** Signs with raw scalars: S = r + k*a, R encoded as given (so R may carry torsion or be non-canonical). */
function signRaw(key: Keyed, rEnc: Uint8Array, r: bigint, msg: Uint8Array): Uint8Array {
  const k = challenge(rEnc, key.pub, msg)
  return concatBytes(rEnc, numberToBytesLE(modL(r + k * key.a)))
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice()
  const i = bit % (out.length * 8)
  out[i >> 3]! ^= 1 << (i & 7)
  return out
}

/**
 * Tries payload suffixes until the challenge k makes `want(k)` true (each try succeeds with
 * probability 1/8 or better, so 256 tries fail with probability < 1e-14).
 */
function searchPayload(domain: Domain, base: Uint8Array, want: (msg: Uint8Array) => boolean): Uint8Array {
  for (let i = 0; i < 256; i++) {
    const payload = concatBytes(base, Uint8Array.of(i))
    if (want(signedMessage(domain, payload))) return payload
  }
  throw new Error('no payload found (probability < 1e-14)')
}

/** Builds one hostile (or honest) input of the given kind, deterministically from `seed`. */
export function craft(kind: CaseKind, domain: Domain, seed: Uint8Array, base: Uint8Array, bit: number): Case {
  const key = keyFrom(seed)
  const r = scalarFrom(seed, 'r')
  const R = Point.BASE.multiply(r)
  const honest = (payload: Uint8Array) => signRaw(key, R.toBytes(), r, signedMessage(domain, payload))
  switch (kind) {
    case 'honest':
      return { kind, publicKey: key.pub, payload: base, signature: honest(base), expected: true }
    case 'sPlusL': {
      const sig = honest(base)
      const s = bytesToNumberLE(sig.subarray(32)) + L
      return {
        kind,
        publicKey: key.pub,
        payload: base,
        signature: concatBytes(sig.subarray(0, 32), numberToBytesLE(s)),
        expected: false,
      }
    }
    case 'sAboveL': {
      // Any S in [L, 2^256): the policy refuses them all before any curve arithmetic.
      const s = L + (bytesToNumberLE(seed) % (2n ** 256n - L))
      return {
        kind,
        publicKey: key.pub,
        payload: base,
        signature: concatBytes(R.toBytes(), numberToBytesLE(s)),
        expected: false,
      }
    }
    case 'torsionR': {
      // R' = rB + T: a cofactored verifier ([8]-multiplied equation) accepts this, a cofactorless one refuses.
      const t = 1 + (bit % 7)
      const rT = R.add(T8.multiply(BigInt(t), false)).toBytes()
      return {
        kind,
        publicKey: key.pub,
        payload: base,
        signature: signRaw(key, rT, r, signedMessage(domain, base)),
        expected: false,
      }
    }
    case 'mixedOrderKey': {
      // A = aB + T8 is not of small order, so it passes the policy; [S]B - [k]A = R - [k]T8,
      // which equals R only when 8 | k. Every cofactorless backend must agree on which.
      const mixed = keyFrom(seed, true)
      const msg = signedMessage(domain, base)
      const k = challenge(R.toBytes(), mixed.pub, msg)
      return {
        kind,
        publicKey: mixed.pub,
        payload: base,
        signature: signRaw(mixed, R.toBytes(), r, msg),
        expected: k % 8n === 0n,
      }
    }
    case 'nonCanonicalR':
    case 'canonicalRControl': {
      // With A = aB + T8 and S = k*a, [S]B - [k]A = -[k]T8, the identity when 8 | k. So R = identity
      // satisfies the equation; encoded canonically it must verify, encoded as y = p + 1 or as
      // "negative zero" it must not (the equation is checked on R's bytes, not on the decoded point).
      const mixed = keyFrom(seed, true)
      const rEnc =
        kind === 'canonicalRControl'
          ? fromHex(SMALL_ORDER_HEX[0]!)
          : fromHex(NON_CANONICAL_SMALL_ORDER_HEX[bit % 2 === 0 ? 2 : 4]!)
      const payload = searchPayload(domain, base, (m) => challenge(rEnc, mixed.pub, m) % 8n === 0n)
      const sig = signRaw(mixed, rEnc, 0n, signedMessage(domain, payload))
      return { kind, publicKey: mixed.pub, payload, signature: sig, expected: kind === 'canonicalRControl' }
    }
    case 'nonCanonicalREncodings': {
      // Each of the 38 encodings with y >= p as R, with S computed as an honest signer would.
      const encs = nonCanonicalYEncodings()
      const rEnc = encs[bit % encs.length]!
      return {
        kind,
        publicKey: key.pub,
        payload: base,
        signature: signRaw(key, rEnc, r, signedMessage(domain, base)),
        expected: false,
      }
    }
    case 'smallOrderKey': {
      // A small-order key T with S = 0 and R = identity satisfies [S]B = R + [k]A whenever
      // ord(T) | k: a "signature" anyone can forge. The policy refuses the key.
      const enc = [...SMALL_ORDER_HEX, ...NON_CANONICAL_SMALL_ORDER_HEX][bit % 14]!
      const pub = fromHex(enc)
      const rEnc = fromHex(SMALL_ORDER_HEX[0]!)
      const T = Point.fromBytes(pub, true)
      const payload = searchPayload(domain, base, (m) =>
        T.multiply(challenge(rEnc, pub, m) || 8n, false).is0(),
      )
      return {
        kind,
        publicKey: pub,
        payload,
        signature: concatBytes(rEnc, new Uint8Array(32)),
        expected: false,
      }
    }
    case 'nonCanonicalKey': {
      const encs = nonCanonicalYEncodings()
      return {
        kind,
        publicKey: encs[bit % encs.length]!,
        payload: base,
        signature: honest(base),
        expected: false,
      }
    }
    case 'flipPayload':
      return {
        kind,
        publicKey: key.pub,
        payload: flipBit(concatBytes(base, Uint8Array.of(0)), bit),
        signature: honest(concatBytes(base, Uint8Array.of(0))),
        expected: false,
      }
    case 'flipSignature':
      return {
        kind,
        publicKey: key.pub,
        payload: base,
        signature: flipBit(honest(base), bit),
        expected: false,
      }
    case 'flipKey':
      return {
        kind,
        publicKey: flipBit(key.pub, bit),
        payload: base,
        signature: honest(base),
        expected: false,
      }
    case 'random':
      return {
        kind,
        publicKey: sha512(seed).subarray(0, 32),
        payload: base,
        signature: sha512(concatBytes(seed, base)),
      }
  }
}

export const describeCase = (c: Case): string =>
  `${c.kind} pub=${toHex(c.publicKey)} payload=${toHex(c.payload)} sig=${toHex(c.signature)}`
