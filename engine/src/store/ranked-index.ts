/**
 * An ordered index of (ULID, digest, value) with per-block aggregates: a sorted list of
 * blocks of at most `BLOCK_MAX` entries, each keeping its count and digest sum.
 *
 * count / fingerprint / rank lookups cost O(n / BLOCK_MAX + BLOCK_MAX) (about 400 steps at
 * n = 100,000) instead of O(n); an insert anywhere costs a binary search and a splice in
 * one block. Any store can keep one in memory beside its durable copy.
 */
import type { Ulid } from '../ulid.ts'
import { addInto, type DigestSum, digestWords, fingerprintOf, newSum, subInto } from './fingerprint.ts'
import type { Fingerprint, IdRange } from './store.ts'

/** Default entries per block before it splits in two (tuned for n ~ 10^5). */
export const BLOCK_MAX = 512

export interface IndexEntry<T> {
  readonly id: Ulid
  readonly words: Uint32Array
  readonly value: T
}

interface Block<T> {
  entries: IndexEntry<T>[]
  sum: DigestSum
}

/** A position: entry `i` of block `b` (`b === blocks.length` is the end). */
interface Pos {
  b: number
  i: number
}

function blockOf<T>(entries: IndexEntry<T>[]): Block<T> {
  const sum = newSum()
  for (const e of entries) addInto(sum, e.words)
  return { entries, sum }
}

/** First index in `entries` whose id is >= `id`. */
function lowerBound<T>(entries: IndexEntry<T>[], id: Ulid): number {
  let lo = 0
  let hi = entries.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (entries[mid]!.id < id) lo = mid + 1
    else hi = mid
  }
  return lo
}

export class RankedIndex<T> {
  private blocks: Block<T>[] = []
  private total = 0

  /** `blockMax`: entries per block before a split; a block under a quarter of it merges with its neighbour. */
  constructor(private readonly blockMax = BLOCK_MAX) {
    if (!Number.isInteger(blockMax) || blockMax < 2) throw new RangeError('blockMax must be an integer >= 2')
  }

  get size(): number {
    return this.total
  }

  /** Adds an entry; false (and no change) when the id is present. */
  insert(id: Ulid, digest: Uint8Array, value: T): boolean {
    const entry: IndexEntry<T> = { id, words: digestWords(digest), value }
    if (this.blocks.length === 0) {
      this.blocks.push(blockOf([entry]))
      this.total = 1
      return true
    }
    // The first block whose last id is >= id, or the last block when id is the largest.
    let b = this.blockFor(id)
    if (b === this.blocks.length) b--
    const block = this.blocks[b]!
    const i = lowerBound(block.entries, id)
    if (block.entries[i]?.id === id) return false
    block.entries.splice(i, 0, entry)
    addInto(block.sum, entry.words)
    this.total++
    if (block.entries.length > this.blockMax) {
      const half = block.entries.length >>> 1
      this.blocks.splice(b, 1, blockOf(block.entries.slice(0, half)), blockOf(block.entries.slice(half)))
    }
    return true
  }

  delete(id: Ulid): boolean {
    const b = this.blockFor(id)
    const block = this.blocks[b]
    if (!block) return false
    const i = lowerBound(block.entries, id)
    const entry = block.entries[i]
    if (entry?.id !== id) return false
    block.entries.splice(i, 1)
    subInto(block.sum, entry.words)
    this.total--
    if (block.entries.length === 0) this.blocks.splice(b, 1)
    else this.mergeIfSmall(b)
    return true
  }

  get(id: Ulid): T | undefined {
    const block = this.blocks[this.blockFor(id)]
    if (!block) return undefined
    const entry = block.entries[lowerBound(block.entries, id)]
    return entry?.id === id ? entry.value : undefined
  }

  count(range: IdRange): number {
    return this.rankOf(this.end(range)) - this.rankOf(this.start(range))
  }

  fingerprint(range: IdRange): Fingerprint {
    const from = this.start(range)
    const to = this.end(range)
    const acc = newSum()
    let count = 0
    if (from.b === to.b) {
      count = this.sumSlice(from.b, from.i, to.i, acc)
    } else if (from.b < to.b) {
      count += this.sumSlice(from.b, from.i, this.blocks[from.b]!.entries.length, acc)
      for (let b = from.b + 1; b < to.b; b++) {
        const block = this.blocks[b]!
        addInto(acc, block.sum)
        count += block.entries.length
      }
      count += this.sumSlice(to.b, 0, to.i, acc)
    }
    return fingerprintOf(count, acc)
  }

