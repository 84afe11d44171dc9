/**
 * Starts the Node guard worker. This module is replaced by the package build
 * (scripts/build-packages.mjs) with one that starts the worker bundled into a CommonJS string as
 * an `eval` worker, so an app bundled by esbuild still has its guard. From the sources (the
 * workspace), workers do not inherit a TypeScript loader's hooks for their entry module
 * (Node 20), so the .ts worker is started from a small bootstrap that registers tsx first.
 */
import { type ResourceLimits, Worker } from 'node:worker_threads'

const WORKER_URL = new URL('./update-guard-worker.ts', import.meta.url)

export function startGuardWorker(resourceLimits: ResourceLimits): Worker {
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}) })`
  return new Worker(boot, { eval: true, resourceLimits })
}
