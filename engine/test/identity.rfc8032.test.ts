/** RFC 8032 §7.1 known answers on every backend: key derivation, signing and raw verification. */
import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../src/bytes.ts'
import type { Ed25519Backend } from '../src/identity/backend.ts'
import { nobleBackend } from '../src/identity/noble.ts'
import { passesPolicy } from '../src/identity/policy.ts'
import { webcryptoBackend } from '../src/identity/webcrypto.ts'
import { nodeCryptoBackend } from '../src/node/ed25519-node.ts'
import { RFC8032_VECTORS } from './vectors/rfc8032-ed25519.ts'

const BACKENDS: Ed25519Backend[] = [nobleBackend, webcryptoBackend, nodeCryptoBackend]

describe.each(BACKENDS)('RFC 8032 vectors on $name', (backend) => {
  it.each(RFC8032_VECTORS)('$name', async (v) => {
    const seed = fromHex(v.secretKey)
    const pub = fromHex(v.publicKey)
    const msg = fromHex(v.message)
    const sig = fromHex(v.signature)
    expect(toHex(await backend.publicKey(seed))).toBe(v.publicKey)
    expect(toHex(await backend.sign(seed, msg))).toBe(v.signature)
    expect(await backend.verify(pub, msg, sig)).toBe(true)
    expect(passesPolicy(pub, sig)).toBe(true)
    // A one-bit change in the message must fail on the same backend.
    const other = msg.length > 0 ? msg.slice() : Uint8Array.of(0)
    other[0]! ^= 1
    expect(await backend.verify(pub, other, sig)).toBe(false)
  })
})
