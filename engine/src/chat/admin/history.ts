/**
 * One value over relay time: the admin fold appends changes in id order (so their times never
 * decrease), and a query at time `at` answers the value of the last change at or before it.
 *
 * Bounded: past `AdminLimits.history` changes the oldest is dropped and becomes the value
 * before every kept change, so a query older than the oldest kept change answers the value
 * that held just before it (approximate that far back, identical on every replica).
 */
import { AdminLimits } from './bodies.ts'

export class History<T> {
  private readonly times: number[] = []
  private readonly values: T[] = []

  constructor(
    private initial: T,
    private readonly limit: number = AdminLimits.history,
  ) {}

  /** Records that the value is `value` from relay time `ts` on. */
  set(ts: number, value: T): void {
    this.times.push(ts)
    this.values.push(value)
    if (this.times.length > this.limit) {
      this.times.shift()
      this.initial = this.values.shift() as T
    }
  }

  get current(): T {
    return this.values.length ? this.values[this.values.length - 1]! : this.initial
  }

  /** The value at relay time `at`: a change counts from its own millisecond on. */
  at(at: number): T {
    let lo = 0
    let hi = this.times.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.times[mid]! <= at) lo = mid + 1
      else hi = mid
    }
    return lo === 0 ? this.initial : this.values[lo - 1]!
  }

  /** Changes kept, oldest first, after the value they start from. */
  toJSON(): { initial: T; changes: [ts: number, value: T][] } {
    return { initial: this.initial, changes: this.times.map((t, i) => [t, this.values[i]!]) }
  }
}