  /** Ids at 0-based ranks within `range`; ranks must ascend and stay below the range's count. */
  idsAtRanks(range: IdRange, ranks: readonly number[]): Ulid[] {
    const from = this.start(range)
    const available = this.count(range)
    const out: Ulid[] = []
    // Walk forward once: (b, i) is the position of rank `at`.
    let b = from.b
    let i = from.i
    let at = 0
    for (const rank of ranks) {
      if (!Number.isInteger(rank) || rank < at || rank >= available)
        throw new RangeError(`rank ${rank} out of order or outside the range (count ${available})`)
      let skip = rank - at
      while (skip > 0) {
        const left = this.blocks[b]!.entries.length - i
        if (skip < left) {
          i += skip
          skip = 0
        } else {
          skip -= left
          b++
          i = 0
        }
      }
      at = rank
      out.push(this.blocks[b]!.entries[i]!.id)
    }
    return out
  }

  /** Entries of `range` in order (or reverse order), at most `limit`. */
  *entries(range: IdRange, reverse = false, limit = Number.POSITIVE_INFINITY): Generator<IndexEntry<T>> {
    const from = this.start(range)
    const to = this.end(range)
    let left = limit
    if (!reverse) {
      for (let b = from.b, i = from.i; left > 0 && (b < to.b || (b === to.b && i < to.i)); ) {
        const block = this.blocks[b]!
        if (i >= block.entries.length) {
          b++
          i = 0
          continue
        }
        yield block.entries[i++]!
        left--
      }
    } else {
      for (let b = to.b, i = to.i - 1; left > 0; ) {
        if (i < 0) {
          if (--b < from.b) break
          i = this.blocks[b]!.entries.length - 1
          continue
        }
        if (b === from.b && i < from.i) break
        yield this.blocks[b]!.entries[i--]!
        left--
      }
    }
  }

  /** Index of the first block whose last id is >= id (blocks.length when none). */
  private blockFor(id: Ulid): number {
    let lo = 0
    let hi = this.blocks.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const entries = this.blocks[mid]!.entries
      if (entries[entries.length - 1]!.id < id) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Position of the first entry >= id. */
  private seek(id: Ulid): Pos {
    const b = this.blockFor(id)
    if (b === this.blocks.length) return { b, i: 0 }
    return { b, i: lowerBound(this.blocks[b]!.entries, id) }
  }

  private start(range: IdRange): Pos {
    return range.gte === undefined ? { b: 0, i: 0 } : this.seek(range.gte)
  }

  private end(range: IdRange): Pos {
    const to = range.lt === undefined ? { b: this.blocks.length, i: 0 } : this.seek(range.lt)
    // An empty or inverted range ends where it starts.
    if (range.gte !== undefined && range.lt !== undefined && range.lt <= range.gte) return this.start(range)
    return to
  }

  private rankOf(pos: Pos): number {
    let r = pos.i
    for (let b = 0; b < pos.b; b++) r += this.blocks[b]!.entries.length
    return r
  }

  /** Adds entries [from, to) of block b into acc, via the block sum when that is shorter. */
  private sumSlice(b: number, from: number, to: number, acc: DigestSum): number {
    const block = this.blocks[b]
    if (!block || to <= from) return 0
    const entries = block.entries
    if (to - from > entries.length / 2) {
      addInto(acc, block.sum)
      for (let i = 0; i < from; i++) subInto(acc, entries[i]!.words)
      for (let i = to; i < entries.length; i++) subInto(acc, entries[i]!.words)
    } else {
      for (let i = from; i < to; i++) addInto(acc, entries[i]!.words)
    }
    return to - from
  }

  private mergeIfSmall(b: number): void {
    const block = this.blocks[b]!
    const next = this.blocks[b + 1]
    if (block.entries.length >= this.blockMax / 4 || !next) return
    if (block.entries.length + next.entries.length > this.blockMax) return
    this.blocks.splice(b, 2, blockOf(block.entries.concat(next.entries)))
  }
}
