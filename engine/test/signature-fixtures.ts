/** Signature helpers shared by the engine's tests. */
import { createPublicKey, verify } from 'node:crypto'
import { fromHex } from '../src/bytes.ts'
import type { Ed25519Backend } from '../src/identity/backend.ts'
import { nodeCryptoBackend } from '../src/node/ed25519-node.ts'

/** Ed25519 verification straight through Node's OpenSSL, outside our code: vectors check against it. */
export const rawVerify = (pub: string, message: Uint8Array, sig: string): boolean =>
  verify(
    null,
    message,
    createPublicKey({
      key: Buffer.from(`302a300506032b6570032100${pub}`, 'hex'),
      format: 'der',
      type: 'spki',
    }),
    fromHex(sig),
  )

/** A backend that counts signature checks. */
export function counting(): Ed25519Backend & { calls: number } {
  const b = {
    ...nodeCryptoBackend,
    name: 'counting',
    calls: 0,
    verify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array) {
      b.calls++
      return nodeCryptoBackend.verify(pub, msg, sig)
    },
  }
  return b
}
