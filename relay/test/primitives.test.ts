/** The bounded building blocks: LRU map, token buckets, idempotency cache. */

import type { Ulid } from '@peerchat/engine'
import { BoundedCache } from '@peerchat/engine'
import { describe, expect, it } from 'vitest'
import { IdempotencyCache } from '../src/core/idempotency.ts'
import { RateLimiter } from '../src/core/token-bucket.ts'
import { DEFAULT_LIMITS, resolveLimits } from '../src/limits.ts'

describe('BoundedCache from the engine core, as the relay uses it', () => {
  it('never holds more than max and forgets the least recently used', () => {
    const m = new BoundedCache<number, number>(3)
    for (let i = 0; i < 10; i++) m.set(i, i)
    expect(m.size).toBe(3)
    expect(m.get(6)).toBeUndefined()
    m.get(7) // 7 becomes most recent
    m.set(10, 10)
    expect(m.get(7)).toBe(7)
    expect(m.get(8)).toBeUndefined()
  })
})

describe('RateLimiter', () => {
  it('allows the burst, refuses the next, and refills at the rate', () => {
    let t = 0
    const r = new RateLimiter(10, 5, 100, () => t)
    for (let i = 0; i < 5; i++) expect(r.take('k')).toBe(true)
    expect(r.take('k')).toBe(false)
    expect(r.take('other')).toBe(true) // per key
    t += 100 // 1 token
    expect(r.take('k')).toBe(true)
    expect(r.take('k')).toBe(false)
    t += 10_000
    for (let i = 0; i < 5; i++) expect(r.take('k')).toBe(true)
    expect(r.take('k')).toBe(false) // never more than the burst
  })

  it('a clock stepping back neither refills nor drains a bucket', () => {
    let t = 10_000
    const r = new RateLimiter(10, 2, 10, () => t)
    expect(r.take('k')).toBe(true)
    t -= 5000
    expect(r.take('k')).toBe(true)
    expect(r.take('k')).toBe(false)
  })

  it('tracks at most maxKeys keys', () => {
    const r = new RateLimiter(1, 1, 50)
    for (let i = 0; i < 1000; i++) r.take(`k${i}`)
    expect(r.trackedKeys).toBe(50)
  })

  it('Infinity disables the limit', () => {
    const r = new RateLimiter(Number.POSITIVE_INFINITY, 1, 10)
    for (let i = 0; i < 100; i++) expect(r.take('k')).toBe(true)
  })
})

describe('IdempotencyCache', () => {
  const stamp = Promise.resolve({ id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' as Ulid, relaySig: new Uint8Array(64) })

  it('hit for the same digest, conflict for another, miss after the TTL', () => {
    let t = 0
    const c = new IdempotencyCache(10, 1000, () => t)
    c.insert('k', 'd1', stamp)
    expect(c.lookup('k', 'd1').kind).toBe('hit')
    expect(c.lookup('k', 'd2').kind).toBe('conflict')
    t = 1000
    expect(c.lookup('k', 'd1').kind).toBe('miss')
  })

  it('is bounded by maxEntries', () => {
    const c = new IdempotencyCache(100, 1e9)
    for (let i = 0; i < 1000; i++) c.insert(`k${i}`, 'd', stamp)
    expect(c.size).toBe(100)
    expect(c.lookup('k0', 'd').kind).toBe('miss')
  })

  it('forgets a failed stamp so that a corrected retry is possible', async () => {
    const c = new IdempotencyCache(10, 1e9)
    c.insert('k', 'd', Promise.resolve(null))
    await new Promise((r) => setTimeout(r, 0))
    expect(c.lookup('k', 'd').kind).toBe('miss')
  })
})

describe('limits', () => {
  it('overrides only known limits with non-negative numbers', () => {
    expect(resolveLimits({ maxFrameBytes: 10 }).maxFrameBytes).toBe(10)
    expect(resolveLimits().eventBurstPerKey).toBe(DEFAULT_LIMITS.eventBurstPerKey)
    expect(() => resolveLimits({ nope: 1 } as never)).toThrow(/unknown limit/)
    expect(() => resolveLimits({ maxFrameBytes: -1 })).toThrow(/non-negative/)
  })
})
