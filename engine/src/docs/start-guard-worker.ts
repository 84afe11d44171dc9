/**
 * Starts the browser guard worker. This module is replaced by the package build
 * (scripts/build-packages.mjs) with one that starts the worker bundled into a string from a
 * `blob:` URL: a worker file next to the package does not survive bundlers (Vite's dependency
 * pre-bundling and esbuild both lose `new URL('./x.worker.js', import.meta.url)`). From the
 * sources (the workspace), Vite resolves the module worker below.
 */
/** The part of the DOM `Worker` this guard uses (tests pass a fake). */
export interface WebWorkerLike {
  postMessage(message: unknown): void
  terminate(): void
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void
  addEventListener(type: 'error' | 'messageerror', listener: () => void): void
}

export const startGuardWorker = (name: string): WebWorkerLike =>
  new Worker(new URL('./update-guard.worker.ts', import.meta.url), { type: 'module', name })
