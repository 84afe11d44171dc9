/**
 * The storage budget: which blobs to evict so that `incoming` more bytes fit. Pure: the
 * exchange (or a store's owner) deletes what it returns. Pinned blobs are never evicted;
 * the rest go least recently used first (ties by digest, so every run agrees).
 */
import { compareBytes } from '../bytes.ts'
import type { BlobDigest, BlobInfo } from './store.ts'

/** Default storage budget of a peer's blob store: 512 MiB. */
export const DEFAULT_BLOB_BUDGET_BYTES = 512 * 1024 * 1024

export interface EvictionPlan {
  /** Digests to delete, in order. */
  evict: BlobDigest[]
  /** Whether `incoming` fits once they are gone (false: pinned blobs alone fill the budget). */
  fits: boolean
}

export function planEviction(blobs: readonly BlobInfo[], budget: number, incoming: number): EvictionPlan {
  if (!Number.isSafeInteger(budget) || budget < 0)
    throw new RangeError(`budget must be a non-negative integer, got ${budget}`)
  if (!Number.isSafeInteger(incoming) || incoming < 0)
    throw new RangeError(`incoming must be a non-negative integer, got ${incoming}`)
  let used = 0
  for (const b of blobs) used += b.size
  const evict: BlobDigest[] = []
  if (used + incoming <= budget) return { evict, fits: true }
  const candidates = blobs
    .filter((b) => !b.pinned)
    .sort((a, b) => a.usedAt - b.usedAt || compareBytes(a.digest, b.digest))
  for (const b of candidates) {
    if (used + incoming <= budget) break
    evict.push(b.digest)
    used -= b.size
  }
  // Evicting is pointless when pinned blobs alone leave no room.
  return used + incoming <= budget ? { evict, fits: true } : { evict: [], fits: false }
}
