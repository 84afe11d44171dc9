/**
 * The part of an off-thread `UpdateGuard` that does not depend on the platform: a queue of
 * checks answered in order by one worker, a deadline on the job the worker is busy with, and
 * replacement of a worker that hangs or dies. Node (`worker_threads`) and browsers (`Worker`)
 * only supply `start`. The worker side runs `checkUpdate` (see `serveGuardRequests`).
 */
import {
  checkUpdate,
  DEFAULT_UPDATE_LIMITS,
  type GuardVerdict,
  type UpdateGuard,
  type UpdateLimits,
} from './guard.ts'

/** Default time one update may take in the worker before it is refused and the worker replaced. */
export const DEFAULT_GUARD_DEADLINE_MS = 2_000

export interface GuardRequest {
  seq: number
  update: Uint8Array
  limits: UpdateLimits
}
/** A worker says `{ ready: true }` once loaded, then answers each request in order. */
export type GuardResponse = { ready: true } | { seq: number; verdict: GuardVerdict }

/** What the core needs from a platform worker. */
export interface GuardThread {
  post(req: GuardRequest): void
  terminate(): void
}
export interface GuardThreadEvents {
  message(res: GuardResponse): void
  /** The worker failed (an error, an exit, out of memory). */
  died(): void
}

/** The worker side: answer requests from `onRequest` through `reply`, then announce readiness. */
export function serveGuardRequests(
  onRequest: (handler: (req: GuardRequest) => void) => void,
  reply: (res: GuardResponse) => void,
): void {
  onRequest((req) => reply({ seq: req.seq, verdict: checkUpdate(req.update, req.limits) }))
  reply({ ready: true })
}

interface Job {
  req: GuardRequest
  resolve: (v: GuardVerdict) => void
}

export function createThreadGuard(
  start: (events: GuardThreadEvents) => GuardThread,
  deadlineMs = DEFAULT_GUARD_DEADLINE_MS,
): UpdateGuard {
  let thread: GuardThread | undefined
  let ready = false
  let seq = 0
  let closed = false
  const queue: Job[] = [] // in order; the head is the job the worker is busy with
  let timer: ReturnType<typeof setTimeout> | undefined

  /** The deadline runs only while a loaded worker holds a job (boot time does not count). */
  const armDeadline = (): void => {
    if (timer) clearTimeout(timer)
    timer = ready && queue.length > 0 ? setTimeout(() => fail('timeout'), deadlineMs) : undefined
  }

  const stop = (): void => {
    const t = thread
    thread = undefined
    ready = false
    t?.terminate()
  }

  /** The head job broke the worker (or it never started): refuse it, restart for the rest. */
  const fail = (reason: string): void => {
    stop()
    queue.shift()?.resolve({ ok: false, reason })
    if (queue.length > 0 && !closed) spawn()
    armDeadline()
  }

  const spawn = (): void => {
    let self: GuardThread | undefined
    const current = () => self !== undefined && thread === self
    self = start({
      message(res) {
        if (!current()) return
        if ('ready' in res) {
          ready = true
          for (const job of queue) self!.post(job.req)
          armDeadline()
          return
        }
        const job = queue[0]
        if (!job || job.req.seq !== res.seq) return
        queue.shift()
        job.resolve(res.verdict)
        armDeadline()
      },
      died() {
        if (current()) fail(ready ? 'worker-died' : 'worker-unavailable')
      },
    })
    thread = self
  }

  return {
    check(update: Uint8Array, limits: Readonly<UpdateLimits> = DEFAULT_UPDATE_LIMITS): Promise<GuardVerdict> {
      if (closed) return Promise.resolve({ ok: false, reason: 'closed' })
      // Cheap refusals need no round trip.
      if (!(update instanceof Uint8Array) || update.length === 0)
        return Promise.resolve({ ok: false, reason: 'empty' })
      if (update.length > limits.maxBytes) return Promise.resolve({ ok: false, reason: 'too-large' })
      return new Promise((resolve) => {
        const req: GuardRequest = { seq: ++seq, update, limits: { ...limits } }
        queue.push({ req, resolve })
        if (!thread) spawn()
        else if (ready) {
          thread.post(req)
          if (queue.length === 1) armDeadline()
        }
      })
    },
    close() {
      if (closed) return
      closed = true
      if (timer) clearTimeout(timer)
      timer = undefined
      for (const job of queue.splice(0)) job.resolve({ ok: false, reason: 'closed' })
      stop()
    },
  }
}
