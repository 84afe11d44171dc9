import type { Ed25519Backend } from './backend.ts'
import { Domain, signedMessage } from './domains.ts'
import { passesPolicy } from './policy.ts'
import { defaultBackend } from './select.ts'

const DOMAINS: ReadonlySet<unknown> = new Set(Object.values(Domain))

/**
 * Verifies a domain-separated signature under the engine's policy. Returns false for any
 * hostile or malformed input (an unknown domain included); never throws for bad data.
 */
export async function verifySignature(
  domain: Domain,
  publicKey: Uint8Array,
  payload: Uint8Array,
  signature: Uint8Array,
  backend?: Ed25519Backend,
): Promise<boolean> {
  if (!DOMAINS.has(domain) || !(payload instanceof Uint8Array)) return false
  if (!passesPolicy(publicKey, signature)) return false
  const b = backend ?? (await defaultBackend())
  return b.verify(publicKey, signedMessage(domain, payload), signature)
}
