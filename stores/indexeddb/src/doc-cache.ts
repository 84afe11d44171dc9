/**
 * A cache of built Y.Docs, in place of y-indexeddb: the engine's `DocSnapshot` (state plus the
 * ids of the `yjs` events it covers) stored per [channel, doc] in the community's database.
 * Loading one applies it (as this device's own data: without the guard pass a peer's snapshot
 * gets), so the log's covered events are then skipped; the log stays the truth (y-indexeddb
 * would also keep edits that never became signed events, and nothing about which events a
 * state contains).
 */
import {
  applySnapshot,
  type DocHandle,
  decodeSnapshot,
  encodeSnapshot,
  type GuardVerdict,
  snapshot,
} from '@peerchat/engine/docs'
import { transact } from './idb.ts'
import { type DatabaseOptions, DOC_SNAPSHOTS, openCommunityDatabase } from './schema.ts'

interface SnapshotRow {
  c: string
  doc: string
  /** encodeSnapshot(...) */
  s: Uint8Array
}

export class DocSnapshotCache {
  private closed = false

  private constructor(private readonly db: IDBDatabase) {
    db.onversionchange = () => this.close()
  }

  static async open(opts: DatabaseOptions): Promise<DocSnapshotCache> {
    return new DocSnapshotCache(await openCommunityDatabase(opts))
  }

  /** Publishes the handle's pending edits, then stores its snapshot (a quota failure is a LimitError). */
  async save(handle: DocHandle): Promise<void> {
    this.checkOpen()
    const row: SnapshotRow = {
      c: handle.channel,
      doc: handle.name,
      s: encodeSnapshot(await snapshot(handle)),
    }
    await transact(
      this.db,
      DOC_SNAPSHOTS,
      { durability: 'relaxed' },
      `the cached document ${row.c}/${row.doc}`,
      (store) => {
        store.put(row)
        return () => undefined
      },
    )
  }

  /**
   * Applies the cached snapshot of the handle's document, if any: its verdict, or undefined when
   * nothing usable is cached (a snapshot that no longer decodes is dropped: it is only a cache).
   */
  async load(handle: DocHandle): Promise<GuardVerdict | undefined> {
    this.checkOpen()
    const key = [handle.channel, handle.name]
    const row = await transact(this.db, DOC_SNAPSHOTS, 'readonly', `reading ${key.join('/')}`, (store) => {
      const request = store.get(key)
      return () => request.result as SnapshotRow | undefined
    })
    if (!row) return undefined
    let snap: ReturnType<typeof decodeSnapshot>
    try {
      snap = decodeSnapshot(new Uint8Array(row.s))
    } catch {
      await this.drop(key)
      return undefined
    }
    // This device's own cache, written from events it had checked: applied without the guard.
    return applySnapshot(handle, snap, true)
  }

  /** Drops the cached snapshot of a document (it held something the log will not). */
  forget(channel: string, doc: string): Promise<void> {
    this.checkOpen()
    return this.drop([channel, doc])
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  private drop(key: string[]): Promise<void> {
    return transact(
      this.db,
      DOC_SNAPSHOTS,
      { durability: 'relaxed' },
      `the removal of cached document ${key.join('/')}`,
      (store) => {
        store.delete(key)
        return () => undefined
      },
    )
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('document cache is closed')
  }
}
