/**
 * FileOutboxStore: the engine's `OutboxStore` on a local file, so a Node app killed with
 * writes not stamped yet restarts with them (the Replica lists them at open and sends them
 * again, same signature and nonce: stamped once however often they are resent).
 *
 * One append-only journal, `outbox.log`, in the record framing of the FileStore's segments
 * (record.ts): a put record holds the whole entry, a delete record its key, the last record
 * of a key wins. Concurrent calls are grouped like the FileStore's: one write and one
 * fdatasync per batch, and a call resolves only once its record is synced, so a `kill -9`
 * never loses an acknowledged put or delete. On open the journal is replayed from its start
 * and cut at the first torn or rotten record (as a segment is). Once it holds mostly
 * superseded records it is rewritten (`outbox.log.new`, fdatasync, rename, fsync the
 * directory). In memory: the encoded record of each live entry (at most `maxEntries`).
 * Format: docs/protocol/storage.md.
 */
import { constants, mkdirSync, readFileSync, rmSync, truncateSync } from 'node:fs'
import { type FileHandle, open, rename } from 'node:fs/promises'
import { join } from 'node:path'
import {
  createWriter,
  decodeWith,
  encodeRequest,
  finish,
  LimitError,
  MAX_EVENT_BYTES,
  MAX_OUTBOX,
  type OutboxEntry,
  type OutboxStore,
  type Reader,
  readRequest,
  writeBytes,
  writeU8,
  writeVarString,
} from '@peerchat/engine'
import { encodeRecord, parseRecords, RECORD_HEADER_BYTES, type RecordFormat, RecordType } from './record.ts'
import { syncDir } from './sync-dir.ts'

export const FileOutboxStoreDefaults = {
  /** Most entries held at once: a put of a new key beyond it is refused (the Replica's own bound). */
  maxEntries: MAX_OUTBOX,
  /** Rewrite the journal once it holds this many times more records than live entries... */
  compactRatio: 4,
  /** ...and at least this many records. */
  compactMinRecords: 1024,
} as const

export interface FileOutboxStoreOptions {
  /** Directory of the outbox (created, mode 0700): holds `outbox.log`. */
  dir: string
  maxEntries?: number
  compactRatio?: number
  compactMinRecords?: number
}

/** Longest key accepted (UTF-8 bytes); `outboxKey` makes 97. */
export const MAX_OUTBOX_KEY_BYTES = 256
/** A refusal's code and message are cut to these many UTF-8 bytes when stored (they are only shown). */
export const MAX_FAILURE_CODE_BYTES = 256
export const MAX_FAILURE_MESSAGE_BYTES = 4096
/** Largest record body (type byte + payload) accepted when reading the journal. */
export const MAX_OUTBOX_RECORD_BODY_BYTES = 1 + 16 * 1024 + MAX_EVENT_BYTES

const OUTBOX_RECORDS: RecordFormat = {
  types: [RecordType.outboxPut, RecordType.outboxDelete],
  maxBodyBytes: MAX_OUTBOX_RECORD_BODY_BYTES,
}
const JOURNAL = 'outbox.log'
const JOURNAL_NEW = 'outbox.log.new'
const HAS_FAILURE = 1

interface Op {
  key: string
  /** The put record, or undefined for a delete. */
  put: Buffer | undefined
  record: Buffer
  done: { resolve(): void; reject(e: unknown): void }
}

export class FileOutboxStore implements OutboxStore {
  /** Live entries as durable on disk: key -> its put record (decoded by `list`). */
  private readonly entries = new Map<string, Buffer>()
  /** The keys once every queued op is written (what capacity is checked against). */
  private projected = new Set<string>()
  private readonly opts: Required<FileOutboxStoreOptions>
  private readonly path: string
  private journal!: FileHandle
  private journalSize = 0
  private journalRecords = 0
  private queue: Op[] = []
  private lane: Promise<void> = Promise.resolve()
  private flushScheduled = false
  private closed = false
  /** Write batches, fdatasync calls and records so far, and journal rewrites. */
  readonly writes = { batches: 0, syncs: 0, records: 0, compactions: 0 }
  /** What the last open found and repaired, for logs and tests. */
  readonly recovery = { records: 0, invalidRecords: 0, truncatedBytes: 0, entries: 0 }

