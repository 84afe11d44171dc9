/**
 * Time for the engine and whatever drives it: the real clock, or a manual virtual clock that
 * replays a schedule exactly (property tests, benchmarks). Components that wait take a
 * `Scheduler` instead of calling `setTimeout` and `Date.now`, so a test can drive them.
 */
import { LimitError } from './errors.ts'

export interface Scheduler {
  /** Milliseconds on this clock. */
  now(): number
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void
  /**
   * Registers async work started by a timer or a delivery. The virtual clock waits for it
   * before firing the next timer, so a run does not depend on how fast promises settle.
   */
  track<T>(work: Promise<T>): Promise<T>
}

/** The real clock: timers are `setTimeout`, tracked work is not waited for. */
export const realClock: Scheduler = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    return () => clearTimeout(t)
  },
  track: (work) => work,
}

/** Upper bound of timers one `run()` fires by default: a livelock guard, not a budget. */
export const DEFAULT_MAX_STEPS = 1_000_000

interface Timer {
  at: number
  seq: number
  fn: () => void
  cancelled: boolean
}

/**
 * A manual clock. Timers fire in (time, creation) order, one at a time; after each, all
 * tracked work settles before the next. Time only moves in `step`, `advance` and `run`.
 */
export class VirtualClock implements Scheduler {
  private time: number
  private seq = 0
  private heap: Timer[] = []
  private live = 0
  private readonly work = new Set<Promise<unknown>>()
  private readonly failures: unknown[] = []

  constructor(start = 0) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.live
  }

  setTimeout(fn: () => void, ms: number): () => void {
    if (!(ms >= 0)) throw new RangeError(`timer delay must be >= 0, got ${ms}`)
    const timer: Timer = { at: this.time + ms, seq: this.seq++, fn, cancelled: false }
    this.push(timer)
    this.live++
    return () => {
      if (timer.cancelled) return
      timer.cancelled = true
      this.live--
    }
  }

  track<T>(work: Promise<T>): Promise<T> {
    const p = work.then(
      () => {
        this.work.delete(p)
      },
      (e: unknown) => {
        this.work.delete(p)
        this.failures.push(e)
      },
    )
    this.work.add(p)
    return work
  }

  /** Waits until no tracked work is pending; rethrows the first failure of tracked work. */
  async settle(): Promise<void> {
    while (this.work.size > 0) await Promise.all([...this.work])
    if (this.failures.length > 0) throw this.failures.shift()
  }

  /** Fires the next timer (moving time to it) and settles. Returns false when none is left. */
  async step(): Promise<boolean> {
    await this.settle()
    const timer = this.popLive()
    if (!timer) return false
    this.time = Math.max(this.time, timer.at)
    timer.fn()
    await this.settle()
    return true
  }

  /** Fires every timer due within `ms` from now, then sets the time to now + `ms`. */
  async advance(ms: number, maxSteps = DEFAULT_MAX_STEPS): Promise<number> {
    const until = this.time + ms
    let steps = 0
    await this.settle()
    while (this.peekLive() && this.peekLive()!.at <= until) {
      if (steps++ >= maxSteps) throw new LimitError(`clock fired ${maxSteps} timers in advance()`, 'maxSteps')
      await this.step()
    }
    this.time = until
    return steps
  }

  /** Fires timers until none is left. Throws `LimitError` past `maxSteps` (a livelock). */
  async run(maxSteps = DEFAULT_MAX_STEPS): Promise<number> {
    let steps = 0
    while (await this.step()) {
      if (++steps >= maxSteps) throw new LimitError(`clock fired ${maxSteps} timers in run()`, 'maxSteps')
    }
    return steps
  }

  private peekLive(): Timer | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop()
    return this.heap[0]
  }

  private popLive(): Timer | undefined {
    const top = this.peekLive()
    if (!top) return undefined
    this.pop()
    this.live--
    top.cancelled = true // fired: a late cancel is a no-op
    return top
  }

  // A binary min-heap on (at, seq): deterministic order for equal times.
  private static less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push(t: Timer): void {
    const h = this.heap
    h.push(t)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!VirtualClock.less(h[i]!, h[parent]!)) break
      ;[h[i], h[parent]] = [h[parent]!, h[i]!]
      i = parent
    }
  }

  private pop(): void {
    const h = this.heap
    const last = h.pop()!
    if (h.length === 0) return
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && VirtualClock.less(h[l]!, h[m]!)) m = l
      if (r < h.length && VirtualClock.less(h[r]!, h[m]!)) m = r
      if (m === i) break
      ;[h[i], h[m]] = [h[m]!, h[i]!]
      i = m
    }
  }
}
