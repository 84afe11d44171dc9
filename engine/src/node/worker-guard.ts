/**
 * The Node `UpdateGuard`: untrusted Yjs updates are validated and trial-applied in a
 * `worker_threads` worker with a deadline and a heap cap. A worker that misses the deadline
 * or runs out of memory is terminated (the update is refused as `timeout` / `worker-died`)
 * and a fresh one takes the rest of the queue, so a crafted update costs at most one deadline.
 */
import type { UpdateGuard } from '../docs/guard.ts'
import { createThreadGuard, type GuardResponse } from '../docs/thread-guard.ts'
import { startGuardWorker } from './start-guard-worker.ts'

/** Default heap cap of the guard worker (MiB): a memory bomb kills the worker, not the app. */
export const DEFAULT_GUARD_HEAP_MB = 128

export interface WorkerGuardOptions {
  /** Default `DEFAULT_GUARD_DEADLINE_MS` (2 s). */
  deadlineMs?: number
  heapMb?: number
}

export function createWorkerGuard(options: WorkerGuardOptions = {}): UpdateGuard {
  const heapMb = options.heapMb ?? DEFAULT_GUARD_HEAP_MB
  return createThreadGuard((events) => {
    const w = startGuardWorker({
      maxOldGenerationSizeMb: heapMb,
      maxYoungGenerationSizeMb: Math.min(32, heapMb),
    })
    w.unref() // an idle guard must not keep the process alive; pending jobs hold a timer
    w.on('message', (res: GuardResponse) => events.message(res))
    w.on('error', () => events.died())
    w.on('exit', () => events.died())
    return {
      post: (req) => w.postMessage(req),
      terminate: () => {
        w.removeAllListeners()
        void w.terminate()
      },
    }
  }, options.deadlineMs)
}
