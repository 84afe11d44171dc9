/**
 * The one seeded PRNG of the packages (sfc32 seeded through splitmix32), so a simulated
 * network, a delivery schedule or a test fixture replays exactly from its seed. Not for
 * cryptography.
 */
export class SeededRandom {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(readonly seed: number) {
    if (!Number.isInteger(seed)) throw new TypeError('seed must be an integer')
    let s = seed >>> 0
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    for (let i = 0; i < 12; i++) this.u32()
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  /** True with probability `p`. Draws a number even when p is 0 or 1, so schedules stay aligned. */
  chance(p: number): boolean {
    return this.next() < p
  }
}

/** A fresh seed for runs that were not given one (report it so the run can be replayed). */
export const randomSeed = (): number => Math.floor(Math.random() * 2 ** 31)

/** A `() => number` uniform in [0, 1) over a `SeededRandom` (for APIs that take `Math.random`'s shape). */
export function seededUniform(seed: number): () => number {
  const r = new SeededRandom(seed)
  return () => r.next()
}
