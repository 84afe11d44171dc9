/** Named defaults of a virtual client (apart, so the CLIs' option parsing imports no peer code). */
export const VirtualClientDefaults = {
  /** The rolling window of history held and served. */
  windowMs: 24 * 60 * 60_000,
  /**
   * Bytes of blobs (images) kept on disk; unpinned ones beyond it are evicted, least recently
   * used first. Two clients and their event logs fit the 1 GB volume of README's fly.io setup.
   */
  blobBudgetBytes: 320 * 1024 * 1024,
  /** Between attempts to read the relay's well-known JSON while it is not up yet. */
  wellKnownRetryMs: 500,
  /** Give up reading the well-known JSON after this long. */
  wellKnownTimeoutMs: 60_000,
} as const
