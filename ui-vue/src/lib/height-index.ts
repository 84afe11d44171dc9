/**
 * Row heights of a virtual list in a Fenwick tree: the offset of any row, the row at any
 * scroll position and a height update all cost O(log n), so a list of 100,000 rows with
 * variable (measured) heights stays cheap to scroll. Building one is O(n).
 */
export class HeightIndex {
  private readonly tree: Float64Array
  private readonly sizes: Float64Array

  constructor(sizes: ArrayLike<number>) {
    const n = sizes.length
    this.sizes = Float64Array.from(sizes)
    this.tree = new Float64Array(n + 1)
    // O(n) construction: each node pushes its partial sum to its parent.
    for (let i = 1; i <= n; i++) {
      this.tree[i]! += this.sizes[i - 1]!
      const parent = i + (i & -i)
      if (parent <= n) this.tree[parent]! += this.tree[i]!
    }
  }

  get length(): number {
    return this.sizes.length
  }

  size(i: number): number {
    return this.sizes[i] ?? 0
  }

  /** Sum of the heights of rows [0, i): the top of row i. */
  offsetOf(i: number): number {
    let sum = 0
    for (let k = Math.min(Math.max(i, 0), this.length); k > 0; k -= k & -k) sum += this.tree[k]!
    return sum
  }

  total(): number {
    return this.offsetOf(this.length)
  }

  /** Sets row i's height; returns the change (positive when the row grew). */
  set(i: number, size: number): number {
    if (i < 0 || i >= this.length) throw new RangeError(`row ${i} out of range`)
    const delta = size - this.sizes[i]!
    if (delta === 0) return 0
    this.sizes[i] = size
    for (let k = i + 1; k <= this.length; k += k & -k) this.tree[k]! += delta
    return delta
  }

  /** The row that contains vertical position y (clamped to the first and last row). */
  indexAt(y: number): number {
    const n = this.length
    if (n === 0) return 0
    // Fenwick descent: largest prefix whose sum is <= y.
    let pos = 0
    let rest = y
    let step = 1
    while (step * 2 <= n) step *= 2
    for (; step > 0; step >>= 1) {
      const next = pos + step
      if (next <= n && this.tree[next]! <= rest) {
        pos = next
        rest -= this.tree[next]!
      }
    }
    return Math.min(pos, n - 1)
  }
}

export interface RowRange {
  /** First rendered row (inclusive). */
  start: number
  /** Last rendered row (exclusive). */
  end: number
}

/** The rows to render for a viewport, plus `overscan` pixels above and below it. */
export function visibleRange(
  index: HeightIndex,
  scrollTop: number,
  viewport: number,
  overscan: number,
): RowRange {
  if (index.length === 0) return { start: 0, end: 0 }
  const start = index.indexAt(Math.max(0, scrollTop - overscan))
  const last = index.indexAt(scrollTop + viewport + overscan)
  return { start, end: Math.min(index.length, last + 1) }
}
