/**
 * The browser's `BlobStore` (engine/src/blobs/store.ts): attachments in IndexedDB, in a
 * database of their own per community (`peerchat-blobs-<relay key hex>`), apart from the
 * channel logs: a blob refused for lack of space, or a blob database cleared, never touches
 * a log event.
 *
 * A blob is one `blob-info` row (size, pin, last use) and its bytes cut into `blob-chunks`
 * rows of `CHUNK_BYTES` (the wire's chunk size), so serving a chunk to a peer reads that
 * chunk only. Every write is one transaction over both stores: a blob is there entirely or
 * not at all. When the browser refuses a write for lack of space (QuotaExceededError), the
 * store evicts unpinned blobs, least recently used first, and retries, until the write fits or
 * no unpinned blob is left; then it rejects with a LimitError (`storage-quota`) that tells the user what to do.
 * Layout: docs/protocol/storage-indexeddb.md (## Blobs).
 */
import { abytes, compareBytes, fromHex, LimitError, toHex } from '@peerchat/engine'
import {
  BLOB_DIGEST_BYTES,
  type BlobDigest,
  type BlobInfo,
  type BlobStore,
  type BlobUsage,
  CHUNK_BYTES,
  checkRange,
  type EvictionListener,
  EvictionListeners,
  type PutBlobOptions,
  usageOf,
} from '@peerchat/engine/blobs'
import { deleteDatabase, openDatabase, QUOTA_LIMIT, transactStores, type WriteMode } from './idb.ts'
import { type DatabaseOptions, factoryOf } from './schema.ts'

export const BLOB_SCHEMA_VERSION = 1
/** One row per blob, keyPath `k` (the digest in lowercase hex, so keys sort like the digests). */
export const BLOB_INFO = 'blob-info'
/** The bytes, keyPath [k, n]: chunk n of blob k, `CHUNK_BYTES` each (the last may be shorter). */
export const BLOB_CHUNKS = 'blob-chunks'

export interface InfoRow {
  k: string
  size: number
  pinned: boolean
  usedAt: number
}

export interface ChunkRow {
  k: string
  n: number
  b: Uint8Array
}

export interface IndexedDbBlobStoreOptions extends DatabaseOptions {
  keyRange?: typeof IDBKeyRange
  /** Of write transactions (default 'strict': `put` resolves once the blob is on disk). */
  durability?: 'strict' | 'relaxed'
  /** On a quota refusal, evict unpinned blobs (least recently used first) and retry until it fits or none is left. Default true. */
  evictOnQuota?: boolean
}

/** `peerchat-blobs-<relay key hex>`: one blob database per community, beside its log database. */
export function blobDatabaseName(relayKey: Uint8Array): string {
  return `peerchat-blobs-${toHex(abytes(relayKey, 32, 'relayKey'))}`
}

export function deleteIndexedDbBlobStore(opts: DatabaseOptions): Promise<void> {
  return deleteDatabase(factoryOf(opts), blobDatabaseName(opts.relayKey))
}

function upgrade(db: IDBDatabase, oldVersion: number): void {
  if (oldVersion < 1) {
    db.createObjectStore(BLOB_INFO, { keyPath: 'k' })
    db.createObjectStore(BLOB_CHUNKS, { keyPath: ['k', 'n'] })
  }
}

const STORES = [BLOB_INFO, BLOB_CHUNKS] as const

