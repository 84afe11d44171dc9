/** Node's fastest path: node:crypto (OpenSSL) with key objects parsed once and cached. */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import type { Ed25519Backend } from '../identity/backend.ts'
import { BoundedCache, bytesKey, PUBLIC_KEY_CACHE_MAX } from '../identity/cache.ts'

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

const privateKeys = new WeakMap<Uint8Array, KeyObject>()
const publicKeys = new BoundedCache<KeyObject>(PUBLIC_KEY_CACHE_MAX)

function privateKey(seed: Uint8Array): KeyObject {
  let k = privateKeys.get(seed)
  if (!k) {
    k = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
    privateKeys.set(seed, k)
  }
  return k
}

function publicKey(pub: Uint8Array): KeyObject {
  const id = bytesKey(pub)
  let k = publicKeys.get(id)
  if (!k) {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' })
    publicKeys.set(id, k)
  }
  return k
}

export const nodeCryptoBackend: Ed25519Backend = {
  name: 'node:crypto',
  async publicKey(seed) {
    const spki = createPublicKey(privateKey(seed)).export({ format: 'der', type: 'spki' })
    return new Uint8Array(spki.subarray(SPKI_PREFIX.length))
  },
  async sign(seed, message) {
    return new Uint8Array(sign(null, message, privateKey(seed)))
  },
  async verify(pub, message, signature) {
    try {
      return verify(null, message, publicKey(pub), signature)
    } catch {
      return false
    }
  },
}
