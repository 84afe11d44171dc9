/**
 * FileStore: the engine's `Store` on local files, for virtual clients (and any Node peer).
 *
 * Each channel is a directory of append-only segment files (record.ts). Writes from every
 * concurrent `putMany`/`deleteMany` are grouped: one write and one fdatasync per touched
 * file per batch, and a call resolves only once its bytes are synced — so a `kill -9` never
 * loses an acknowledged event. On open, segments are replayed into an in-memory
 * `RankedIndex` of (id, digest, location); events are read back from disk for `getRange`.
 *
 * Deletions append tombstones. The rolling retention window needs none: events older than
 * the window are dropped from the index (and skipped on replay), except those the `keep` option
 * holds (a flag in their index entry, so the sweep reads nothing back). Compaction copies the
 * live events of sealed segments forward and unlinks them once garbage dominates.
 * Format: docs/protocol/storage.md.
 */

import { hash } from 'node:crypto'
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  truncateSync,
} from 'node:fs'
import { type FileHandle, open, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import {
  checkBatch,
  decodeEvent,
  EVENT_VERSION,
  encodeEvent,
  type Fingerprint,
  type GetRangeOptions,
  type IdRange,
  isValidChannel,
  Limits,
  RankedIndex,
  type StampedEvent,
  type Store,
  type StoredEvent,
  sumBytes,
  ULID_BYTES,
  type Ulid,
  ulidAtTime,
  ulidFromBytes,
  ulidToBytes,
} from '@peerchat/engine'
import { encodeRecord, type ParsedRecord, parseRecords, RECORD_HEADER_BYTES, RecordType } from './record.ts'
import { syncDir } from './sync-dir.ts'

export const FileStoreDefaults = {
  /** A segment is sealed (and a new one started) once it would grow past this many bytes. */
  segmentMaxBytes: 8 * 1024 * 1024,
  /** Compact a channel when garbage exceeds this share of its sealed segments' bytes... */
  compactGarbageRatio: 0.5,
  /** ...and at least this many bytes (tiny channels are not worth rewriting). */
  compactMinGarbageBytes: 1024 * 1024,
  /** How often the retention window is applied (and compaction considered). */
  sweepIntervalMs: 60_000,
} as const

/**
 * What `keep` decides on: the fields replay reads from a record's first bytes, without decoding
 * the event (a full decode would double the time of opening). The time is `ulidTime(id)`.
 */
export type EventHeader = Pick<StampedEvent, 'id' | 'channel' | 'kind'>

export interface FileStoreOptions {
  dir: string
  /** Keep only events younger than this (ms, by their ULID time); unbounded when omitted. */
  retentionMs?: number
  /**
   * Events to hold outside the retention window: those it says yes to are written however old,
   * kept on replay and never expired by `sweep` (`deleteMany` still deletes them). Asked once per
   * event at put and again at every open, so it must be a pure function of the header; an event
   * it stops holding expires at the next open. Default: none.
   */
  keep?: (event: EventHeader) => boolean
  now?: () => number
  segmentMaxBytes?: number
  compactGarbageRatio?: number
  compactMinGarbageBytes?: number
  sweepIntervalMs?: number
}

const SEGMENT_RE = /^(\d{8})\.seg$/
const segmentName = (n: number): string => `${String(n).padStart(8, '0')}.seg`

interface Segment {
  readonly n: number
  readonly path: string
  /** Read side (sync reads of any segment); the active segment also has `writer`. */
  fd: number
  writer: FileHandle | undefined
  size: number
}

/** Where a record's payload is in a segment. */
interface Place {
  seg: Segment
  offset: number
  length: number
}

/** An index entry: where the event's encoded bytes are (mutable: compaction moves them). */
interface Loc extends Place {
  /** Held by `keep`: the retention window does not apply. */
  readonly kept: boolean
}

interface ChannelFiles {
  readonly name: string
  readonly dir: string
  segments: Segment[]
  readonly index: RankedIndex<Loc>
  /** Ids written or being written but not yet in the index (dedup of concurrent puts). */
  readonly pending: Set<Ulid>
  /** Bytes of the records of live events (the rest of the segments is garbage). */
  liveBytes: number
}

type Op =
  | { kind: 'put'; ch: ChannelFiles; items: StoredEvent[]; kept: boolean[]; records: Buffer[]; done: Settle }
  | { kind: 'delete'; ch: ChannelFiles; ids: Ulid[]; records: Buffer[]; done: Settle }
interface Settle {
  resolve(): void
  reject(e: unknown): void
}

const recordBytes = (payloadLength: number): number => RECORD_HEADER_BYTES + 1 + payloadLength

export class FileStore implements Store {
  private readonly channelsByName = new Map<string, ChannelFiles>()
  private readonly opts: Required<Omit<FileStoreOptions, 'retentionMs' | 'keep'>> &
    Pick<FileStoreOptions, 'retentionMs' | 'keep'>
  private queue: Op[] = []
  /** Every write (flush rounds, compactions) runs in turn on this chain. */
  private lane: Promise<void> = Promise.resolve()
  private flushScheduled = false
  private sweepTimer: ReturnType<typeof setInterval> | undefined
  private closed = false
  /** Write batches and fdatasync calls so far (one sync per touched file per batch). */
  readonly writes = { batches: 0, syncs: 0, records: 0 }
  /** What the last open found and repaired, for logs and tests. */
  readonly recovery = {
    segments: 0,
    records: 0,
    truncatedBytes: 0,
    invalidRecords: 0,
    /** Events skipped as older than the window... */
    expired: 0,
    /** ...and events as old that `keep` held. */
    kept: 0,
  }

  private constructor(opts: FileStoreOptions) {
    this.opts = { ...FileStoreDefaults, now: Date.now, ...opts }
  }

  /** Opens (creating) the store in `dir`, replaying every segment; torn tails are truncated. */
  static async open(opts: FileStoreOptions): Promise<FileStore> {
    const store = new FileStore(opts)
    mkdirSync(opts.dir, { recursive: true })
    for (const name of readdirSync(opts.dir).sort()) {
      if (!isValidChannel(name) || !statSync(join(opts.dir, name)).isDirectory()) continue
      store.replay(name)
    }
    if (store.opts.retentionMs !== undefined) {
      store.sweepTimer = setInterval(() => void store.sweep(), store.opts.sweepIntervalMs)
      store.sweepTimer.unref()
    }
    return store
  }

  /** The oldest id kept, or undefined without a retention window. */
  cutoff(): Ulid | undefined {
    const { retentionMs, now } = this.opts
    return retentionMs === undefined ? undefined : ulidAtTime(Math.max(0, now() - retentionMs))
  }

  // ---- Store ------------------------------------------------------------------------------

  async putMany(channel: string, items: readonly StoredEvent[]): Promise<number> {
    this.checkOpen()
    if (!isValidChannel(channel)) throw new RangeError(`invalid channel name ${JSON.stringify(channel)}`)
    checkBatch(channel, items)
    const cutoff = this.cutoff()
    const { keep } = this.opts
    const ch = this.channel(channel, true)!
    const fresh: StoredEvent[] = []
    const kept: boolean[] = []
    try {
      for (const item of items) {
        const id = item.event.id
        if (ch.pending.has(id) || ch.index.get(id)) continue
        const held = keep?.(item.event) === true
        // Older than the window: it would be dropped at the next sweep, so it is never written.
        if (!held && cutoff !== undefined && id < cutoff) continue
        ch.pending.add(id)
        fresh.push(item)
        kept.push(held)
      }
    } catch (e) {
      for (const item of fresh) ch.pending.delete(item.event.id) // `keep` threw: nothing is written
      throw e
    }
    if (fresh.length === 0) return 0
    const records = fresh.map((item) => encodeRecord(RecordType.event, encodeEvent(item.event)))
    await this.enqueue((done) => ({ kind: 'put', ch, items: fresh, kept, records, done }))
    return fresh.length
  }

  async getRange(channel: string, range: IdRange, opts: GetRangeOptions = {}): Promise<StoredEvent[]> {
    const ch = this.channel(channel)
    if (!ch) return []
    const locs: Loc[] = []
    const digests: Uint8Array[] = []
    for (const e of ch.index.entries(range, opts.reverse ?? false, opts.limit)) {
      locs.push(e.value)
      digests.push(sumBytes(e.words))
    }
    // Neighbouring records are read with one read into one buffer (READ_SPAN_MAX_BYTES at most),
    // not one buffer per event: serving history reads thousands of events a second, and every
    // small buffer is a malloc the process pays for in resident memory (bench/README.md).
    const out: StoredEvent[] = []
    let i = 0
    while (i < locs.length) {
      const first = locs[i]!
      let lo = first.offset
      let hi = first.offset + first.length
      let payload = first.length
      let j = i + 1
      for (; j < locs.length; j++) {
        const l = locs[j]!
        const nlo = Math.min(lo, l.offset)
        const nhi = Math.max(hi, l.offset + l.length)
        // Same file, within the span limit, and mostly live records (not garbage in between).
        if (l.seg !== first.seg || nhi - nlo > READ_SPAN_MAX_BYTES || (payload + l.length) * 2 < nhi - nlo)
          break
        lo = nlo
        hi = nhi
        payload += l.length
      }
      const span = readSpan(first.seg, lo, hi - lo)
      for (let k = i; k < j; k++) {
        const l = locs[k]!
        out.push({
          event: decodeEvent(span.subarray(l.offset - lo, l.offset - lo + l.length)),
          digest: digests[k]!,
        })
      }
      i = j
    }
    return out
  }

  async has(channel: string, id: Ulid): Promise<boolean> {
    return this.channel(channel)?.index.get(id) !== undefined
  }

  async count(channel: string, range: IdRange = {}): Promise<number> {
    return this.channel(channel)?.index.count(range) ?? 0
  }

  async fingerprint(channel: string, range: IdRange): Promise<Fingerprint> {
    return (this.channel(channel)?.index ?? EMPTY).fingerprint(range)
  }

  async idsAtRanks(channel: string, range: IdRange, ranks: readonly number[]): Promise<Ulid[]> {
    return (this.channel(channel)?.index ?? EMPTY).idsAtRanks(range, ranks)
  }

  async deleteMany(channel: string, ids: readonly Ulid[]): Promise<number> {
    const ch = this.channel(channel)
    if (!ch) return 0
    const present = [...new Set(ids)].filter((id) => ch.pending.has(id) || ch.index.get(id) !== undefined)
    if (present.length === 0) return 0
    const records = present.map((id) => encodeRecord(RecordType.tombstone, ulidToBytes(id)))
    await this.enqueue((done) => ({ kind: 'delete', ch, ids: present, records, done }))
    return present.length
  }

  async channels(): Promise<string[]> {
    this.checkOpen()
    return [...this.channelsByName.values()]
      .filter((c) => c.index.size > 0)
      .map((c) => c.name)
      .sort()
  }

  /** Waits for pending writes, then closes every file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.sweepTimer)
    await this.lane
    for (const ch of this.channelsByName.values()) for (const seg of ch.segments) await closeSegment(seg)
    this.channelsByName.clear()
  }

  // ---- retention and compaction ------------------------------------------------------------

  /**
   * Drops events older than the window (but those `keep` holds), then compacts channels with
   * enough garbage. Held events stay below the cutoff, so each sweep steps over them again: they
   * are meant to be few next to the window (a channel's canvas updates, say).
   */
  async sweep(): Promise<{ expired: number; compacted: string[] }> {
    if (this.closed) return { expired: 0, compacted: [] }
    const cutoff = this.cutoff()
    let expired = 0
    if (cutoff !== undefined)
      for (const ch of this.channelsByName.values()) {
        const old: { id: Ulid; value: Loc }[] = []
        for (const e of ch.index.entries({ lt: cutoff })) if (!e.value.kept) old.push(e)
        for (const e of old) {
          ch.index.delete(e.id)
          ch.liveBytes -= recordBytes(e.value.length)
        }
        expired += old.length
      }
    const compacted: string[] = []
    for (const ch of this.channelsByName.values())
      if (this.needsCompaction(ch)) {
        await this.compact(ch)
        compacted.push(ch.name)
      }
    return { expired, compacted }
  }

  /** Bytes on disk per channel and how many of them are live (for metrics and tests). */
  diskUsage(): { channel: string; segments: number; bytes: number; liveBytes: number }[] {
    return [...this.channelsByName.values()].map((ch) => ({
      channel: ch.name,
      segments: ch.segments.length,
      bytes: ch.segments.reduce((n, s) => n + s.size, 0),
      liveBytes: ch.liveBytes,
    }))
  }

  private needsCompaction(ch: ChannelFiles): boolean {
    const sealed = ch.segments.filter((s) => !s.writer)
    if (sealed.length === 0) return false
    const sealedBytes = sealed.reduce((n, s) => n + s.size, 0)
    let liveInSealed = 0
    for (const e of ch.index.entries({})) if (!e.value.seg.writer) liveInSealed += recordBytes(e.value.length)
    const garbage = sealedBytes - liveInSealed
    return (
      garbage >= this.opts.compactMinGarbageBytes && garbage > sealedBytes * this.opts.compactGarbageRatio
    )
  }

  /**
   * Copies the live events of every sealed segment into the active one (synced), then
   * unlinks the sealed segments oldest first. A crash in between leaves duplicates, which
   * replay ignores; tombstones in sealed segments die with the events they cover (always in
   * the same or an older segment), so nothing is resurrected.
   */
  private compact(ch: ChannelFiles): Promise<void> {
    const run = async () => {
      const sealed = new Set(ch.segments.filter((s) => !s.writer))
      const moving = [...ch.index.entries({})].filter((e) => sealed.has(e.value.seg))
      const records = moving.map((e) => encodeRecord(RecordType.event, readAt(e.value)))
      const places = await this.append(ch, records)
      moving.forEach((e, i) => {
        Object.assign(e.value, places[i]!) // where it is changes; `kept` stays
      })
      for (const seg of [...sealed].sort((a, b) => a.n - b.n)) {
        await closeSegment(seg)
        await unlink(seg.path)
      }
      ch.segments = ch.segments.filter((s) => !sealed.has(s))
    }
    const p = this.lane.then(run)
    this.lane = p.catch(() => {})
    return p
  }

  // ---- writing ----------------------------------------------------------------------------

  private enqueue(make: (done: Settle) => Op): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push(make({ resolve, reject }))
      if (this.flushScheduled) return
      this.flushScheduled = true
      this.lane = this.lane.then(() => this.flushLoop()).catch(() => {})
    })
  }

  /** Writes every queued op, one write + fdatasync per channel file per round. */
  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0)
      this.writes.batches++
      const byChannel = new Map<ChannelFiles, Buffer[]>()
      for (const op of batch) {
        const list = byChannel.get(op.ch) ?? []
        list.push(...op.records)
        byChannel.set(op.ch, list)
      }
      try {
        const places = new Map<ChannelFiles, Place[]>()
        await Promise.all(
          [...byChannel].map(async ([ch, records]) => places.set(ch, await this.append(ch, records))),
        )
        for (const op of batch) {
          const at = places.get(op.ch)!.splice(0, op.records.length)
          if (op.kind === 'put') this.applyPut(op.ch, op.items, op.kept, at)
          else this.applyDelete(op.ch, op.ids)
          op.done.resolve()
        }
      } catch (e) {
        for (const op of batch) {
          if (op.kind === 'put') for (const item of op.items) op.ch.pending.delete(item.event.id)
          op.done.reject(e)
        }
      }
    }
    this.flushScheduled = false
  }

  private applyPut(ch: ChannelFiles, items: StoredEvent[], kept: boolean[], places: Place[]): void {
    items.forEach((item, i) => {
      ch.pending.delete(item.event.id)
      const { seg, offset, length } = places[i]!
      const loc: Loc = { seg, offset, length, kept: kept[i]! }
      if (ch.index.insert(item.event.id, item.digest, loc)) ch.liveBytes += recordBytes(loc.length)
    })
  }

  private applyDelete(ch: ChannelFiles, ids: Ulid[]): void {
    for (const id of ids) {
      const loc = ch.index.get(id)
      if (loc && ch.index.delete(id)) ch.liveBytes -= recordBytes(loc.length)
    }
  }

  /** Appends records to the channel's active segment (rolling as needed), synced; returns their payload places. */
  private async append(ch: ChannelFiles, records: Buffer[]): Promise<Place[]> {
    const locs: Place[] = []
    let i = 0
    while (i < records.length) {
      let seg = ch.segments.at(-1)
      if (!seg?.writer || (seg.size > 0 && seg.size + records[i]!.length > this.opts.segmentMaxBytes))
        seg = await this.newSegment(ch)
      // As many records as fit (at least one, so an event larger than a segment still goes in).
      const chunk: Buffer[] = []
      let bytes = 0
      while (
        i < records.length &&
        (chunk.length === 0 || seg.size + bytes + records[i]!.length <= this.opts.segmentMaxBytes)
      ) {
        const r = records[i++]!
        locs.push({
          seg,
          offset: seg.size + bytes + RECORD_HEADER_BYTES + 1,
          length: r.length - RECORD_HEADER_BYTES - 1,
        })
        chunk.push(r)
        bytes += r.length
      }
      const buf = chunk.length === 1 ? chunk[0]! : Buffer.concat(chunk, bytes)
      await seg.writer!.write(buf, 0, buf.length, seg.size)
      await seg.writer!.datasync()
      this.writes.syncs++
      this.writes.records += chunk.length
      seg.size += bytes
    }
    return locs
  }

  private async newSegment(ch: ChannelFiles): Promise<Segment> {
    const last = ch.segments.at(-1)
    if (last) {
      // Sealed: only read from now on.
      await last.writer?.close()
      last.writer = undefined
      last.fd = openSync(last.path, 'r') // the writer's fd closed with it
    }
    const n = (last?.n ?? 0) + 1
    const path = join(ch.dir, segmentName(n))
    const writer = await open(path, 'wx+', 0o600)
    const seg: Segment = { n, path, fd: writer.fd, writer, size: 0 }
    ch.segments.push(seg)
    await syncDir(ch.dir) // the new file's name must survive a crash too
    if (n === 1) await syncDir(this.opts.dir) // and so must a new channel's directory
    return seg
  }

  // ---- opening ----------------------------------------------------------------------------

  private channel(name: string, create = false): ChannelFiles | undefined {
    this.checkOpen()
    let ch = this.channelsByName.get(name)
    if (!ch && create) {
      const dir = join(this.opts.dir, name)
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      ch = { name, dir, segments: [], index: new RankedIndex(), pending: new Set(), liveBytes: 0 }
      this.channelsByName.set(name, ch)
    }
    return ch
  }

  private replay(name: string): void {
    const ch = this.channel(name, true)!
    const cutoff = this.cutoff()
    const files = readdirSync(ch.dir)
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b)
    for (const n of files) {
      const path = join(ch.dir, segmentName(n))
      const fd = openSync(path, 'r')
      const size = fstatSync(fd).size
      const seg: Segment = { n, path, fd, writer: undefined, size }
      ch.segments.push(seg)
      this.recovery.segments++
      // Read through one reused window (REPLAY_WINDOW_BYTES), not the whole segment at once: the
      // peak memory of opening stays flat however large the segments are.
      let pos = 0
      while (pos < size) {
        const window = replayWindow().subarray(0, Math.min(REPLAY_WINDOW_BYTES, size - pos))
        readFully(fd, window, pos)
        const windowEnd = pos + window.length
        const { records, validBytes, needMore } = parseRecords(window)
        for (const r of records) this.replayRecord(ch, seg, window, r, pos, cutoff)
        pos += validBytes
        // Read on after whole records, or a record cut by the window (not by the end of the file).
        if (validBytes === window.length) continue
        if (!needMore || windowEnd >= size || validBytes === 0) break
      }
      if (pos < size) {
        // A torn tail (crash mid-write) or rot: nothing after it was acknowledged intact.
        truncateSync(path, pos)
        this.recovery.truncatedBytes += size - pos
        seg.size = pos
      }
    }
    // Replayed segments are never written again: the first append opens a fresh one.
  }

  private replayRecord(
    ch: ChannelFiles,
    seg: Segment,
    window: Buffer,
    r: ParsedRecord,
    windowAt: number,
    cutoff: Ulid | undefined,
  ): void {
    this.recovery.records++
    const payload = window.subarray(r.payloadOffset, r.payloadOffset + r.payloadLength)
    if (r.type === RecordType.tombstone) {
      if (payload.length !== 16) {
        this.recovery.invalidRecords++
        return
      }
      const id = ulidFromBytes(payload)
      const loc = ch.index.get(id)
      if (loc && ch.index.delete(id)) ch.liveBytes -= recordBytes(loc.length)
      return
    }
    // Only the id and channel are read here (the CRC vouches for the rest, which this store
    // wrote from encodeEvent); a full decode of every event would only make garbage.
    const id = eventIdIn(payload, ch.name)
    if (id === undefined) {
      this.recovery.invalidRecords++
      return
    }
    let kept = false
    if (this.opts.keep) {
      // The kind from the record's bytes (they are here already): nothing is read back later.
      const kind = eventKindIn(payload, ch.name.length)
      if (kind === undefined) {
        this.recovery.invalidRecords++
        return
      }
      kept = this.opts.keep({ id, channel: ch.name, kind })
    }
    if (cutoff !== undefined && id < cutoff) {
      if (!kept) {
        this.recovery.expired++
        return
      }
      this.recovery.kept++
    }
    const loc: Loc = { seg, offset: windowAt + r.payloadOffset, length: r.payloadLength, kept }
    if (ch.index.insert(id, hash('sha256', payload, 'buffer'), loc)) ch.liveBytes += recordBytes(loc.length)
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('store is closed')
  }
}

