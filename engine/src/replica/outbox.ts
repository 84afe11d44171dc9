/**
 * Local writes not yet stamped. A request is signed once, so a resend carries the same
 * clientNonce and the relay (and every receiver) keeps one event for it: a message written
 * offline is stamped once, after any number of reconnects and restarts.
 *
 * `OutboxStore` is the persistence port (memory here; IndexedDB in the browser, a file for
 * Node); the Replica keeps what it lists as its pending writes.
 */
import { toHex } from '../bytes.ts'
import type { SignedRequest } from '../event.ts'

export interface OutboxEntry {
  request: SignedRequest
  /** When it was first queued (ms). */
  queuedAt: number
  /** Set when the relay refused it for good: kept (not resent) until retried or discarded. */
  failed?: { code: string; message: string }
}

export interface OutboxStore {
  put(key: string, entry: OutboxEntry): Promise<void>
  delete(key: string): Promise<void>
  list(): Promise<OutboxEntry[]>
  /**
   * An outbox shared by several handles (the tabs of one browser profile): calls `listener` with
   * what another handle put or deleted, never this one's own. Absent when nobody else writes.
   */
  watch?(listener: (change: OutboxChange) => void): () => void
}

/** Another handle queued (or re-queued) an entry, or deleted one (stamped or discarded there). */
export type OutboxChange = { put: OutboxEntry } | { deleted: string }

export class MemoryOutboxStore implements OutboxStore {
  private readonly entries = new Map<string, OutboxEntry>()
  async put(key: string, entry: OutboxEntry): Promise<void> {
    this.entries.set(key, entry)
  }
  async delete(key: string): Promise<void> {
    this.entries.delete(key)
  }
  async list(): Promise<OutboxEntry[]> {
    return [...this.entries.values()]
  }
}

/** The key of a request in the outbox and in acks: author and clientNonce. */
export const outboxKey = (author: Uint8Array, clientNonce: Uint8Array): string =>
  `${toHex(author)}:${toHex(clientNonce)}`

/** Most requests waiting at once; writing beyond it fails fast instead of growing memory. */
export const MAX_OUTBOX = 10_000
