/**
 * FileBlobStore: the engine's `BlobStore` on local files, for virtual clients.
 *
 * Content-addressed: each blob is one file named by the hex SHA-256 of its bytes, written to
 * `tmp/`, fsynced, then renamed into `data/` (and the directory fsynced), so a file under its
 * final name is always whole. Its `pinned` flag and `usedAt` live in `meta.log`, a journal of
 * fixed-size, CRC-checked records (the last one for a digest wins); concurrent updates share
 * one write and one fdatasync. Every call resolves only once durable, so a `kill -9` loses
 * nothing acknowledged. In memory: one small entry per blob (size, pin, last use), never the
 * bytes — 200 MB of images cost a few hundred kB of heap.
 *
 * Budget and rolling retention (options): a put that would pass `budgetBytes` first evicts
 * what the engine's `planEviction` picks (unpinned blobs, least recently used first), and is
 * refused with a `LimitError` when pinned blobs alone leave no room; `sweep()` (every `sweepIntervalMs`) drops unpinned blobs unused
 * for `retentionMs`. Format: docs/protocol/storage.md.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs'
import { type FileHandle, open, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { abytes, compareBytes, fromHex, LimitError, toHex } from '@peerchat/engine'
import {
  BLOB_DIGEST_BYTES,
  type BlobDigest,
  type BlobInfo,
  type BlobStore,
  type BlobUsage,
  checkRange,
  type EvictionListener,
  EvictionListeners,
  type PutBlobOptions,
  planEviction,
  usageOf,
} from '@peerchat/engine/blobs'
import { syncDir } from './sync-dir.ts'

export const FileBlobStoreDefaults = {
  /** How often retention runs (when `retentionMs` is set). */
  sweepIntervalMs: 60_000,
  /** Rewrite meta.log once it holds this many times more records than there are blobs... */
  journalCompactRatio: 4,
  /** ...and at least this many records. */
  journalCompactMinRecords: 4096,
} as const

export interface FileBlobStoreOptions {
  dir: string
  /** At most this many bytes of blobs; unpinned ones are evicted (least recently used first) to fit. */
  budgetBytes?: number
  /** Unpinned blobs unused (by `usedAt`) for longer than this are dropped by `sweep()`. */
  retentionMs?: number
  now?: () => number
  sweepIntervalMs?: number
}

/** `crc:u32le digest:32 state:u8 usedAt:f64le`; the CRC covers everything after it. */
export const META_RECORD_BYTES = 4 + BLOB_DIGEST_BYTES + 1 + 8
/** A meta record's state: the blob's flags, or that it was deleted (flags back to defaults). */
export const MetaState = { unpinned: 0, pinned: 1, deleted: 2 } as const

const HEX_RE = /^[0-9a-f]{64}$/

interface Entry {
  info: BlobInfo
}

