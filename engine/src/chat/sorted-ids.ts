/**
 * A sorted set of ULIDs kept in chunks of at most `CHUNK` ids, so an insertion anywhere
 * costs a binary search over chunks plus a bounded splice: O(log n + CHUNK), never O(n).
 * In-order arrival (the common case: ULIDs grow with time) appends to the last chunk.
 */
import { firstIndex } from '../first-index.ts'
import type { Ulid } from '../ulid.ts'

/** Ids per chunk before it splits in two (a constant, so inserts stay O(log n)). */
export const SORTED_IDS_CHUNK = 512

/** Index of the first element of `arr` that is >= `id`. */
const lowerBound = (arr: readonly Ulid[], id: Ulid): number => firstIndex(arr, (x) => x < id)

export class SortedIds implements Iterable<Ulid> {
  private chunks: Ulid[][] = []
  private count = 0

  get size(): number {
    return this.count
  }

  /** Index of the chunk that holds `id` or where it belongs. */
  private chunkFor(id: Ulid): number {
    let lo = 0
    let hi = this.chunks.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const chunk = this.chunks[mid]!
      if (chunk[chunk.length - 1]! < id) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  has(id: Ulid): boolean {
    if (this.count === 0) return false
    const chunk = this.chunks[this.chunkFor(id)]!
    return chunk[lowerBound(chunk, id)] === id
  }

  /** Inserts `id`; returns false if it was already present. */
  add(id: Ulid): boolean {
    if (this.count === 0) {
      this.chunks.push([id])
      this.count = 1
      return true
    }
    const c = this.chunkFor(id)
    const chunk = this.chunks[c]!
    const at = lowerBound(chunk, id)
    if (chunk[at] === id) return false
    chunk.splice(at, 0, id)
    this.count++
    if (chunk.length > SORTED_IDS_CHUNK) this.chunks.splice(c + 1, 0, chunk.splice(chunk.length >>> 1))
    return true
  }

  /** Removes `id`; returns false if it was absent. */
  delete(id: Ulid): boolean {
    if (this.count === 0) return false
    const c = this.chunkFor(id)
    const chunk = this.chunks[c]!
    const at = lowerBound(chunk, id)
    if (chunk[at] !== id) return false
    chunk.splice(at, 1)
    if (chunk.length === 0) this.chunks.splice(c, 1)
    this.count--
    return true
  }

  *[Symbol.iterator](): Iterator<Ulid> {
    for (const chunk of this.chunks) yield* chunk
  }

  /** The last `n` ids in order (the view's "latest messages" window). */
  last(n: number): Ulid[] {
    const out: Ulid[] = []
    for (let c = this.chunks.length - 1; c >= 0 && out.length < n; c--) {
      const chunk = this.chunks[c]!
      for (let i = chunk.length - 1; i >= 0 && out.length < n; i--) out.push(chunk[i]!)
    }
    return out.reverse()
  }

  toArray(): Ulid[] {
    return this.chunks.flat()
  }
}
