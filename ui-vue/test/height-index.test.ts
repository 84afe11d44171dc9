import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { HeightIndex, visibleRange } from '../src/lib/height-index.ts'

/** The obvious O(n) model the Fenwick tree must agree with. */
const prefix = (sizes: number[], i: number): number => sizes.slice(0, i).reduce((a, b) => a + b, 0)

describe('HeightIndex', () => {
  it('agrees with prefix sums after any sequence of updates', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 200 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 400 })), { maxLength: 50 }),
        (sizes, updates) => {
          const index = new HeightIndex(sizes)
          const model = [...sizes]
          for (const [at, size] of updates) {
            const i = at % model.length
            expect(index.set(i, size)).toBe(size - model[i]!)
            model[i] = size
          }
          for (let i = 0; i <= model.length; i++) expect(index.offsetOf(i)).toBe(prefix(model, i))
          expect(index.total()).toBe(prefix(model, model.length))
        },
      ),
      { numRuns: 200 },
    )
  })

  it('finds the row containing any position', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 300 }),
        fc.nat(),
        (sizes, at) => {
          const index = new HeightIndex(sizes)
          const y = at % (index.total() + 50)
          const i = index.indexAt(y)
          if (y < index.total()) {
            expect(index.offsetOf(i)).toBeLessThanOrEqual(y)
            expect(index.offsetOf(i + 1)).toBeGreaterThan(y)
          } else {
            expect(i).toBe(sizes.length - 1)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('renders a bounded window of a 100,000-row list wherever it is scrolled', () => {
    const sizes = Array.from({ length: 100_000 }, (_, i) => 24 + (i % 7) * 11)
    const index = new HeightIndex(sizes)
    for (const top of [0, 1234, index.total() / 2, index.total() - 800]) {
      const { start, end } = visibleRange(index, top, 800, 600)
      expect(end - start).toBeGreaterThan(0)
      expect(end - start).toBeLessThan(2200 / 24 + 2)
      expect(index.offsetOf(start)).toBeLessThanOrEqual(Math.max(0, top - 600))
      expect(index.offsetOf(end)).toBeGreaterThanOrEqual(Math.min(index.total(), top + 800 + 600))
    }
  })

  it('refuses updates outside the list and handles an empty one', () => {
    const index = new HeightIndex([10, 20])
    expect(() => index.set(2, 5)).toThrow(RangeError)
    expect(() => index.set(-1, 5)).toThrow(RangeError)
    expect(visibleRange(new HeightIndex([]), 0, 500, 100)).toEqual({ start: 0, end: 0 })
  })
})
