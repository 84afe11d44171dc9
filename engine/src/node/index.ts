/** Node-only entry (`@peerchat/engine/node`): the engine core never imports `node:` modules. */
import type { Ed25519Backend } from '../identity/backend.ts'
import { setDefaultBackend } from '../identity/select.ts'
import { webcryptoBackend } from '../identity/webcrypto.ts'
import { nodeCryptoBackend } from './ed25519-node.ts'

export { nodeCryptoBackend }

/**
 * For peers that verify history in bulk: OpenSSL signs (synchronous, fastest per call) and
 * WebCrypto verifies — Node runs its calls on the libuv thread pool, so many verifications in
 * flight use every core (13k/s vs 8k/s for synchronous node:crypto on 2 cores, measured here).
 */
export const nodePeerBackend: Ed25519Backend = {
  name: 'node:crypto sign + WebCrypto verify',
  publicKey: (seed) => nodeCryptoBackend.publicKey(seed),
  sign: (seed, message) => nodeCryptoBackend.sign(seed, message),
  verify: (pub, message, sig) => webcryptoBackend.verify(pub, message, sig),
}

/** Call once at a Node entry point to use OpenSSL for Ed25519. */
export function useNodeCrypto(): void {
  setDefaultBackend(nodeCryptoBackend)
}
export { type PrometheusMetric, renderPrometheus } from './prometheus.ts'
export { createWorkerGuard, DEFAULT_GUARD_HEAP_MB, type WorkerGuardOptions } from './worker-guard.ts'
