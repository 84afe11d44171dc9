/**
 * Backend selection. The fastest available backend is used unless one is injected:
 * Node entry points call `setDefaultBackend(nodeCryptoBackend)` (see ../node), browsers
 * get WebCrypto when it has Ed25519 and noble otherwise.
 */
import type { Ed25519Backend } from './backend.ts'
import { nobleBackend } from './noble.ts'
import { webcryptoBackend, webcryptoSupportsEd25519 } from './webcrypto.ts'

let chosen: Promise<Ed25519Backend> | undefined

export function setDefaultBackend(backend: Ed25519Backend): void {
  chosen = Promise.resolve(backend)
}

export function defaultBackend(): Promise<Ed25519Backend> {
  chosen ??= webcryptoSupportsEd25519().then((ok) => (ok ? webcryptoBackend : nobleBackend))
  return chosen
}
