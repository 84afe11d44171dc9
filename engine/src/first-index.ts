/**
 * Binary search over a sorted list: the first index whose element is not `before` (the list's
 * length when every element is). `before` must be true for a prefix of the list and false after.
 * Lower bound of x: `firstIndex(list, (e) => e < x)`; upper bound: `firstIndex(list, (e) => e <= x)`.
 */
export function firstIndex<T>(list: readonly T[], before: (element: T) => boolean): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (before(list[mid]!)) lo = mid + 1
    else hi = mid
  }
  return lo
}
