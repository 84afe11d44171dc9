/**
 * The Replica's outbox in the browser: local writes not stamped yet, in the community's
 * database (object store `outbox`), so a message written offline is still there, and still
 * sent, after a reload. One author's entries only: several identities may use the same
 * community on one device, and a write is sent by its author's session alone.
 *
 * A record is `{ r: encodeRequest(request), q: queuedAt, f?: { code, message } }` under the key
 * `outboxKey(author, clientNonce)` (docs/protocol/storage-indexeddb.md). Writes are 'strict': a
 * write the composer has cleared survives a crash.
 */
import {
  abytes,
  decodeRequest,
  encodeRequest,
  type OutboxEntry,
  type OutboxStore,
  toHex,
} from '@peerchat/engine'
import { transact, type WriteMode } from './idb.ts'
import { type DatabaseOptions, OUTBOX, openCommunityDatabase } from './schema.ts'

export interface IndexedDbOutboxOptions extends DatabaseOptions {
  /** The identity whose writes this outbox holds. */
  author: Uint8Array
  /** Defaults to `globalThis.IDBKeyRange`. */
  keyRange?: typeof IDBKeyRange
}

interface OutboxRow {
  r: Uint8Array
  q: number
  f?: { code: string; message: string }
}

const STRICT: WriteMode = { durability: 'strict' }

export class IndexedDbOutboxStore implements OutboxStore {
  private closedBecause: string | undefined

  private constructor(
    private readonly db: IDBDatabase,
    private readonly keys: IDBKeyRange,
    private readonly prefix: string,
  ) {
    db.onversionchange = () => this.shut('the database was upgraded or deleted by another tab: reload')
    db.onclose = () => this.shut('the browser closed the database (site data cleared?): reload')
  }

  static async open(opts: IndexedDbOutboxOptions): Promise<IndexedDbOutboxStore> {
    const keyRange = opts.keyRange ?? globalThis.IDBKeyRange
    if (!keyRange) throw new Error('IndexedDB is not available in this environment')
    const prefix = `${toHex(abytes(opts.author, 32, 'author'))}:`
    // Every key of this author: "<hex>:" up to "<hex>;" (';' follows ':' in code units).
    const keys = keyRange.bound(prefix, `${prefix.slice(0, -1)};`, false, true)
    return new IndexedDbOutboxStore(await openCommunityDatabase(opts), keys, prefix)
  }

  async put(key: string, entry: OutboxEntry): Promise<void> {
    this.checkKey(key)
    const row: OutboxRow = {
      r: encodeRequest(entry.request),
      q: entry.queuedAt,
      ...(entry.failed ? { f: { code: entry.failed.code, message: entry.failed.message } } : {}),
    }
    await transact(this.db, OUTBOX, STRICT, 'a message waiting to be sent', (store) => {
      store.put(row, key)
      return () => undefined
    })
  }

  async delete(key: string): Promise<void> {
    this.checkKey(key)
    await transact(this.db, OUTBOX, STRICT, 'the removal of a sent message', (store) => {
      store.delete(key)
      return () => undefined
    })
  }

  /** This author's entries; a record that no longer decodes is skipped (it could never be sent). */
  async list(): Promise<OutboxEntry[]> {
    this.checkOpen()
    const rows = await transact(this.db, OUTBOX, 'readonly', 'the messages waiting to be sent', (store) => {
      const request = store.getAll(this.keys)
      return () => request.result as OutboxRow[]
    })
    const out: OutboxEntry[] = []
    for (const row of rows) {
      try {
        const entry: OutboxEntry = { request: decodeRequest(new Uint8Array(row.r)), queuedAt: row.q }
        if (row.f) entry.failed = { code: String(row.f.code), message: String(row.f.message) }
        out.push(entry)
      } catch {
        // Corrupt or from an older format: nothing to resend.
      }
    }
    return out
  }

  async close(): Promise<void> {
    this.shut('outbox is closed')
  }

  private shut(reason: string): void {
    if (this.closedBecause !== undefined) return
    this.closedBecause = reason
    this.db.close()
  }

  private checkOpen(): void {
    if (this.closedBecause !== undefined) throw new Error(this.closedBecause)
  }

  /** A key of another author would be listed by nobody: a programmer error. */
  private checkKey(key: string): void {
    this.checkOpen()
    if (!key.startsWith(this.prefix)) throw new RangeError(`outbox key ${key} is not of this outbox's author`)
  }
}

export const openIndexedDbOutbox = (opts: IndexedDbOutboxOptions): Promise<IndexedDbOutboxStore> =>
  IndexedDbOutboxStore.open(opts)
