/** Native fast path: WebCrypto Ed25519 (browsers; Node's globalThis.crypto too). */
import { concatBytes, fromBase64url } from '../bytes.ts'
import type { Ed25519Backend } from './backend.ts'
import { BoundedCache, bytesKey, PUBLIC_KEY_CACHE_MAX } from './cache.ts'

const PKCS8_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])
const ALG = { name: 'Ed25519' } as const
const subtle = (): SubtleCrypto => globalThis.crypto.subtle

/** Imported signing keys, per seed object (the seed stays owned by its Identity). */
const signKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>()
const verifyKeys = new BoundedCache<Promise<CryptoKey>>(PUBLIC_KEY_CACHE_MAX)

/** Importing a key costs as much as a verification: parse each public key once. */
function importVerifyKey(pub: Uint8Array): Promise<CryptoKey> {
  const id = bytesKey(pub)
  let key = verifyKeys.get(id)
  if (!key) {
    key = subtle().importKey('raw', pub as BufferSource, ALG, false, ['verify'])
    verifyKeys.set(id, key)
    key.catch(() => verifyKeys.delete(id))
  }
  return key
}

export function importSeed(seed: Uint8Array, extractable = false): Promise<CryptoKey> {
  return subtle().importKey('pkcs8', concatBytes(PKCS8_PREFIX, seed) as BufferSource, ALG, extractable, [
    'sign',
  ])
}

export const webcryptoBackend: Ed25519Backend = {
  name: 'webcrypto',
  async publicKey(seed) {
    const priv = await importSeed(seed, true)
    const jwk = await subtle().exportKey('jwk', priv)
    const x = jwk.x
    if (!x) throw new Error('WebCrypto did not export the public key')
    return fromBase64url(x)
  },
  async sign(seed, message) {
    let key = signKeys.get(seed)
    if (!key) {
      key = importSeed(seed)
      signKeys.set(seed, key)
    }
    return new Uint8Array(await subtle().sign(ALG, await key, message as BufferSource))
  },
  async verify(publicKey, message, signature) {
    try {
      const key = await importVerifyKey(publicKey)
      return await subtle().verify(ALG, key, signature as BufferSource, message as BufferSource)
    } catch {
      return false
    }
  },
}

let support: Promise<boolean> | undefined
/** Whether this runtime's WebCrypto implements Ed25519 (all current browsers and Node >= 18.4). */
export function webcryptoSupportsEd25519(): Promise<boolean> {
  support ??= (async () => {
    try {
      if (!globalThis.crypto?.subtle) return false
      const seed = new Uint8Array(32)
      const sig = await webcryptoBackend.sign(seed, new Uint8Array(0))
      return sig.length === 64
    } catch {
      return false
    }
  })()
  return support
}
