/**
 * The browser `UpdateGuard`: the same queue, deadline and replacement as the Node guard, on a
 * module Web Worker. Browsers offer no heap cap per worker, so a memory bomb is bounded only
 * by the update caps and the deadline. Bundlers (Vite) resolve the worker URL below.
 */
import type { UpdateGuard } from './guard.ts'
import { createThreadGuard, type GuardResponse } from './thread-guard.ts'

/** The part of the DOM `Worker` this guard uses (tests pass a fake). */
export interface WebWorkerLike {
  postMessage(message: unknown): void
  terminate(): void
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void
  addEventListener(type: 'error' | 'messageerror', listener: () => void): void
}

export interface WebWorkerGuardOptions {
  /** Default `DEFAULT_GUARD_DEADLINE_MS` (2 s). */
  deadlineMs?: number
  /** How to start the worker; default: a module worker on `update-guard.worker.ts`. */
  createWorker?: () => WebWorkerLike
}

const defaultWorker = (): WebWorkerLike =>
  new Worker(new URL('./update-guard.worker.ts', import.meta.url), {
    type: 'module',
    name: 'peerchat-update-guard',
  })

export function createWebWorkerGuard(options: WebWorkerGuardOptions = {}): UpdateGuard {
  const create = options.createWorker ?? defaultWorker
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
