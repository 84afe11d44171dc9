/**
 * A size-bounded cache keyed by byte strings. Verification caches parsed public keys (a
 * square root, or a native key import, per key) and keys come from peers, so the cache
 * must not grow with what a peer sends: past `max` entries the oldest is dropped.
 */
export class BoundedCache<V> {
  private readonly entries = new Map<string, V>()
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('cache size must be a positive integer')
  }

  get size(): number {
    return this.entries.size
  }

  get(key: string): V | undefined {
    return this.entries.get(key)
  }

  set(key: string, value: V): void {
    if (!this.entries.has(key) && this.entries.size >= this.max)
      this.entries.delete(this.entries.keys().next().value!)
    this.entries.set(key, value)
  }

  delete(key: string): void {
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
