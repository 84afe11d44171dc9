/** Node-only entry (`@peerchat/engine/node`): the engine core never imports `node:` modules. */
import { setDefaultBackend } from '../identity/select.ts'
import { nodeCryptoBackend } from './ed25519-node.ts'

export { nodeCryptoBackend }

/** Call once at a Node entry point to use OpenSSL for Ed25519. */
export function useNodeCrypto(): void {
  setDefaultBackend(nodeCryptoBackend)
}
export { createWorkerGuard, DEFAULT_GUARD_HEAP_MB, type WorkerGuardOptions } from './worker-guard.ts'