  private constructor(opts: FileOutboxStoreOptions) {
    this.opts = { ...FileOutboxStoreDefaults, ...opts }
    this.path = join(opts.dir, JOURNAL)
    const { maxEntries } = this.opts
    if (!(Number.isSafeInteger(maxEntries) && maxEntries > 0))
      throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`)
  }

  /** Opens (creating) the outbox in `dir`, replaying its journal; a torn or rotten tail is cut off. */
  static async open(opts: FileOutboxStoreOptions): Promise<FileOutboxStore> {
    const store = new FileOutboxStore(opts)
    await store.load()
    return store
  }

  // ---- OutboxStore --------------------------------------------------------------------------

  /**
   * Stores (or replaces) the entry under `key`; a new key beyond `maxEntries` is refused with a
   * `LimitError`. Put and delete run synchronously up to the queue: calls are written, and win,
   * in call order, and capacity counts the calls queued before.
   */
  async put(key: string, entry: OutboxEntry): Promise<void> {
    this.checkOpen()
    const payload = encodePut(key, entry)
    decodePut(payload) // what would not read back at the next open is refused now (a DecodeError)
    const record = encodeRecord(RecordType.outboxPut, payload)
    if (!this.projected.has(key) && this.projected.size >= this.opts.maxEntries)
      throw new LimitError(
        `outbox full (${this.opts.maxEntries} unstamped writes): reconnect to the relay first`,
        'maxEntries',
      )
    this.projected.add(key)
    await this.enqueue(key, record, record)
  }

  /** Removes the entry under `key`; nothing is written when no entry will be there to remove. */
  async delete(key: string): Promise<void> {
    this.checkOpen()
    const record = encodeRecord(RecordType.outboxDelete, encodeKey(key))
    if (!this.projected.delete(key)) return
    await this.enqueue(key, undefined, record)
  }

  /** Every entry acknowledged and not deleted, in the order their keys were put (a replaced entry keeps its place). */
  async list(): Promise<OutboxEntry[]> {
    this.checkOpen()
    return Array.from(this.entries.values(), (record) => decodePut(payloadOf(record)).entry)
  }

  /** Waits for pending writes, then closes the journal. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.lane
    await this.journal.close()
    this.entries.clear()
    this.projected.clear()
  }

  /** Bytes of the journal and its records (for metrics and tests). */
  diskUsage(): { bytes: number; records: number; entries: number } {
    return { bytes: this.journalSize, records: this.journalRecords, entries: this.entries.size }
  }

  // ---- writing ------------------------------------------------------------------------------

  private enqueue(key: string, put: Buffer | undefined, record: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ key, put, record, done: { resolve, reject } })
      if (this.flushScheduled) return
      this.flushScheduled = true
      this.lane = this.lane.then(() => this.flushLoop()).catch(() => {})
    })
  }

  /** Writes every queued op: one write and one fdatasync per round. */
  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0)
      const buf = batch.length === 1 ? batch[0]!.record : Buffer.concat(batch.map((op) => op.record))
      try {
        await this.journal.write(buf, 0, buf.length, this.journalSize)
        await this.journal.datasync()
      } catch (e) {
        // Nothing of the batch was acknowledged: cut whatever reached the file, so that a
        // record written whole before the failure is not replayed at the next open.
        await this.journal.truncate(this.journalSize).catch(() => {})
        this.projected = new Set(this.entries.keys())
        for (const op of this.queue) this.project(op)
        for (const op of batch) op.done.reject(e)
        continue
      }
      this.journalSize += buf.length
      this.journalRecords += batch.length
      this.writes.batches++
      this.writes.syncs++
      this.writes.records += batch.length
      for (const op of batch) {
        if (op.put) this.entries.set(op.key, op.put)
        else this.entries.delete(op.key)
        op.done.resolve()
      }
      // A failed rewrite leaves the journal as it was (it is retried after a later batch).
      if (this.needsCompaction()) await this.compact().catch(() => {})
    }
    this.flushScheduled = false
  }

  private project(op: Op): void {
    if (op.put) this.projected.add(op.key)
    else this.projected.delete(op.key)
  }

  private needsCompaction(): boolean {
    const { compactRatio, compactMinRecords } = this.opts
    return this.journalRecords >= compactMinRecords && this.journalRecords > compactRatio * this.entries.size
  }

  /**
   * Rewrites the journal with one put record per live entry: to `outbox.log.new`, fdatasync,
   * renamed over `outbox.log`, directory fsynced. A crash before the rename leaves the old
   * journal (whole); `.new` is removed at open. Runs on the write lane, between batches.
   */
  private async compact(): Promise<void> {
    const buf = Buffer.concat([...this.entries.values()])
    const fresh = join(this.opts.dir, JOURNAL_NEW)
    const handle = await open(fresh, 'w+', 0o600)
    try {
      await handle.write(buf, 0, buf.length, 0)
      await handle.datasync()
      await rename(fresh, this.path)
    } catch (e) {
      await handle.close()
      rmSync(fresh, { force: true })
      throw e
    }
    // The new handle is the renamed file itself: appends go on there.
    const old = this.journal
    this.journal = handle
    this.journalSize = buf.length
    this.journalRecords = this.entries.size
    this.writes.compactions++
    await old.close()
    await syncDir(this.opts.dir)
  }

  // ---- opening ------------------------------------------------------------------------------

  private async load(): Promise<void> {
    const { dir } = this.opts
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    // A rewrite that never reached its rename: the journal beside it is whole.
    rmSync(join(dir, JOURNAL_NEW), { force: true })
    let buf: Buffer = Buffer.alloc(0)
    try {
      buf = readFileSync(this.path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
    const { records, validBytes } = parseRecords(buf, OUTBOX_RECORDS)
    for (const r of records) {
      this.recovery.records++
      const payload = buf.subarray(r.payloadOffset, r.payloadOffset + r.payloadLength)
      try {
        if (r.type === RecordType.outboxPut) {
          const { key } = decodePut(payload)
          // A key keeps its place when put again (as in memory); put after a delete, it goes last.
          this.entries.set(key, Buffer.from(buf.subarray(r.offset, r.payloadOffset + r.payloadLength)))
        } else this.entries.delete(decodeWith(payload, readKey, 'outbox key'))
      } catch {
        // Framed and CRC-checked but not decodable (a newer format?): skipped, like an invalid event.
        this.recovery.invalidRecords++
      }
    }
    if (validBytes < buf.length) {
      // A torn tail (crash mid-write) or rot: nothing after it was acknowledged intact.
      truncateSync(this.path, validBytes)
      this.recovery.truncatedBytes += buf.length - validBytes
    }
    this.recovery.entries = this.entries.size
    this.projected = new Set(this.entries.keys())
    this.journal = await open(this.path, constants.O_RDWR | constants.O_CREAT, 0o600)
    this.journalSize = validBytes
    this.journalRecords = records.length
    await syncDir(dir) // a journal created now must survive a crash too
    if (this.needsCompaction()) await this.compact()
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('outbox is closed')
  }
}

// ---- records -------------------------------------------------------------------------------
//
//   put    = key:varstring queuedAt:f64le flags:u8 [code:varstring message:varstring] request
//   delete = key:varstring
//
// `request` is encodeRequest(request) up to the end of the payload; flags bit 0: refused for good.

const utf8 = new TextEncoder()
const lenientUtf8 = new TextDecoder()

function checkKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || utf8.encode(key).length > MAX_OUTBOX_KEY_BYTES)
    throw new RangeError(`outbox key must be 1..${MAX_OUTBOX_KEY_BYTES} UTF-8 bytes`)
  return key
}

/** `s` cut to at most `max` UTF-8 bytes (a character cut in half becomes U+FFFD, kept within `max`). */
function cut(s: string, max: number): string {
  const bytes = utf8.encode(s)
  return bytes.length <= max ? s : lenientUtf8.decode(bytes.subarray(0, max - 3))
}

function encodeKey(key: string): Uint8Array {
  const w = createWriter()
  writeVarString(w, checkKey(key))
  return finish(w)
}

const readKey = (r: Reader): string => r.varString(MAX_OUTBOX_KEY_BYTES, 'outbox key')

function encodePut(key: string, entry: OutboxEntry): Uint8Array {
  if (!Number.isFinite(entry.queuedAt)) throw new RangeError(`queuedAt must be finite, got ${entry.queuedAt}`)
  const request = encodeRequest(entry.request)
  const w = createWriter()
  writeVarString(w, checkKey(key))
  const at = new Uint8Array(8)
  new DataView(at.buffer).setFloat64(0, entry.queuedAt, true)
  writeBytes(w, at)
  writeU8(w, entry.failed ? HAS_FAILURE : 0)
  if (entry.failed) {
    writeVarString(w, cut(String(entry.failed.code), MAX_FAILURE_CODE_BYTES))
    writeVarString(w, cut(String(entry.failed.message), MAX_FAILURE_MESSAGE_BYTES))
  }
  writeBytes(w, request)
  return finish(w)
}

function decodePut(payload: Uint8Array): { key: string; entry: OutboxEntry } {
  return decodeWith(
    payload,
    (r) => {
      const key = readKey(r)
      const at = r.bytes(8, 'queuedAt')
      const queuedAt = new DataView(at.buffer, at.byteOffset, 8).getFloat64(0, true)
      if (!Number.isFinite(queuedAt)) throw new RangeError('queuedAt is not finite')
      const flags = r.u8('flags')
      if (flags & ~HAS_FAILURE) throw new RangeError(`unknown flags ${flags}`)
      const failed =
        flags & HAS_FAILURE
          ? {
              code: r.varString(MAX_FAILURE_CODE_BYTES, 'failure code'),
              message: r.varString(MAX_FAILURE_MESSAGE_BYTES, 'failure message'),
            }
          : undefined
      const entry: OutboxEntry = { request: readRequest(r), queuedAt }
      if (failed) entry.failed = failed
      return { key, entry }
    },
    'outbox entry',
  )
}

function payloadOf(record: Buffer): Buffer {
  return record.subarray(RECORD_HEADER_BYTES + 1)
}
