/**
 * The storage port of a channel log. One store holds many channels; each channel is a set
 * of stamped events keyed by ULID. Implementations: memory (here), IndexedDB
 * (`@peerchat/store-indexeddb`) and files (`@peerchat/store-file`). Every implementation runs `runStoreConformance` from `@peerchat/engine/testing`.
 *
 * Ranges are half-open ULID intervals; fingerprints summarise a range for reconciliation
 * (see fingerprint.ts for the exact function, which every store must compute identically).
 * A durable store can keep a `RankedIndex` (ranked-index.ts) of (id, digest) in memory for
 * `count`, `fingerprint` and `idsAtRanks`, and read events from disk only for `getRange`.
 */
import type { StampedEvent } from '../event.ts'
import type { Ulid } from '../ulid.ts'

/** Half-open `[gte, lt)`; an omitted bound is unbounded. */
export interface IdRange {
  gte?: Ulid
  lt?: Ulid
}

/** `count` items in a range and a 16-byte hash of their digests (fingerprint.ts). */
export interface Fingerprint {
  count: number
  hash: Uint8Array
}

/** An event with its content digest (`eventDigest(event)`), the item hashed into fingerprints. */
export interface StoredEvent {
  event: StampedEvent
  digest: Uint8Array
}

export interface GetRangeOptions {
  /** At most this many events (from the start, or from the end when `reverse`). */
  limit?: number
  /** Newest first. */
  reverse?: boolean
}

export interface Store {
  /** Inserts the items whose id is absent; returns how many were new. Durable when resolved. */
  putMany(channel: string, items: readonly StoredEvent[]): Promise<number>
  /** Events of `range` in ULID order (descending when `reverse`). */
  getRange(channel: string, range: IdRange, opts?: GetRangeOptions): Promise<StoredEvent[]>
  has(channel: string, id: Ulid): Promise<boolean>
  count(channel: string, range?: IdRange): Promise<number>
  fingerprint(channel: string, range: IdRange): Promise<Fingerprint>
  /**
   * The ids at the given 0-based ranks inside `range` (ranks ascending, each below the
   * range's count). Reconciliation uses it to split a range into parts of equal size
   * without reading the events in between.
   */
  idsAtRanks(channel: string, range: IdRange, ranks: readonly number[]): Promise<Ulid[]>
  /** Removes the given ids (absent ones are ignored); returns how many were removed. */
  deleteMany(channel: string, ids: readonly Ulid[]): Promise<number>
  /** Channels holding at least one event, sorted. */
  channels(): Promise<string[]>
  /** Releases resources; every later call rejects. Idempotent. */
  close(): Promise<void>
  /**
   * Storage shared by several handles (the tabs of one browser profile over one IndexedDB):
   * calls `listener` with the changes another handle committed, never this one's own, so that
   * each tab's logs show what the others stored. Absent when nobody else can write.
   */
  watch?(listener: (change: StoreChange) => void): () => void
}

/** Ids another handle of the same storage added to or deleted from a channel. */
export interface StoreChange {
  channel: string
  added: readonly Ulid[]
  deleted: readonly Ulid[]
}

export function inRange(id: Ulid, range: IdRange): boolean {
  return (range.gte === undefined || id >= range.gte) && (range.lt === undefined || id < range.lt)
}
