/**
 * The browser `UpdateGuard`: the same queue, deadline and replacement as the Node guard, on a
 * module Web Worker. Browsers offer no heap cap per worker, so a memory bomb is bounded only
 * by the update caps and the deadline. The package starts the worker from a bundled string on a
 * `blob:` URL (start-guard-worker.ts; a page whose CSP has no `worker-src blob:` passes
 * `createWorker`).
 */
import type { UpdateGuard } from './guard.ts'
import { startGuardWorker, type WebWorkerLike } from './start-guard-worker.ts'

export type { WebWorkerLike }

import { createThreadGuard, type GuardResponse } from './thread-guard.ts'

export interface WebWorkerGuardOptions {
  /** Default `DEFAULT_GUARD_DEADLINE_MS` (2 s). */
  deadlineMs?: number
  /** How to start the worker; default: the bundled worker (start-guard-worker.ts). */
  createWorker?: () => WebWorkerLike
}

export function createWebWorkerGuard(options: WebWorkerGuardOptions = {}): UpdateGuard {
  const create = options.createWorker ?? (() => startGuardWorker('peerchat-update-guard'))
  return createThreadGuard((events) => {
    const w = create()
    let alive = true
    w.addEventListener('message', (e) => {
      if (alive) events.message(e.data as GuardResponse)
    })
    const died = () => {
      if (alive) events.died()
    }
    w.addEventListener('error', died)
    w.addEventListener('messageerror', died)
    return {
      post: (req) => w.postMessage(req),
      terminate: () => {
        alive = false
        w.terminate()
      },
    }
  }, options.deadlineMs)
}
