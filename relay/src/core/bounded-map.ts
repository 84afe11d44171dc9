/** A Map with a maximum size that forgets its least recently used entry when full. */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>()
  constructor(readonly maxEntries: number) {
    if (!(maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1')
  }

  get size(): number {
    return this.map.size
  }

  /** Returns the value and marks it recently used. */
  get(key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }

  set(key: K, value: V): void {
    this.map.delete(key)
    if (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value as K)
    this.map.set(key, value)
  }

  delete(key: K): void {
    this.map.delete(key)
  }

  /** Entries from least to most recently used. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries()
  }
}
