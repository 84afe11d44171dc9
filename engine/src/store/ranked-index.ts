/**
 * An ordered index of (ULID, digest, value) with per-block aggregates: a sorted list of
 * blocks of at most `BLOCK_MAX` entries, each keeping its count and digest sum.
 *
 * count / fingerprint / rank lookups cost O(n / BLOCK_MAX + BLOCK_MAX) (about 400 steps at
 * n = 100,000) instead of O(n); an insert anywhere costs a binary search and a splice in
 * one block. Any store can keep one in memory beside its durable copy.
 *
 * Blocks are kept as parallel arrays (ids, values, and every digest's eight words in one
 * Uint32Array per block) rather than one object per entry: a typed array per entry costs
 * ~250 bytes, which made 100,000 entries take ~37 MB (a virtual client holds that per channel
 * on a 256 MB machine; bench/README.md, ## memory).
 */

import { abytes } from '../bytes.ts'
import type { Ulid } from '../ulid.ts'
import { addInto, DIGEST_BYTES, type DigestSum, fingerprintOf, newSum } from './fingerprint.ts'
import type { Fingerprint, IdRange } from './store.ts'

/** Default entries per block before it splits in two (tuned for n ~ 10^5). */
export const BLOCK_MAX = 512

export interface IndexEntry<T> {
  readonly id: Ulid
  /** The digest as eight little-endian words (a view into the block: copy it to keep it). */
  readonly words: Uint32Array
  readonly value: T
}

const W = 8 // words per digest

interface Block<T> {
  ids: Ulid[]
  values: T[]
  /** Entry i's digest words at [i * W, i * W + W); capacity grows by doubling. */
  words: Uint32Array
  sum: DigestSum
}

/** A position: entry `i` of block `b` (`b === blocks.length` is the end). */
interface Pos {
  b: number
  i: number
}

function addAt(acc: DigestSum, words: Uint32Array, at: number): void {
  let carry = 0
  for (let k = 0; k < W; k++) {
    const s = acc[k]! + words[at + k]! + carry
    acc[k] = s
    carry = s > 0xffffffff ? 1 : 0
  }
}

function subAt(acc: DigestSum, words: Uint32Array, at: number): void {
  let borrow = 0
  for (let k = 0; k < W; k++) {
    const s = acc[k]! - words[at + k]! - borrow
    acc[k] = s
    borrow = s < 0 ? 1 : 0
  }
}

/** A digest's eight little-endian words, as `digestWords` computes them, written at `at`. */
function writeWords(words: Uint32Array, at: number, d: Uint8Array): void {
  for (let k = 0; k < W; k++) {
    const o = k * 4
    words[at + k] = d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16) | (d[o + 3]! << 24)
  }
}

/** A block of entries [from, to) of `src` (ids, values and words copied). */
function blockOf<T>(ids: Ulid[], values: T[], words: Uint32Array, from: number, to: number): Block<T> {
  const n = to - from
  const own = new Uint32Array(Math.max(4, n) * W)
  own.set(words.subarray(from * W, to * W))
  const sum = newSum()
  for (let i = 0; i < n; i++) addAt(sum, own, i * W)
  return { ids: ids.slice(from, to), values: values.slice(from, to), words: own, sum }
}

/** First index in `ids` whose id is >= `id`. */
function lowerBound(ids: Ulid[], id: Ulid): number {
  let lo = 0
  let hi = ids.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ids[mid]! < id) lo = mid + 1
    else hi = mid
  }
  return lo
}