const sizeText = (n: number): string =>
  n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`

export class IndexedDbBlobStore implements BlobStore {
  private closedBecause: string | undefined
  private readonly write: WriteMode
  private readonly evictions = new EvictionListeners()

  private constructor(
    private readonly db: IDBDatabase,
    private readonly keyRange: typeof IDBKeyRange,
    private readonly opts: IndexedDbBlobStoreOptions,
  ) {
    this.write = { durability: opts.durability ?? 'strict' }
    db.onversionchange = () => this.shut('the blob database was upgraded or deleted by another tab: reload')
    db.onclose = () => this.shut('the browser closed the blob database (site data cleared?): reload')
  }

  static async open(opts: IndexedDbBlobStoreOptions): Promise<IndexedDbBlobStore> {
    const keyRange = opts.keyRange ?? globalThis.IDBKeyRange
    if (!keyRange) throw new Error('IndexedDB is not available in this environment')
    const db = await openDatabase(
      factoryOf(opts),
      blobDatabaseName(opts.relayKey),
      BLOB_SCHEMA_VERSION,
      upgrade,
    )
    return new IndexedDbBlobStore(db, keyRange, opts)
  }

  async has(digest: BlobDigest): Promise<boolean> {
    return (await this.info(this.key(digest))) !== undefined
  }

  async get(digest: BlobDigest): Promise<Uint8Array | undefined> {
    const k = this.key(digest)
    const { info, chunks } = await transactStores(this.db, STORES, 'readonly', 'reading a blob', (tx) => {
      let info: InfoRow | undefined
      let chunks: ChunkRow[] = []
      const i = tx.objectStore(BLOB_INFO).get(k)
      i.onsuccess = () => {
        info = i.result as InfoRow | undefined
      }
      const c = tx.objectStore(BLOB_CHUNKS).getAll(this.chunkRange(k, 0, Number.MAX_SAFE_INTEGER))
      c.onsuccess = () => {
        chunks = c.result as ChunkRow[]
      }
      return () => ({ info, chunks })
    })
    return info ? assemble(info, chunks, 0, info.size) : undefined
  }

  async read(digest: BlobDigest, offset: number, length: number): Promise<Uint8Array | undefined> {
    const k = this.key(digest)
    checkRange(offset, length)
    const { info, chunks } = await transactStores(this.db, STORES, 'readonly', 'reading a chunk', (tx) => {
      let info: InfoRow | undefined
      let chunks: ChunkRow[] = []
      const i = tx.objectStore(BLOB_INFO).get(k)
      i.onsuccess = () => {
        info = i.result as InfoRow | undefined
        if (!info) return
        const end = Math.min(info.size, offset + length)
        if (offset >= end) return
        // Only the chunks that hold [offset, end).
        const c = tx
          .objectStore(BLOB_CHUNKS)
          .getAll(this.chunkRange(k, Math.floor(offset / CHUNK_BYTES), Math.floor((end - 1) / CHUNK_BYTES)))
        c.onsuccess = () => {
          chunks = c.result as ChunkRow[]
        }
      }
      return () => ({ info, chunks })
    })
    if (!info) return undefined
    const end = Math.min(info.size, offset + length)
    return offset >= end ? new Uint8Array(0) : assemble(info, chunks, offset, end)
  }

  async put(digest: BlobDigest, bytes: Uint8Array, opts: PutBlobOptions = {}): Promise<boolean> {
    const k = this.key(digest)
    abytes(bytes, undefined, 'blob')
    // Own copies of each chunk, cut before the transaction opens (no await may split it).
    const rows: ChunkRow[] = []
    for (let n = 0; n * CHUNK_BYTES < bytes.length; n++)
      rows.push({ k, n, b: bytes.slice(n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES) })
    const usedAt = opts.usedAt ?? 0
    const pinned = opts.pinned === true
    // Refused for lack of space: evict more unpinned blobs and retry, until the write fits or
    // nothing unpinned is left (the browser may count freed space late, so one round can fall short).
    for (;;) {
      try {
        return await this.putRows(k, bytes.length, rows, pinned, usedAt)
      } catch (error) {
        if (!isQuota(error) || this.opts.evictOnQuota === false) throw error
        if ((await this.evictFor(bytes.length, k)) === 0) throw quotaError(bytes.length, error)
      }
    }
  }

  async delete(digest: BlobDigest): Promise<boolean> {
    const k = this.key(digest)
    return transactStores(this.db, STORES, this.write, 'deleting a blob', (tx) => {
      let found = false
      const i = tx.objectStore(BLOB_INFO).get(k)
      i.onsuccess = () => {
        if (!i.result) return
        found = true
        tx.objectStore(BLOB_INFO).delete(k)
        tx.objectStore(BLOB_CHUNKS).delete(this.chunkRange(k, 0, Number.MAX_SAFE_INTEGER))
      }
      return () => found
    })
  }

  pin(digest: BlobDigest, pinned: boolean): Promise<boolean> {
    return this.update(this.key(digest), 'pinning a blob', (row) => {
      row.pinned = pinned
    })
  }

  touch(digest: BlobDigest, usedAt: number): Promise<boolean> {
    return this.update(this.key(digest), 'noting a blob use', (row) => {
      row.usedAt = Math.max(row.usedAt, usedAt)
    })
  }

  async list(): Promise<BlobInfo[]> {
    this.checkOpen()
    const rows = await transactStores(this.db, [BLOB_INFO], 'readonly', 'listing blobs', (tx) => {
      let rows: InfoRow[] = []
      const r = tx.objectStore(BLOB_INFO).getAll()
      r.onsuccess = () => {
        rows = r.result as InfoRow[]
      }
      return () => rows
    })
    // Lowercase hex keys sort like the digests' bytes.
    return rows.map((r) => ({ digest: fromHex(r.k), size: r.size, pinned: r.pinned, usedAt: r.usedAt }))
  }

  async usage(): Promise<BlobUsage> {
    return usageOf(await this.list())
  }

  async close(): Promise<void> {
    this.shut('the blob store is closed')
  }

  // ---- internals -------------------------------------------------------------------------

  private putRows(
    k: string,
    size: number,
    rows: ChunkRow[],
    pinned: boolean,
    usedAt: number,
  ): Promise<boolean> {
    return transactStores(this.db, STORES, this.write, `an attachment of ${sizeText(size)}`, (tx, guard) => {
      let created = false
      const infos = tx.objectStore(BLOB_INFO)
      const i = infos.get(k)
      i.onsuccess = guard(() => {
        const row = i.result as InfoRow | undefined
        if (row) {
          row.usedAt = Math.max(row.usedAt, usedAt)
          row.pinned ||= pinned
          infos.put(row)
          return
        }
        created = true
        infos.add({ k, size, pinned, usedAt } satisfies InfoRow)
        const chunks = tx.objectStore(BLOB_CHUNKS)
        for (const c of rows) chunks.add(c)
      })
      return () => created
    })
  }

  /** Told of every blob evicted to make room (the exchange forgets it). */
  onEvict(listener: EvictionListener): () => void {
    return this.evictions.add(listener)
  }

  /** Deletes unpinned blobs, least recently used first, until `need` bytes were freed. */
  private async evictFor(need: number, except: string): Promise<number> {
    const candidates = (await this.list())
      .filter((b) => !b.pinned && toHex(b.digest) !== except)
      .sort((a, b) => a.usedAt - b.usedAt || compareBytes(a.digest, b.digest))
    let freed = 0
    for (const b of candidates) {
      if (freed >= need) break
      if (await this.delete(b.digest)) {
        freed += b.size
        this.evictions.emit(b.digest, b.size)
      }
    }
    return freed
  }

  private update(k: string, what: string, change: (row: InfoRow) => void): Promise<boolean> {
    return transactStores(this.db, [BLOB_INFO], this.write, what, (tx) => {
      let found = false
      const store = tx.objectStore(BLOB_INFO)
      const i = store.get(k)
      i.onsuccess = () => {
        const row = i.result as InfoRow | undefined
        if (!row) return
        found = true
        change(row)
        store.put(row)
      }
      return () => found
    })
  }

  private async info(k: string): Promise<InfoRow | undefined> {
    return transactStores(this.db, [BLOB_INFO], 'readonly', 'reading a blob', (tx) => {
      let row: InfoRow | undefined
      const i = tx.objectStore(BLOB_INFO).get(k)
      i.onsuccess = () => {
        row = i.result as InfoRow | undefined
      }
      return () => row
    })
  }

  private chunkRange(k: string, first: number, last: number): IDBKeyRange {
    return this.keyRange.bound([k, first], [k, last])
  }

  /** The row key of a digest; throws (rejecting the async caller) when closed or malformed. */
  private key(digest: BlobDigest): string {
    this.checkOpen()
    return toHex(abytes(digest, BLOB_DIGEST_BYTES, 'digest'))
  }

  private checkOpen(): void {
    if (this.closedBecause !== undefined) throw new Error(this.closedBecause)
  }

  private shut(reason: string): void {
    if (this.closedBecause !== undefined) return
    this.closedBecause = reason
    this.db.close()
  }
}

export const openIndexedDbBlobStore = (opts: IndexedDbBlobStoreOptions): Promise<IndexedDbBlobStore> =>
  IndexedDbBlobStore.open(opts)

/** Bytes [from, to) of a blob out of its chunk rows (which must cover that range). */
function assemble(info: InfoRow, chunks: readonly ChunkRow[], from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from)
  for (const c of chunks) {
    const start = c.n * CHUNK_BYTES
    const a = Math.max(from, start)
    const b = Math.min(to, start + c.b.length)
    if (a < b) out.set(new Uint8Array(c.b.buffer, c.b.byteOffset + (a - start), b - a), a - from)
  }
  const expected = Math.ceil(info.size / CHUNK_BYTES)
  if (from === 0 && to === info.size && chunks.length !== expected)
    throw new Error(`blob ${info.k} is missing ${expected - chunks.length} of ${expected} chunks on disk`)
  return out
}

function isQuota(error: unknown): boolean {
  return error instanceof LimitError && error.limit === QUOTA_LIMIT
}

function quotaError(size: number, cause: unknown): LimitError {
  const e = new LimitError(
    `Browser storage is full: an attachment of ${sizeText(size)} could not be saved, even after ` +
      'removing the attachments you did not post. Your messages are safe (they are stored apart). ' +
      'Free space for this site or allow it more storage, then retry.',
    QUOTA_LIMIT,
  )
  ;(e as Error & { cause?: unknown }).cause = cause
  return e
}
