/**
 * Identities: a key pair that signs domain-separated payloads, and the text format used to
 * export and import a secret key.
 *
 * Secret key text: `peerchat-secret-key-v1.<seed>.<public key>` (base64url, no padding).
 * The public key is redundant on purpose: import recomputes it from the seed and refuses a
 * mismatch, which catches a truncated or mistyped paste.
 * Public key text: the 43-character base64url of the 32 bytes.
 */
import { abytes, fromBase64url, randomBytes, toBase64url } from '../bytes.ts'
import type { Ed25519Backend } from './backend.ts'
import { type Domain, signedMessage } from './domains.ts'
import { defaultBackend } from './select.ts'

export type PublicKey = Uint8Array

export interface Signer {
  readonly publicKey: PublicKey
  sign(domain: Domain, payload: Uint8Array): Promise<Uint8Array>
}

const SECRET_PREFIX = 'peerchat-secret-key-v1.'

/** A key pair whose 32-byte seed is held in memory (exportable). */
export class Identity implements Signer {
  private constructor(
    private readonly seed: Uint8Array,
    readonly publicKey: PublicKey,
    private readonly backend: Ed25519Backend,
  ) {}

  static async generate(backend?: Ed25519Backend): Promise<Identity> {
    return Identity.fromSeed(randomBytes(32), backend)
  }

  static async fromSeed(seed: Uint8Array, backend?: Ed25519Backend): Promise<Identity> {
    abytes(seed, 32, 'seed')
    const b = backend ?? (await defaultBackend())
    const copy = seed.slice()
    return new Identity(copy, await b.publicKey(copy), b)
  }

  /** Parses the text format; throws a RangeError that says what is wrong. */
  static async import(text: string, backend?: Ed25519Backend): Promise<Identity> {
    if (typeof text !== 'string') throw new TypeError('secret key text must be a string')
    const trimmed = text.trim()
    if (!trimmed.startsWith(SECRET_PREFIX))
      throw new RangeError(`not a peerchat secret key: expected it to start with "${SECRET_PREFIX}"`)
    const parts = trimmed.slice(SECRET_PREFIX.length).split('.')
    if (parts.length !== 2) throw new RangeError('secret key text is truncated or has extra parts')
    const seed = fromBase64url(parts[0]!)
    const pub = fromBase64url(parts[1]!)
    if (seed.length !== 32 || pub.length !== 32) throw new RangeError('secret key text has wrong lengths')
    const id = await Identity.fromSeed(seed, backend)
    if (publicKeyToText(id.publicKey) !== parts[1])
      throw new RangeError('secret key text is corrupted: its public key does not match its seed')
    return id
  }

  export(): string {
    return `${SECRET_PREFIX}${toBase64url(this.seed)}.${toBase64url(this.publicKey)}`
  }

  sign(domain: Domain, payload: Uint8Array): Promise<Uint8Array> {
    return this.backend.sign(this.seed, signedMessage(domain, payload))
  }
}

export function publicKeyToText(pub: PublicKey): string {
  return toBase64url(abytes(pub, 32, 'public key'))
}

export function publicKeyFromText(text: string): PublicKey {
  const pub = fromBase64url(text)
  if (pub.length !== 32) throw new RangeError('a public key is 32 bytes (43 base64url characters)')
  return pub
}

/** The short form shown in the UI next to a display name. */
export function shortKey(pub: PublicKey): string {
  return publicKeyToText(pub).slice(0, 8)
}
