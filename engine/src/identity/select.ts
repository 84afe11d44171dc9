/**
 * Backend selection. The fastest available backend is used unless one is injected:
 * Node entry points call `setDefaultBackend(nodeCryptoBackend)` (see ../node), browsers
 * get WebCrypto when it has Ed25519 and noble otherwise. noble (and SHA-512) is loaded only
 * then: every current browser has Ed25519 in WebCrypto, so pages do not ship the fallback.
 */
import type { Ed25519Backend } from './backend.ts'
import { webcryptoBackend, webcryptoSupportsEd25519 } from './webcrypto.ts'

let chosen: Promise<Ed25519Backend> | undefined

export function setDefaultBackend(backend: Ed25519Backend): void {
  chosen = Promise.resolve(backend)
}

export function defaultBackend(): Promise<Ed25519Backend> {
  chosen ??= webcryptoSupportsEd25519().then(async (ok) =>
    ok ? webcryptoBackend : (await import('./noble.ts')).nobleBackend,
  )
  return chosen
}
