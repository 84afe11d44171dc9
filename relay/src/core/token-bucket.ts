/**
 * Token buckets keyed by a string (a public key or an address), bounded in memory: a key not
 * seen for a while is forgotten, which only ever gives it a full bucket back.
 */
import { BoundedCache } from '@peerchat/engine'

interface Bucket {
  tokens: number
  at: number
}

export class RateLimiter {
  private readonly buckets: BoundedCache<Bucket>

  /** `ratePerSecond` tokens refill continuously up to `burst`; Infinity disables the limit. */
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new BoundedCache(maxKeys)
  }

  /** Takes `cost` tokens for `key`; false (and nothing taken) when the bucket is short. */
  take(key: string, cost = 1): boolean {
    if (this.ratePerSecond === Number.POSITIVE_INFINITY) return true
    const t = this.now()
    let b = this.buckets.get(key)
    if (!b) {
      b = { tokens: this.burst, at: t }
      this.buckets.set(key, b)
    } else {
      // A clock stepping back refills nothing (and takes nothing away).
      const elapsed = Math.max(0, t - b.at)
      b.tokens = Math.min(this.burst, b.tokens + (elapsed / 1000) * this.ratePerSecond)
      b.at = Math.max(b.at, t)
    }
    if (b.tokens < cost) return false
    b.tokens -= cost
    return true
  }

  get trackedKeys(): number {
    return this.buckets.size
  }
}