const CHANNEL_AT = ULID_BYTES + 1 // after the id and the event version byte

/** The id of an encoded event of `channel`, or undefined when the bytes are not one. */
function eventIdIn(payload: Uint8Array, channel: string): Ulid | undefined {
  if (payload.length < CHANNEL_AT + 1 + channel.length || payload[ULID_BYTES] !== EVENT_VERSION)
    return undefined
  if (payload[CHANNEL_AT] !== channel.length) return undefined // names are ASCII, under 128 bytes
  for (let i = 0; i < channel.length; i++)
    if (payload[CHANNEL_AT + 1 + i] !== channel.charCodeAt(i)) return undefined
  try {
    return ulidFromBytes(payload.subarray(0, ULID_BYTES))
  } catch {
    return undefined
  }
}

/**
 * The kind of an encoded event whose channel (checked by `eventIdIn`) is `channelLength` bytes,
 * or undefined when the bytes cannot hold one. Kinds are ASCII (at most `Limits.kind` < 128
 * bytes, so their length is one varint byte).
 */
function eventKindIn(payload: Buffer, channelLength: number): string | undefined {
  const at = CHANNEL_AT + 1 + channelLength
  const length = payload[at]
  if (length === undefined || length === 0 || length > Limits.kind || at + 1 + length > payload.length)
    return undefined
  return payload.toString('latin1', at + 1, at + 1 + length)
}

