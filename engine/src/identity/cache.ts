/**
 * A size-bounded cache that forgets its least recently used entry when full (`get` and `set`
 * mark an entry used). Verification caches parsed public keys (a square root, or a native key
 * import, per key) and keys come from peers, so the cache must not grow with what a peer
 * sends; the relay bounds its rate-limit buckets and idempotency entries with it.
 */
export class BoundedCache<V, K = string> {
  private readonly entries = new Map<K, V>()
  /** `max` is at least 1 (`Infinity` leaves the cache unbounded). */
  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError('cache size must be at least 1')
  }

  get size(): number {
    return this.entries.size
  }

  /** Returns the value and marks it recently used. */
  get(key: K): V | undefined {
    const v = this.entries.get(key)
    if (v !== undefined) {
      this.entries.delete(key)
      this.entries.set(key, v)
    }
    return v
  }

  set(key: K, value: V): void {
    this.entries.delete(key)
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as K)
    this.entries.set(key, value)
  }

  delete(key: K): void {
    this.entries.delete(key)
  }
}

/** One string per byte sequence (latin1), the cheapest Map key for 32-byte public keys. */
export function bytesKey(b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!)
  return s
}

/** Default bound of every public-key cache (policy, WebCrypto, node:crypto): ~1 MB at most. */
export const PUBLIC_KEY_CACHE_MAX = 4096