const entryAt = <T>(block: Block<T>, i: number): IndexEntry<T> => ({
  id: block.ids[i]!,
  words: block.words.subarray(i * W, i * W + W),
  value: block.values[i]!,
})

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
    abytes(digest, DIGEST_BYTES, 'digest')
    if (this.blocks.length === 0) {
      const block = blockOf<T>([], [], new Uint32Array(0), 0, 0)
      block.ids.push(id)
      block.values.push(value)
      writeWords(block.words, 0, digest)
      addAt(block.sum, block.words, 0)
      this.blocks.push(block)
      this.total = 1
      return true
    }
    // The first block whose last id is >= id, or the last block when id is the largest.
    let b = this.blockFor(id)
    if (b === this.blocks.length) b--
    const block = this.blocks[b]!
    const i = lowerBound(block.ids, id)
    if (block.ids[i] === id) return false
    const n = block.ids.length
    if ((n + 1) * W > block.words.length) {
      const grown = new Uint32Array(block.words.length * 2)
      grown.set(block.words)
      block.words = grown
    }
    block.words.copyWithin((i + 1) * W, i * W, n * W)
    // Written in place: a typed array per insert would be native garbage (malloc churn).
    writeWords(block.words, i * W, digest)
    block.ids.splice(i, 0, id)
    block.values.splice(i, 0, value)
    addAt(block.sum, block.words, i * W)
    this.total++
    if (block.ids.length > this.blockMax) {
      const half = block.ids.length >>> 1
      const { ids, values, words: all } = block
      this.blocks.splice(
        b,
        1,
        blockOf(ids, values, all, 0, half),
        blockOf(ids, values, all, half, ids.length),
      )
    }
    return true
  }

  delete(id: Ulid): boolean {
    const b = this.blockFor(id)
    const block = this.blocks[b]
    if (!block) return false
    const i = lowerBound(block.ids, id)
    if (block.ids[i] !== id) return false
    subAt(block.sum, block.words, i * W)
    block.words.copyWithin(i * W, (i + 1) * W, block.ids.length * W)
    block.ids.splice(i, 1)
    block.values.splice(i, 1)
    this.total--
    if (block.ids.length === 0) this.blocks.splice(b, 1)
    else this.mergeIfSmall(b)
    return true
  }

  get(id: Ulid): T | undefined {
    const block = this.blocks[this.blockFor(id)]
    if (!block) return undefined
    const i = lowerBound(block.ids, id)
    return block.ids[i] === id ? block.values[i] : undefined
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
      count += this.sumSlice(from.b, from.i, this.blocks[from.b]!.ids.length, acc)
      for (let b = from.b + 1; b < to.b; b++) {
        const block = this.blocks[b]!
        addInto(acc, block.sum)
        count += block.ids.length
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
        const left = this.blocks[b]!.ids.length - i
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
      out.push(this.blocks[b]!.ids[i]!)
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
        if (i >= block.ids.length) {
          b++
          i = 0
          continue
        }
        yield entryAt(block, i++)
        left--
      }
    } else {
      for (let b = to.b, i = to.i - 1; left > 0; ) {
        if (i < 0) {
          if (--b < from.b) break
          i = this.blocks[b]!.ids.length - 1
          continue
        }
        if (b === from.b && i < from.i) break
        yield entryAt(this.blocks[b]!, i--)
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
      const ids = this.blocks[mid]!.ids
      if (ids[ids.length - 1]! < id) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Position of the first entry >= id. */
  private seek(id: Ulid): Pos {
    const b = this.blockFor(id)
    if (b === this.blocks.length) return { b, i: 0 }
    return { b, i: lowerBound(this.blocks[b]!.ids, id) }
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
    for (let b = 0; b < pos.b; b++) r += this.blocks[b]!.ids.length
    return r
  }

  /** Adds entries [from, to) of block b into acc, via the block sum when that is shorter. */
  private sumSlice(b: number, from: number, to: number, acc: DigestSum): number {
    const block = this.blocks[b]
    if (!block || to <= from) return 0
    const n = block.ids.length
    if (to - from > n / 2) {
      addInto(acc, block.sum)
      for (let i = 0; i < from; i++) subAt(acc, block.words, i * W)
      for (let i = to; i < n; i++) subAt(acc, block.words, i * W)
    } else {
      for (let i = from; i < to; i++) addAt(acc, block.words, i * W)
    }
    return to - from
  }

  private mergeIfSmall(b: number): void {
    const block = this.blocks[b]!
    const next = this.blocks[b + 1]
    if (block.ids.length >= this.blockMax / 4 || !next) return
    const n = block.ids.length
    const m = next.ids.length
    if (n + m > this.blockMax) return
    const words = new Uint32Array((n + m) * W)
    words.set(block.words.subarray(0, n * W))
    words.set(next.words.subarray(0, m * W), n * W)
    const ids = block.ids.concat(next.ids)
    this.blocks.splice(b, 2, blockOf(ids, block.values.concat(next.values), words, 0, n + m))
  }
}