/** Bytes read per step when a segment is replayed (well over the largest record). */
const REPLAY_WINDOW_BYTES = 1024 * 1024
let sharedWindow: Buffer | undefined
/** One window for every replay of the process (replay is synchronous, so never shared at once). */
const replayWindow = (): Buffer => (sharedWindow ??= Buffer.allocUnsafe(REPLAY_WINDOW_BYTES))

function readFully(fd: number, into: Buffer, position: number): void {
  let done = 0
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done)
    if (n === 0) throw new Error(`unexpected end of file at ${position + done}`)
    done += n
  }
}

/** Most bytes `getRange` reads at once (several records, one buffer). */
const READ_SPAN_MAX_BYTES = 64 * 1024

function readAt(loc: Loc): Uint8Array {
  return readSpan(loc.seg, loc.offset, loc.length)
}

function readSpan(seg: Segment, offset: number, length: number): Uint8Array {
  // A plain Uint8Array: decoded fields are copied out of it (the decoder slices) and it is dropped.
  const buf = new Uint8Array(length)
  const n = readSync(seg.fd, buf, 0, length, offset)
  if (n !== length) throw new Error(`short read in ${seg.path} at ${offset}`)
  return buf
}

async function closeSegment(seg: Segment): Promise<void> {
  if (seg.writer) {
    await seg.writer.close()
    seg.writer = undefined
  } else if (seg.fd >= 0) closeSync(seg.fd)
  seg.fd = -1
}

const EMPTY = new RankedIndex<never>()
