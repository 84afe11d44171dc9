/**
 * The storage port of attachments: a content-addressed blob store. A blob's name is the
 * SHA-256 of its bytes (32 bytes, `BlobDigest`). Implementations: memory (here), files for
 * virtual clients and IndexedDB for the browser (later). Every implementation runs
 * `runBlobStoreConformance` from `@peerchat/engine/testing`.
 *
 * The store does not hash: callers put only bytes they verified (`verifyBlob`, or the
 * exchange, which checks every chunk and the whole). It keeps for each blob a `pinned` flag
 * (the user keeps it whatever the budget) and `usedAt` (ms, for least-recently-used
 * eviction; `budget.ts` chooses what to evict, the store only deletes).
 */

/** SHA-256 of a whole blob: 32 bytes. */
export type BlobDigest = Uint8Array

export interface BlobInfo {
  digest: BlobDigest
  size: number
  pinned: boolean
  /** Last use in ms (set by `put` and `touch`). */
  usedAt: number
}

export interface BlobUsage {
  count: number
  bytes: number
  pinnedBytes: number
}

export interface PutBlobOptions {
  pinned?: boolean
  /** Defaults to 0; pass the clock's now. */
  usedAt?: number
}

export interface BlobStore {
  has(digest: BlobDigest): Promise<boolean>
  /** The whole blob, or undefined when absent. */
  get(digest: BlobDigest): Promise<Uint8Array | undefined>
  /**
   * `length` bytes from `offset` (fewer at the end of the blob), or undefined when absent.
   * Serving a chunk reads only the chunk. Throws RangeError for a negative or non-integer
   * offset or length.
   */
  read(digest: BlobDigest, offset: number, length: number): Promise<Uint8Array | undefined>
  /**
   * Stores a verified blob under its digest; returns true if it was new. Putting a present
   * digest changes nothing but `usedAt` (kept at the later value) and sets `pinned` if asked.
   * Durable when resolved.
   */
  put(digest: BlobDigest, bytes: Uint8Array, opts?: PutBlobOptions): Promise<boolean>
  /** Removes a blob (pinned or not); returns whether it was present. */
  delete(digest: BlobDigest): Promise<boolean>
  /** Sets or clears the pin of a present blob; returns whether it was present. */
  pin(digest: BlobDigest, pinned: boolean): Promise<boolean>
  /** Records a use at `usedAt` (kept at the later value); returns whether it was present. */
  touch(digest: BlobDigest, usedAt: number): Promise<boolean>
  /** Every blob's info, without the bytes, ordered by digest (bytewise). */
  list(): Promise<BlobInfo[]>
  usage(): Promise<BlobUsage>
  /**
   * For stores that drop blobs on their own (a budget, a retention window, a storage quota):
   * calls `listener` after each such eviction, so whoever announced the blob stops doing so.
   * Returns the unsubscribe function. Not called for `delete`.
   */
  onEvict?(listener: EvictionListener): () => void
  /** Releases resources; every later call rejects. Idempotent. */
  close(): Promise<void>
}

export type EvictionListener = (digest: BlobDigest, size: number) => void

/** The listeners of a store's `onEvict`. */
export class EvictionListeners {
  private readonly listeners = new Set<EvictionListener>()
  add(listener: EvictionListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
  emit(digest: BlobDigest, size: number): void {
    for (const l of this.listeners) l(digest, size)
  }
}

export const BLOB_DIGEST_BYTES = 32

/** What a store holds, summed from its blobs' infos (every store's `usage`). */
export function usageOf(infos: Iterable<Pick<BlobInfo, 'size' | 'pinned'>>): BlobUsage {
  const usage: BlobUsage = { count: 0, bytes: 0, pinnedBytes: 0 }
  for (const info of infos) {
    usage.count++
    usage.bytes += info.size
    if (info.pinned) usage.pinnedBytes += info.size
  }
  return usage
}