export class FileBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Entry>()
  /** Puts in flight by digest, so two puts of one blob write it once. */
  private readonly putting = new Map<string, Promise<boolean>>()
  private readonly opts: FileBlobStoreOptions & { now: () => number; sweepIntervalMs: number }
  private journal!: FileHandle
  private journalSize = 0
  private journalRecords = 0
  private pendingMeta: { record: Buffer; done: { resolve(): void; reject(e: unknown): void } }[] = []
  private metaLane: Promise<void> = Promise.resolve()
  private writeLane: Promise<unknown> = Promise.resolve()
  private flushing = false
  private sweepTimer: ReturnType<typeof setInterval> | undefined
  private closed = false
  /** What the last open found and repaired. */
  readonly recovery = { blobs: 0, metaRecords: 0, truncatedBytes: 0, tmpFilesRemoved: 0 }
  /** Blobs removed by the budget and by retention since open. */
  readonly evicted = { budget: 0, retention: 0 }
  private readonly evictions = new EvictionListeners()

  private constructor(opts: FileBlobStoreOptions) {
    this.opts = { sweepIntervalMs: FileBlobStoreDefaults.sweepIntervalMs, now: Date.now, ...opts }
    if (opts.budgetBytes !== undefined && !(Number.isSafeInteger(opts.budgetBytes) && opts.budgetBytes >= 0))
      throw new RangeError(`budgetBytes must be a non-negative integer, got ${opts.budgetBytes}`)
  }

  /** Opens (creating) the store in `dir`: lists the blob files, replays meta.log, clears tmp/. */
  static async open(opts: FileBlobStoreOptions): Promise<FileBlobStore> {
    const store = new FileBlobStore(opts)
    await store.load()
    if (opts.retentionMs !== undefined) {
      store.sweepTimer = setInterval(() => void store.sweep().catch(() => {}), store.opts.sweepIntervalMs)
      store.sweepTimer.unref()
    }
    return store
  }

  // ---- BlobStore ----------------------------------------------------------------------------

  async has(digest: BlobDigest): Promise<boolean> {
    return this.blobs.has(this.key(digest))
  }

  async get(digest: BlobDigest): Promise<Uint8Array | undefined> {
    const key = this.key(digest)
    const entry = this.blobs.get(key)
    return entry && this.readFile(key, 0, entry.info.size)
  }

  async read(digest: BlobDigest, offset: number, length: number): Promise<Uint8Array | undefined> {
    const key = this.key(digest)
    checkRange(offset, length)
    const entry = this.blobs.get(key)
    if (!entry) return undefined
    const start = Math.min(offset, entry.info.size)
    return this.readFile(key, start, Math.min(length, entry.info.size - start))
  }

  async put(digest: BlobDigest, bytes: Uint8Array, opts: PutBlobOptions = {}): Promise<boolean> {
    const key = this.key(digest)
    abytes(bytes, undefined, 'blob')
    const inFlight = this.putting.get(key)
    if (inFlight) await inFlight.catch(() => {})
    const entry = this.blobs.get(key)
    if (entry) {
      const usedAt = Math.max(entry.info.usedAt, opts.usedAt ?? 0)
      const pinned = entry.info.pinned || opts.pinned === true
      if (usedAt !== entry.info.usedAt || pinned !== entry.info.pinned)
        await this.setMeta(key, pinned, usedAt)
      return false
    }
    // New blobs are written one after another, so each eviction plan sees the blobs before it.
    const p = this.writeLane.then(() => this.write(key, digest, bytes, opts))
    this.writeLane = p.catch(() => {})
    this.putting.set(key, p)
    try {
      return await p
    } finally {
      this.putting.delete(key)
    }
  }

  async delete(digest: BlobDigest): Promise<boolean> {
    const key = this.key(digest)
    const inFlight = this.putting.get(key)
    if (inFlight) await inFlight.catch(() => {})
    if (!this.blobs.has(key)) return false
    this.blobs.delete(key)
    // The file goes first: presence is the file, the record only resets the flags.
    await unlink(this.path(key)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e
    })
    await syncDir(this.dataDir(key))
    await this.appendMeta(key, MetaState.deleted, 0)
    return true
  }

  async pin(digest: BlobDigest, pinned: boolean): Promise<boolean> {
    const key = this.key(digest)
    const entry = this.blobs.get(key)
    if (!entry) return false
    if (entry.info.pinned !== pinned) await this.setMeta(key, pinned, entry.info.usedAt)
    return true
  }

  async touch(digest: BlobDigest, usedAt: number): Promise<boolean> {
    const key = this.key(digest)
    const entry = this.blobs.get(key)
    if (!entry) return false
    if (usedAt > entry.info.usedAt) await this.setMeta(key, entry.info.pinned, usedAt)
    return true
  }

  async list(): Promise<BlobInfo[]> {
    this.checkOpen()
    return [...this.blobs.values()]
      .map(({ info }) => ({ ...info, digest: info.digest.slice() }))
      .sort((a, b) => compareBytes(a.digest, b.digest))
  }

  async usage(): Promise<BlobUsage> {
    this.checkOpen()
    return usageOf(Array.from(this.blobs.values(), (b) => b.info))
  }

  /** Waits for pending writes, then closes the journal. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.sweepTimer)
    await Promise.all([...this.putting.values()].map((p) => p.catch(() => {})))
    await this.metaLane
    await this.journal.close()
    this.blobs.clear()
  }

  // ---- budget and retention -----------------------------------------------------------------

  onEvict(listener: EvictionListener): () => void {
    return this.evictions.add(listener)
  }

  private async evict(digest: BlobDigest): Promise<boolean> {
    const size = this.blobs.get(toHex(digest))?.info.size ?? 0
    const gone = await this.delete(digest)
    if (gone) this.evictions.emit(digest, size)
    return gone
  }

  /** Drops unpinned blobs unused for `retentionMs`; compacts the journal when it has grown. */
  async sweep(): Promise<{ expired: number }> {
    if (this.closed) return { expired: 0 }
    let expired = 0
    if (this.opts.retentionMs !== undefined) {
      const cutoff = this.opts.now() - this.opts.retentionMs
      for (const { info } of [...this.blobs.values()])
        if (!info.pinned && info.usedAt < cutoff && (await this.evict(info.digest))) expired++
      this.evicted.retention += expired
    }
    await this.compactJournalIfLarge()
    return { expired }
  }

  // ---- files --------------------------------------------------------------------------------

  private async write(key: string, digest: BlobDigest, bytes: Uint8Array, opts: PutBlobOptions) {
    this.checkOpen()
    const budget = this.opts.budgetBytes
    const plan =
      budget === undefined
        ? { evict: [], fits: true }
        : planEviction(
            [...this.blobs.values()].map((e) => e.info),
            budget,
            bytes.length,
          )
    if (!plan.fits)
      throw new LimitError(
        `a blob of ${bytes.length} bytes does not fit the budget of ${this.opts.budgetBytes} bytes (pinned blobs fill it)`,
        'budgetBytes',
      )
    for (const d of plan.evict) if (await this.evict(d)) this.evicted.budget++
    const tmp = join(this.opts.dir, 'tmp', `${key}.${randomBytes(6).toString('hex')}`)
    const handle = await open(tmp, 'wx', 0o600)
    try {
      await handle.writeFile(bytes)
      await handle.datasync()
    } finally {
      await handle.close()
    }
    mkdirSync(this.dataDir(key), { recursive: true, mode: 0o700 })
    await rename(tmp, this.path(key))
    await syncDir(this.dataDir(key))
    const info: BlobInfo = {
      digest: digest.slice(),
      size: bytes.length,
      pinned: opts.pinned === true,
      usedAt: opts.usedAt ?? 0,
    }
    this.blobs.set(key, { info })
    await this.appendMeta(key, info.pinned ? MetaState.pinned : MetaState.unpinned, info.usedAt)
    return true
  }

  private async readFile(key: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    let handle: FileHandle
    try {
      handle = await open(this.path(key), 'r')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined // deleted meanwhile
      throw e
    }
    try {
      // A plain Uint8Array of exactly the bytes asked for (not a pooled Buffer).
      const out = new Uint8Array(length)
      let done = 0
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done)
        if (bytesRead === 0) throw new Error(`blob ${key} is shorter than recorded`)
        done += bytesRead
      }
      return out
    } finally {
      await handle.close()
    }
  }

  private dataDir(key: string): string {
    return join(this.opts.dir, 'data', key.slice(0, 2))
  }

  private path(key: string): string {
    return join(this.dataDir(key), key)
  }

  // ---- the meta journal ---------------------------------------------------------------------

  private async setMeta(key: string, pinned: boolean, usedAt: number): Promise<void> {
    const entry = this.blobs.get(key)
    if (entry) {
      entry.info.pinned = pinned
      entry.info.usedAt = usedAt
    }
    await this.appendMeta(key, pinned ? MetaState.pinned : MetaState.unpinned, usedAt)
  }

  /** Appends one record; all records queued meanwhile share one write and one fdatasync. */
  private appendMeta(key: string, state: number, usedAt: number): Promise<void> {
    this.checkOpen()
    const record = encodeMeta(fromHex(key), state, usedAt)
    return new Promise((resolve, reject) => {
      this.pendingMeta.push({ record, done: { resolve, reject } })
      if (this.flushing) return
      this.flushing = true
      this.metaLane = this.metaLane.then(() => this.flushMeta())
    })
  }

  private async flushMeta(): Promise<void> {
    while (this.pendingMeta.length > 0) {
      const batch = this.pendingMeta.splice(0)
      const buf = Buffer.concat(batch.map((b) => b.record))
      try {
        await this.journal.write(buf, 0, buf.length, this.journalSize)
        await this.journal.datasync()
        this.journalSize += buf.length
        this.journalRecords += batch.length
        for (const b of batch) b.done.resolve()
      } catch (e) {
        for (const b of batch) b.done.reject(e)
      }
    }
    this.flushing = false
  }

  /** Rewrites meta.log with one record per blob (to a temporary file renamed over it). */
  private compactJournalIfLarge(): Promise<void> {
    const run = async () => {
      if (this.closed) return
      const { journalCompactRatio, journalCompactMinRecords } = FileBlobStoreDefaults
      if (
        this.journalRecords < journalCompactMinRecords ||
        this.journalRecords < journalCompactRatio * this.blobs.size
      )
        return
      const records = [...this.blobs.entries()].map(([key, { info }]) =>
        encodeMeta(fromHex(key), info.pinned ? MetaState.pinned : MetaState.unpinned, info.usedAt),
      )
      const fresh = join(this.opts.dir, 'meta.log.new')
      const handle = await open(fresh, 'w', 0o600)
      const buf = Buffer.concat(records)
      try {
        await handle.writeFile(buf)
        await handle.datasync()
      } finally {
        await handle.close()
      }
      await rename(fresh, join(this.opts.dir, 'meta.log'))
      await syncDir(this.opts.dir)
      await this.journal.close()
      this.journal = await open(join(this.opts.dir, 'meta.log'), 'r+')
      this.journalSize = buf.length
      this.journalRecords = records.length
    }
    // On the journal's lane: no append lands in the old file after the copy was taken.
    const p = this.metaLane.then(run)
    this.metaLane = p.catch(() => {})
    return p
  }

  // ---- opening ------------------------------------------------------------------------------

  private async load(): Promise<void> {
    const { dir } = this.opts
    mkdirSync(join(dir, 'data'), { recursive: true, mode: 0o700 })
    const tmp = join(dir, 'tmp')
    mkdirSync(tmp, { recursive: true, mode: 0o700 })
    // Writes that never reached their final name: never acknowledged.
    for (const name of readdirSync(tmp)) {
      rmSync(join(tmp, name), { force: true })
      this.recovery.tmpFilesRemoved++
    }
    rmSync(join(dir, 'meta.log.new'), { force: true })
    for (const prefix of readdirSync(join(dir, 'data'))) {
      const sub = join(dir, 'data', prefix)
      if (!/^[0-9a-f]{2}$/.test(prefix) || !statSync(sub).isDirectory()) continue
      for (const name of readdirSync(sub)) {
        if (!HEX_RE.test(name) || name.slice(0, 2) !== prefix) continue
        const size = statSync(join(sub, name)).size
        this.blobs.set(name, { info: { digest: fromHex(name), size, pinned: false, usedAt: 0 } })
        this.recovery.blobs++
      }
    }
    const journalPath = join(dir, 'meta.log')
    let buf: Buffer = Buffer.alloc(0)
    try {
      buf = readFileSync(journalPath)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    let at = 0
    for (; at + META_RECORD_BYTES <= buf.length; at += META_RECORD_BYTES) {
      const meta = decodeMeta(buf.subarray(at, at + META_RECORD_BYTES))
      if (!meta) break
      this.recovery.metaRecords++
      const entry = this.blobs.get(meta.key)
      if (!entry) continue // a blob deleted since (or never completed)
      entry.info.pinned = meta.state === MetaState.pinned
      entry.info.usedAt = meta.state === MetaState.deleted ? 0 : meta.usedAt
    }
    if (at < buf.length) {
      // A torn or rotten tail: nothing after it was acknowledged intact.
      truncateSync(journalPath, at)
      this.recovery.truncatedBytes += buf.length - at
    }
    this.journal = await open(journalPath, 'a+', 0o600)
    await this.journal.close()
    this.journal = await open(journalPath, 'r+')
    this.journalSize = at
    this.journalRecords = this.recovery.metaRecords
    await syncDir(dir)
  }

  private key(digest: BlobDigest): string {
    this.checkOpen()
    return toHex(abytes(digest, BLOB_DIGEST_BYTES, 'digest'))
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('blob store is closed')
  }
}

export function encodeMeta(digest: Uint8Array, state: number, usedAt: number): Buffer {
  const out = Buffer.alloc(META_RECORD_BYTES)
  out.set(digest, 4)
  out[4 + BLOB_DIGEST_BYTES] = state
  out.writeDoubleLE(usedAt, 4 + BLOB_DIGEST_BYTES + 1)
  out.writeUInt32LE(crc32(out.subarray(4)), 0)
  return out
}

function decodeMeta(rec: Buffer): { key: string; state: number; usedAt: number } | undefined {
  if (crc32(rec.subarray(4)) !== rec.readUInt32LE(0)) return undefined
  const state = rec[4 + BLOB_DIGEST_BYTES]!
  const usedAt = rec.readDoubleLE(4 + BLOB_DIGEST_BYTES + 1)
  if (state > MetaState.deleted || !Number.isFinite(usedAt)) return undefined
  return { key: toHex(rec.subarray(4, 4 + BLOB_DIGEST_BYTES)), state, usedAt }
}
