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
  type OutboxChange,
  type OutboxEntry,
  type OutboxStore,
  outboxKey,
  toHex,
} from '@peerchat/engine'
import { transact, type WriteMode } from './idb.ts'
import { type DatabaseOptions, logDatabaseName, OUTBOX, openCommunityDatabase } from './schema.ts'

export interface IndexedDbOutboxOptions extends DatabaseOptions {
  /** The identity whose writes this outbox holds. */
  author: Uint8Array
  /** Defaults to `globalThis.IDBKeyRange`. */
  keyRange?: typeof IDBKeyRange
  /** Tell the other tabs' handles of each put and delete (`watch`; default true where BroadcastChannel exists). */
  broadcast?: boolean
}

interface OutboxRow {
  r: Uint8Array
  q: number
  f?: { code: string; message: string }
}

const STRICT: WriteMode = { durability: 'strict' }

export class IndexedDbOutboxStore implements OutboxStore {
  private closedBecause: string | undefined
  private readonly watchers = new Set<(change: OutboxChange) => void>()

  private constructor(
    private readonly db: IDBDatabase,
    private readonly keys: IDBKeyRange,
    private readonly prefix: string,
    /** The other tabs' handles of this author's outbox (`watch`). */
    private readonly tabs: BroadcastChannel | undefined,
  ) {
    db.onversionchange = () => this.shut('the database was upgraded or deleted by another tab: reload')
    db.onclose = () => this.shut('the browser closed the database (site data cleared?): reload')
    if (tabs)
      tabs.onmessage = (message: MessageEvent) => {
        const change = this.parse(message.data)
        if (change) for (const listener of [...this.watchers]) listener(change)
      }
  }

  static async open(opts: IndexedDbOutboxOptions): Promise<IndexedDbOutboxStore> {
    const keyRange = opts.keyRange ?? globalThis.IDBKeyRange
    if (!keyRange) throw new Error('IndexedDB is not available in this environment')
    const prefix = `${toHex(abytes(opts.author, 32, 'author'))}:`
    // Every key of this author: "<hex>:" up to "<hex>;" (';' follows ':' in code units).
    const keys = keyRange.bound(prefix, `${prefix.slice(0, -1)};`, false, true)
    const db = await openCommunityDatabase(opts)
    const tabs =
      (opts.broadcast ?? true) && typeof BroadcastChannel === 'function'
        ? new BroadcastChannel(`${logDatabaseName(opts.relayKey)}:outbox:${prefix}`)
        : undefined
    return new IndexedDbOutboxStore(db, keys, prefix, tabs)
  }

  watch(listener: (change: OutboxChange) => void): () => void {
    this.watchers.add(listener)
    return () => void this.watchers.delete(listener)
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
    this.tabs?.postMessage({ put: row })
  }

  async delete(key: string): Promise<void> {
    this.checkKey(key)
    await transact(this.db, OUTBOX, STRICT, 'the removal of a sent message', (store) => {
      store.delete(key)
      return () => undefined
    })
    this.tabs?.postMessage({ deleted: key })
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
      // Corrupt or from an older format: nothing to resend.
      const entry = entryOf(row)
      if (entry) out.push(entry)
    }
    return out
  }

  /** Another tab's message, checked as any input: an entry of this author under its own key, or a key. */
  private parse(data: unknown): OutboxChange | undefined {
    const m = data as { put?: OutboxRow; deleted?: unknown } | null
    if (typeof m?.deleted === 'string')
      return m.deleted.startsWith(this.prefix) ? { deleted: m.deleted } : undefined
    const entry = m?.put && entryOf(m.put)
    if (!entry || !outboxKey(entry.request.author, entry.request.clientNonce).startsWith(this.prefix))
      return undefined
    return { put: entry }
  }

  async close(): Promise<void> {
    this.shut('outbox is closed')
  }

  private shut(reason: string): void {
    if (this.closedBecause !== undefined) return
    this.closedBecause = reason
    this.watchers.clear()
    this.tabs?.close()
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

/** A stored (or posted) row as an entry; undefined when it does not decode. */
function entryOf(row: OutboxRow): OutboxEntry | undefined {
  try {
    if (!(row.r instanceof Uint8Array) || typeof row.q !== 'number') return undefined
    const entry: OutboxEntry = { request: decodeRequest(new Uint8Array(row.r)), queuedAt: row.q }
    if (row.f) entry.failed = { code: String(row.f.code), message: String(row.f.message) }
    return entry
  } catch {
    return undefined
  }
}

export const openIndexedDbOutbox = (opts: IndexedDbOutboxOptions): Promise<IndexedDbOutboxStore> =>
  IndexedDbOutboxStore.open(opts)
