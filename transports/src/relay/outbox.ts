/**
 * Requests signed but not yet acknowledged by a stamp. A request is signed once, so a resend
 * carries the same clientNonce and the relay (and every receiver) keeps one event for it:
 * a message typed offline is sent on reconnect exactly once.
 */
import { type SignedRequest, toHex } from '@peerchat/engine'

export interface OutboxEntry {
  request: SignedRequest
  /** When it was first queued (ms). */
  queuedAt: number
}

/** Where pending requests live; memory here, IndexedDB in the browser (issue #6). */
export interface OutboxStore {
  put(key: string, entry: OutboxEntry): Promise<void>
  delete(key: string): Promise<void>
  list(): Promise<OutboxEntry[]>
}

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

/** Most requests waiting at once; publishing beyond it fails fast instead of growing memory. */
export const MAX_OUTBOX = 10_000
