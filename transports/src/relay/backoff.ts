/** Jittered exponential backoff ("full jitter"): spreads reconnects after a relay restart. */
export interface BackoffOptions {
  initialMs: number
  maxMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 15_000 }

export class Backoff {
  private attempt = 0
  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt: uniform in [initial/2, min(max, initial * 2^attempt)]. */
  next(): number {
    const ceiling = Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** this.attempt)
    this.attempt = Math.min(this.attempt + 1, 30)
    const floor = this.opts.initialMs / 2
    return Math.round(floor + this.random() * Math.max(0, ceiling - floor))
  }

  reset(): void {
    this.attempt = 0
  }
}
