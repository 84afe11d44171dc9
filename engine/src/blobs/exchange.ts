/**
 * The blob exchange: announce, push and pull of content-addressed blobs over a mesh port
 * (docs/protocol/blobs.md). One instance per peer; the pure parts live beside it
 * (`Transfer`, `rankSources`, `planEviction`), this class does the IO and the timers.
 *
 * - Announce: a peer that holds a blob tells its peers (HAVE), and tells every new peer the
 *   digests it holds (at most `maxAnnounce`, most recent first).
 * - Push: the uploader, and every peer that completes a download, OFFERs the blob to
 *   `fanout` random peers that have not announced it (real clients first). A peer that has
 *   it answers HAVE, a peer already downloading it answers NO busy: bytes move only to a
 *   peer that asked for them.
 * - Pull: a receiver asks one source at a time for the manifest, then for chunks (a window of
 *   `window` chunks), checking each against the signed stamp. A source that fails is
 *   replaced (chunks held are kept); one that lies is banned and demoted. `want(meta)`
 *   pulls by itself after `pullDelayMs` if no push arrived; `fetch(meta)` pulls at once.
 */
import { toHex } from '../bytes.ts'
import { DecodeError, LimitError, RejectedError } from '../errors.ts'
import type { MeshPort } from '../mesh/port.ts'
import { Protocol, protocolPort } from '../mesh/protocol.ts'
import { DEFAULT_BLOB_BUDGET_BYTES, planEviction } from './budget.ts'
import { type BlobFrame, decodeBlobFrame, encodeBlobFrame, MAX_HAVE_DIGESTS, NoReason } from './frames.ts'
import {
  type BlobMeta,
  blobMatches,
  CHUNK_BYTES,
  checkMeta,
  chunkCount,
  chunkHashes,
  DEFAULT_MAX_ATTACHMENT_BYTES,
  type DescribedBlob,
  describeBlob,
} from './manifest.ts'
import type { BlobDigest, BlobStore } from './store.ts'
import { rankSources, Transfer } from './transfer.ts'

/** A mesh port; chunks and manifests go on `sendBulk` when the transport has a bulk lane. */
export type BlobPort = MeshPort

/** Time for the exchange (the transports' `Scheduler` fits). */
export interface BlobClock {
  now(): number
  setTimeout(fn: () => void, ms: number): () => void
  /** Registers async work (a virtual clock waits for it). */
  track?<T>(work: Promise<T>): Promise<T>
}

const realClock: BlobClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    return () => clearTimeout(t)
  },
}

export interface BlobExchangeOptions {
  store: BlobStore
  port: BlobPort
  clock?: BlobClock
  /** Uniform in [0, 1): push targets and source ties. */
  random?: () => number
  /** Peers a holder offers each blob to (0: never push; virtual clients). Default 3. */
  fanout?: number
  /** Largest attachment accepted or published. Default `DEFAULT_MAX_ATTACHMENT_BYTES`. */
  maxAttachmentBytes?: number
  /** Bytes the store may hold; unpinned blobs are evicted, least recently used first. */
  budgetBytes?: number
  /** Chunks in flight per download. Default 16. */
  window?: number
  /** A source silent this long (ms) is replaced. Default 5,000. */
  requestTimeoutMs?: number
  /** An offer unanswered this long (ms) is given up. Default 5,000. */
  offerTimeoutMs?: number
  /** `want(meta)` pulls after this delay (ms) if no push started. Default 2,000. */
  pullDelayMs?: number
  /** Downloads at once. Default 4. */
  maxDownloads?: number
  /** (peer, blob) pairs served at once; more get NO busy. Default 4. */
  maxUploads?: number
  /**
   * A download without a source waits this long (ms) for a real client to announce the
   * blob before it asks a virtual client. Default 1,000.
   */
  virtualDelayMs?: number
  /** Metas remembered (the oldest are forgotten first). Default 4,096. */
  maxKnown?: number
  /** Digests remembered per remote peer. Default 4,096. */
  maxPeerDigests?: number
  /** Digests announced to a new peer. Default 256. */
  maxAnnounce?: number
}

export const BlobDefaults = {
  fanout: 3,
  maxAttachmentBytes: DEFAULT_MAX_ATTACHMENT_BYTES,
  budgetBytes: DEFAULT_BLOB_BUDGET_BYTES,
  window: 16,
  requestTimeoutMs: 5_000,
  offerTimeoutMs: 5_000,
  pullDelayMs: 2_000,
  maxDownloads: 4,
  maxUploads: 4,
  virtualDelayMs: 1_000,
  maxKnown: 4_096,
  maxPeerDigests: 4_096,
  maxAnnounce: 256,
} as const

/** GETs a peer may have being read from the store at once; more are dropped. */
const MAX_PENDING_GETS_PER_PEER = 8
/** Downloads waiting or running at once; `fetch` beyond it throws `LimitError`. */
export const MAX_QUEUED_DOWNLOADS = 256
/** Times a holder that served its share turns one requester away (then it serves). */
const MAX_DEFERRALS = 3
/** Offers remembered while their stamp has not arrived. */
const MAX_EARLY_OFFERS = 256
/** Manifests kept computed for serving. */
const MANIFEST_CACHE = 32
/** Score lost by a peer that sent bad data, and by one that timed out. */
const BAD_DATA_PENALTY = 10
const TIMEOUT_PENALTY = 1

export interface BlobStats {
  /** Wire bytes of every blob frame sent, and how many frames. */
  bytesSent: number
  framesSent: number
  /** Chunk payload bytes sent and accepted. */
  chunkBytesSent: number
  chunkBytesReceived: number
  /** Chunk payload bytes received that were not needed (duplicates, late, unrequested). */
  chunkBytesWasted: number
  offersSent: number
  badFrames: number
  badChunks: number
  badManifests: number
  badBlobs: number
  completed: number
}

interface Download {
  transfer: Transfer
  /** When the download last found itself without a source (virtual clients wait for it). */
  idleSince?: number
  /** The current source's pace: time of its last chunk and the average gap between chunks. */
  pace?: { source: string; at: number; gap: number | undefined }
  /** Waiting for a free slot (`maxDownloads`). */
  parked: boolean
  /** When every candidate has failed once, the time to try them again. */
  retryAt?: number
  cancelTimer?: () => void
  waiters: { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void }[]
}

interface Push {
  accepted: number
  pending: Map<string, () => void>
  tried: Set<string>
}

type Hex = string

export class BlobExchange {
  readonly stats: BlobStats = {
    bytesSent: 0,
    framesSent: 0,
    chunkBytesSent: 0,
    chunkBytesReceived: 0,
    chunkBytesWasted: 0,
    offersSent: 0,
    badFrames: 0,
    badChunks: 0,
    badManifests: 0,
    badBlobs: 0,
    completed: 0,
  }
  private readonly o: Required<Omit<BlobExchangeOptions, 'store' | 'port' | 'clock' | 'random'>>
  private readonly store: BlobStore
  private readonly port: BlobPort
  private readonly clock: BlobClock
  private readonly random: () => number
  /** Metas from stamps, insertion-ordered for eviction. */
  private readonly known = new Map<Hex, BlobMeta>()
  /** Digests held, with their size, most recently added last. */
  private readonly held = new Map<Hex, number>()
  /** Held digests whose stored bytes were hashed this run (each stored copy is checked once). */
  private readonly verified = new Set<Hex>()
  /** What each connected peer announced. */
  private readonly peerHas = new Map<string, Set<Hex>>()
  private readonly scores = new Map<string, number>()
  private readonly downloads = new Map<Hex, Download>()
  /** Downloads verified and being written to the store. */
  private readonly storing = new Map<Hex, Promise<unknown>>()
  private readonly pushes = new Map<Hex, Push>()
  private readonly pulls = new Map<Hex, () => void>()
  /** (peer, digest) pairs served recently, with the time of the last request. */
  private readonly uploads = new Map<string, number>()
  private readonly pendingGets = new Map<string, number>()
  /** Peers served each recent blob, and requesters already turned away once. */
  private readonly served = new Map<Hex, Set<string>>()
  private readonly deferred = new Map<string, number>()
  /** Offers that arrived before their stamp, by digest. */
  private readonly early = new Map<Hex, string>()
  private readonly manifests = new Map<Hex, Uint8Array[]>()
  /** Digests whose stamp lied (the whole did not match): never fetched again. */
  private readonly rejected = new Set<Hex>()
  /** Chunk bytes served per digest (as many digests as `known`). */
  private readonly uploaded = new Map<Hex, number>()
  private unsubscribe: (() => void)[] = []
  private running = false

  constructor(opts: BlobExchangeOptions) {
    this.store = opts.store
    // The exchange speaks its own protocol on the port, beside sync and whatever else shares it.
    this.port = protocolPort(opts.port, Protocol.blobs)
    this.clock = opts.clock ?? realClock
    this.random = opts.random ?? Math.random
    const { store: _s, port: _p, clock: _c, random: _r, ...rest } = opts
    this.o = {
      ...BlobDefaults,
      ...(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as typeof rest),
    }
    if (this.o.maxAttachmentBytes > 256 * 1024 * 1024)
      throw new RangeError('maxAttachmentBytes exceeds MAX_BLOB_BYTES')
  }

  get self(): string {
    return this.port.self
  }

  async start(): Promise<void> {
    if (this.running) return
    this.running = true
    for (const info of await this.store.list()) this.held.set(toHex(info.digest), info.size)
    const offEvict = this.store.onEvict?.((digest) => this.forget(digest))
    this.unsubscribe = [
      ...(offEvict ? [offEvict] : []),
      this.port.on('peer-joined', ({ peer }) => this.onJoined(peer)),
      this.port.on('peer-left', ({ peer }) => this.onLeft(peer)),
      this.port.on('frame', ({ from, bytes }) => this.onBytes(from, bytes)),
    ]
    for (const peer of this.port.peers().keys()) this.onJoined(peer)
  }

  /** Idempotent: unsubscribes, cancels every timer, rejects pending fetches. */
  stop(): void {
    if (!this.running) return
    this.running = false
    for (const u of this.unsubscribe) u()
    this.unsubscribe = []
    for (const d of this.downloads.values()) {
      d.cancelTimer?.()
      for (const w of d.waiters) w.reject(new Error('blob exchange stopped'))
    }
    this.downloads.clear()
    for (const p of this.pushes.values()) for (const cancel of p.pending.values()) cancel()
    this.pushes.clear()
    for (const cancel of this.pulls.values()) cancel()
    this.pulls.clear()
    this.peerHas.clear()
    this.early.clear()
    this.uploads.clear()
    this.pendingGets.clear()
  }

  /** The store dropped this blob on its own: no longer held, announced or served. */
  forget(digest: BlobDigest): void {
    const hex = toHex(digest)
    this.held.delete(hex)
    this.verified.delete(hex)
    this.manifests.delete(hex)
  }

  /** Whether this peer holds the blob. */
  holds(digest: BlobDigest): boolean {
    return this.held.has(toHex(digest))
  }

  /**
   * How far a blob has spread, for an uploader's progress: the chunk bytes this peer served of
   * it, and how many connected peers announced holding it. Undefined for a digest never stamped
   * or published here (or long forgotten).
   */
  spread(digest: BlobDigest): { size: number; sent: number; holders: number } | undefined {
    const hex = toHex(digest)
    const meta = this.known.get(hex)
    if (!meta) return undefined
    let holders = 0
    for (const has of this.peerHas.values()) if (has.has(hex)) holders++
    return { size: meta.size, sent: this.uploaded.get(hex) ?? 0, holders }
  }

  /** Chunks held of a download in progress (for progress bars), or undefined. */
  progress(digest: BlobDigest): { held: number; count: number } | undefined {
    const t = this.downloads.get(toHex(digest))?.transfer
    return t && { held: t.heldChunks, count: t.count }
  }

  /** Number of timers and downloads alive (0 after `stop`). */
  get activity(): number {
    return this.downloads.size + this.pushes.size + this.pulls.size
  }

  /**
   * Stores a new blob (pinned: it is the user's own), announces it and pushes it to
   * `fanout` peers. Returns what the attachment stamp must carry.
   */
  async publish(bytes: Uint8Array, opts: { pinned?: boolean } = {}): Promise<DescribedBlob> {
    if (bytes.length > this.o.maxAttachmentBytes)
      throw new LimitError(
        `attachment of ${bytes.length} bytes exceeds ${this.o.maxAttachmentBytes}`,
        'maxAttachmentBytes',
      )
    const described = describeBlob(bytes)
    const hex = toHex(described.digest)
    this.remember(hex, described)
    this.cacheManifest(hex, described.hashes)
    await this.keep(described, bytes, opts.pinned ?? true)
    return described
  }

  /**
   * Registers a stamped attachment this peer wants: pushes of it are accepted, and if none
   * started within `pullDelayMs` it is pulled from the peers that announced it.
   */
  want(meta: BlobMeta): void {
    const hex = this.remember(toHex(checkMeta(meta).digest), meta)
    if (
      !this.running ||
      this.held.has(hex) ||
      this.storing.has(hex) ||
      this.downloads.has(hex) ||
      this.pulls.has(hex)
    )
      return
    if (meta.size > this.o.maxAttachmentBytes || this.rejected.has(hex)) return
    const offerer = this.early.get(hex)
    this.early.delete(hex)
    if (offerer !== undefined && this.peerHas.has(offerer) && this.activeDownloads() < this.o.maxDownloads) {
      this.startDownload(meta, offerer)
      return
    }
    const cancel = this.clock.setTimeout(() => {
      this.pulls.delete(hex)
      if (
        this.running &&
        !this.held.has(hex) &&
        !this.storing.has(hex) &&
        !this.downloads.has(hex) &&
        this.downloads.size < MAX_QUEUED_DOWNLOADS
      )
        this.startDownload(meta, undefined)
    }, this.o.pullDelayMs)
    this.pulls.set(hex, cancel)
  }

  /** The blob's bytes, pulled now from the peers that announced it if not held. */
  async fetch(meta: BlobMeta, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted()
    const hex = this.remember(toHex(checkMeta(meta).digest), meta)
    await this.storing.get(hex)
    if (this.held.has(hex)) {
      // A store keeps bytes, it does not vouch for them: what `fetch` returns always matches the
      // stamp (downloads were checked on arrival; a damaged stored copy is dropped and fetched again).
      const bytes = await this.store.get(meta.digest)
      if (bytes && (this.verified.has(hex) || blobMatches(meta, bytes))) {
        this.verified.add(hex)
        await this.store.touch(meta.digest, this.clock.now())
        return bytes
      }
      if (bytes) await this.store.delete(meta.digest)
      this.held.delete(hex)
      this.verified.delete(hex)
    }
    if (meta.size > this.o.maxAttachmentBytes)
      throw new LimitError(
        `attachment of ${meta.size} bytes exceeds ${this.o.maxAttachmentBytes}`,
        'maxAttachmentBytes',
      )
    if (this.rejected.has(hex))
      throw new RejectedError('digest-mismatch', 'the blob does not match its stamp')
    if (!this.running) throw new Error('blob exchange is not running')
    if (!this.downloads.has(hex) && this.downloads.size >= MAX_QUEUED_DOWNLOADS)
      throw new LimitError(`more than ${MAX_QUEUED_DOWNLOADS} downloads queued`, 'maxQueuedDownloads')
    const download = this.downloads.get(hex) ?? this.startDownload(meta, undefined)
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject }
      download.waiters.push(waiter)
      signal?.addEventListener('abort', () => {
        download.waiters = download.waiters.filter((w) => w !== waiter)
        reject(signal.reason)
      })
    })
  }

  // --- incoming ------------------------------------------------------------------------

  private onBytes(from: string, bytes: Uint8Array): void {
    let frame: BlobFrame
    try {
      frame = decodeBlobFrame(bytes)
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e
      this.stats.badFrames++
      this.demote(from, TIMEOUT_PENALTY)
      return
    }
    this.onFrame(from, frame)
  }

  private onFrame(from: string, f: BlobFrame): void {
    switch (f.type) {
      case 'have':
        for (const d of f.digests) this.onHave(from, toHex(d))
        return
      case 'offer':
        this.onOffer(from, f.digest)
        return
      case 'no':
        this.onNo(from, toHex(f.digest), f.reason)
        return
      case 'getManifest':
        this.track(this.serveManifest(from, f.digest))
        return
      case 'get':
        this.track(this.serveChunks(from, f.digest, f.first, f.count))
        return
      case 'manifest':
        this.onManifest(from, toHex(f.digest), f.hashes)
        return
      case 'chunk':
        this.onChunk(from, toHex(f.digest), f.index, f.data)
        return
    }
  }

  /** Records that `from` holds `hex`; false if `from` is not a connected peer. */
  private noteHas(from: string, hex: Hex): boolean {
    const set = this.peerHas.get(from)
    if (!set) return false
    set.add(hex)
    if (set.size > this.o.maxPeerDigests) set.delete(set.values().next().value!)
    return true
  }

  private onHave(from: string, hex: Hex): void {
    if (!this.noteHas(from, hex)) return
    this.uploads.delete(`${hex}:${from}`) // it completed: its upload slot is free
    this.settleOffer(from, hex, false)
    const d = this.downloads.get(hex)
    if (d && d.transfer.source === undefined) this.drive(hex)
  }

  private onOffer(from: string, digest: BlobDigest): void {
    const hex = toHex(digest)
    if (!this.noteHas(from, hex)) return
    if (this.held.has(hex)) return void this.sendFrame(from, { type: 'have', digests: [digest] })
    if (this.storing.has(hex)) return void this.sendFrame(from, { type: 'no', digest, reason: NoReason.busy })
    const meta = this.known.get(hex)
    if (!meta) {
      // The offer outran the stamp (both left the uploader at once): `want` takes it up.
      this.early.delete(hex)
      this.early.set(hex, from)
      if (this.early.size > MAX_EARLY_OFFERS) this.early.delete(this.early.keys().next().value!)
      return
    }
    if (meta.size > this.o.maxAttachmentBytes || this.rejected.has(hex))
      return void this.sendFrame(from, { type: 'no', digest, reason: NoReason.unwanted })
    const d = this.downloads.get(hex)
    if (d) {
      if (d.parked || d.transfer.source !== undefined || d.transfer.banned.has(from))
        return void this.sendFrame(from, { type: 'no', digest, reason: NoReason.busy })
      d.transfer.setSource(from)
      this.drive(hex)
      return
    }
    if (this.activeDownloads() >= this.o.maxDownloads)
      return void this.sendFrame(from, { type: 'no', digest, reason: NoReason.busy })
    this.startDownload(meta, from)
  }

  private onNo(from: string, hex: Hex, reason: NoReason): void {
    this.settleOffer(from, hex, false)
    const d = this.downloads.get(hex)
    if (d && d.transfer.source === from) {
      if (reason === NoReason.absent) this.peerHas.get(from)?.delete(hex)
      d.transfer.failSource(false)
      this.drive(hex)
    }
  }

  private onManifest(from: string, hex: Hex, hashes: Uint8Array[]): void {
    const d = this.downloads.get(hex)
    if (!d || d.transfer.source !== from) return
    const verdict = d.transfer.acceptManifest(hashes)
    if (verdict === 'bad') {
      this.stats.badManifests++
      this.demote(from, BAD_DATA_PENALTY)
      d.transfer.failSource(true)
    } else if (verdict === 'ok') this.armTimer(hex, d)
    this.drive(hex)
  }

  private onChunk(from: string, hex: Hex, index: number, data: Uint8Array): void {
    const d = this.downloads.get(hex)
    const verdict = d ? d.transfer.acceptChunk(from, index, data) : 'unexpected'
    if (verdict !== 'ok') this.stats.chunkBytesWasted += data.length
    if (!d) return
    if (verdict === 'ok') {
      this.stats.chunkBytesReceived += data.length
      if (d.transfer.source === from) {
        this.notePace(d, from)
        this.armTimer(hex, d)
      }
    } else if (verdict === 'bad') {
      this.stats.badChunks++
      this.demote(from, BAD_DATA_PENALTY)
      if (d.transfer.source === from) d.transfer.failSource(true)
      else d.transfer.banned.add(from)
    }
    if (d.transfer.complete) {
      this.finish(hex, d)
      return
    }
    if (d.transfer.source === from || verdict === 'bad') this.drive(hex)
  }

  // --- downloading -----------------------------------------------------------------------

  private startDownload(meta: BlobMeta, source: string | undefined): Download {
    const hex = toHex(meta.digest)
    this.pulls.get(hex)?.()
    this.pulls.delete(hex)
    // Beyond `maxDownloads` a download waits its turn (parked), its waiters with it.
    const parked = this.activeDownloads() >= this.o.maxDownloads
    const d: Download = { transfer: new Transfer(meta, this.o.window), waiters: [], parked }
    this.downloads.set(hex, d)
    if (source !== undefined && !parked) d.transfer.setSource(source)
    this.drive(hex)
    return d
  }

  private activeDownloads(): number {
    let n = 0
    for (const d of this.downloads.values()) if (!d.parked) n++
    return n
  }

  /** A download ended: the oldest parked one starts. */
  private unpark(): void {
    for (const [hex, d] of this.downloads)
      if (d.parked) {
        d.parked = false
        this.drive(hex)
        return
      }
  }

  /** Moves a download forward: picks a source if it has none, asks for what is missing. */
  private drive(hex: Hex): void {
    const d = this.downloads.get(hex)
    if (!d || d.parked || !this.running) return
    const t = d.transfer
    if (t.complete) {
      this.finish(hex, d)
      return
    }
    if (t.source === undefined) {
      const now = this.clock.now()
      d.idleSince ??= now
      const candidates = this.candidates(hex)
      const best = rankSources(t, candidates, this.random)[0]
      if (best === undefined) {
        d.cancelTimer?.()
        d.cancelTimer = undefined
        return // idle until someone announces or offers it
      }
      // A real client may still announce it: virtual clients wait `virtualDelayMs`.
      let wait = candidates.find((c) => c.peer === best)?.virtual
        ? d.idleSince + this.o.virtualDelayMs - now
        : 0
      if ((t.failures.get(best) ?? 0) > 0) {
        // Every candidate failed (busy, silent) at least once: pause before going round again.
        d.retryAt ??= now + this.o.requestTimeoutMs * (0.25 + this.random() * 0.25)
        wait = Math.max(wait, d.retryAt - now)
      }
      if (wait > 0) {
        this.armTimer(hex, d, wait)
        return
      }
      d.retryAt = undefined
      t.setSource(best)
    }
    d.idleSince = undefined
    const source = t.source!
    const digest = t.meta.digest
    if (t.takeManifestRequest()) this.sendFrame(source, { type: 'getManifest', digest })
    for (const g of t.nextGets()) this.sendFrame(source, { type: 'get', digest, ...g })
    if (d.cancelTimer === undefined) this.armTimer(hex, d)
  }

  private candidates(hex: Hex): { peer: string; virtual: boolean; score: number }[] {
    const peers = this.port.peers()
    const out: { peer: string; virtual: boolean; score: number }[] = []
    for (const [peer, has] of this.peerHas)
      if (has.has(hex))
        out.push({ peer, virtual: peers.get(peer)?.kind === 'virtual', score: this.scores.get(peer) ?? 0 })
    return out
  }

  /**
   * Tracks the gaps between a source's chunks (moving average): a source that shares its
   * upload among several peers sends in bursts, and must not be taken for silent.
   */
  private notePace(d: Download, from: string): void {
    const now = this.clock.now()
    if (d.pace?.source === from) {
      const gap = now - d.pace.at
      const avg = d.pace.gap === undefined ? gap : 0.8 * d.pace.gap + 0.2 * gap
      // a gap as long as the timeout is a loss being recovered, not the source's pace
      d.pace = { source: from, at: now, gap: gap < this.o.requestTimeoutMs ? avg : d.pace.gap }
    } else d.pace = { source: from, at: now, gap: undefined }
  }

  /**
   * How long the source may stay silent: `requestTimeoutMs`, or twice a window at its pace,
   * at most four timeouts.
   */
  private silenceMs(d: Download): number {
    const gap = d.pace?.source === d.transfer.source ? (d.pace?.gap ?? 0) : 0
    const t = this.o.requestTimeoutMs
    return Math.min(4 * t, Math.max(t, 2 * this.o.window * gap))
  }

  private armTimer(hex: Hex, d: Download, ms = this.silenceMs(d)): void {
    d.cancelTimer?.()
    d.cancelTimer = this.clock.setTimeout(() => {
      d.cancelTimer = undefined
      if (this.downloads.get(hex) !== d) return
      const t = d.transfer
      if (t.source !== undefined && t.sourceDelivered)
        t.retryInflight() // alive but lossy: ask again
      else {
        if (t.source !== undefined) this.demote(t.source, TIMEOUT_PENALTY)
        t.failSource(false)
      }
      this.drive(hex)
    }, ms)
  }

  private finish(hex: Hex, d: Download): void {
    d.cancelTimer?.()
    this.downloads.delete(hex)
    this.unpark()
    const bytes = d.transfer.assemble()
    if (!bytes) {
      // Every chunk matched the manifest, the manifest matched the stamp, yet the whole does
      // not: the stamp itself is inconsistent. Discard it and demote whoever served it.
      this.stats.badBlobs++
      this.rejected.add(hex)
      for (const p of d.transfer.contributors) this.demote(p, BAD_DATA_PENALTY)
      for (const w of d.waiters)
        w.reject(new RejectedError('digest-mismatch', 'the blob does not match its stamp'))
      return
    }
    this.stats.completed++
    this.cacheManifest(hex, d.transfer.hashes!) // it serves the blob next: no re-read, no re-hash
    const stored = this.keep(d.transfer.meta, bytes, false).finally(() => this.storing.delete(hex))
    this.storing.set(
      hex,
      stored.catch(() => undefined),
    )
    this.track(
      stored.then(
        () => {
          for (const w of d.waiters) w.resolve(bytes)
        },
        (e: unknown) => {
          for (const w of d.waiters) w.reject(e)
        },
      ),
    )
  }

  /** Stores a verified blob within the budget, then announces and pushes it. */
  private async keep(meta: BlobMeta, bytes: Uint8Array, pinned: boolean): Promise<void> {
    const hex = toHex(meta.digest)
    const fits = (await this.store.usage()).bytes + bytes.length <= this.o.budgetBytes
    const plan = fits
      ? { fits, evict: [] }
      : planEviction(await this.store.list(), this.o.budgetBytes, bytes.length)
    if (!plan.fits) throw new LimitError('pinned blobs fill the storage budget', 'budgetBytes')
    for (const digest of plan.evict) {
      await this.store.delete(digest)
      this.held.delete(toHex(digest))
      this.verified.delete(toHex(digest))
    }
    await this.store.put(meta.digest, bytes, { pinned, usedAt: this.clock.now() })
    this.held.set(hex, bytes.length)
    this.verified.add(hex)
    if (!this.running) return
    for (const peer of this.port.peers().keys())
      this.sendFrame(peer, { type: 'have', digests: [meta.digest] })
    if (this.o.fanout > 0) {
      this.pushes.set(hex, { accepted: 0, pending: new Map(), tried: new Set() })
      this.pushMore(hex)
    }
  }

  // --- pushing ---------------------------------------------------------------------------

  /** Offers the blob to random peers that lack it until `fanout` accepted (real clients first). */
  private pushMore(hex: Hex): void {
    const push = this.pushes.get(hex)
    if (!push || !this.running) return
    const digest = this.known.get(hex)?.digest
    while (digest && push.accepted + push.pending.size < this.o.fanout) {
      const target = this.pushTarget(hex, push)
      if (target === undefined) break
      push.tried.add(target)
      push.pending.set(
        target,
        this.clock.setTimeout(() => {
          push.pending.delete(target)
          this.pushMore(hex)
        }, this.o.offerTimeoutMs),
      )
      this.stats.offersSent++
      this.sendFrame(target, { type: 'offer', digest })
    }
    if (push.accepted >= this.o.fanout || push.pending.size === 0) {
      for (const cancel of push.pending.values()) cancel()
      this.pushes.delete(hex)
    }
  }

  private pushTarget(hex: Hex, push: Push): string | undefined {
    const real: string[] = []
    const virtual: string[] = []
    for (const [peer, info] of this.port.peers()) {
      const announced = this.peerHas.get(peer)
      if (!announced || announced.has(hex) || push.tried.has(peer)) continue
      ;(info.kind === 'virtual' ? virtual : real).push(peer)
    }
    const pool = real.length > 0 ? real : virtual
    return pool.length === 0 ? undefined : pool[Math.floor(this.random() * pool.length)]
  }

  /** A request for `hex` from a peer we offered it to: the offer was accepted. */
  private noteAccepted(from: string, hex: Hex): void {
    this.settleOffer(from, hex, true)
  }

  /** An offer of `hex` to `peer` is answered (or moot): stop its timer, offer to the next peer. */
  private settleOffer(peer: string, hex: Hex, accepted: boolean): void {
    const push = this.pushes.get(hex)
    const pending = push?.pending.get(peer)
    if (!push || !pending) return
    pending()
    push.pending.delete(peer)
    if (accepted) push.accepted++
    this.pushMore(hex)
  }

  // --- serving ---------------------------------------------------------------------------

  /** Admits serving (peer, blob): at most `maxUploads` pairs active within the request timeout. */
  private admitUpload(peer: string, hex: Hex): boolean {
    const now = this.clock.now()
    for (const [k, at] of this.uploads) if (now - at > this.o.requestTimeoutMs) this.uploads.delete(k)
    const key = `${hex}:${peer}`
    if (!this.uploads.has(key)) {
      if (this.uploads.size >= this.o.maxUploads || this.defer(peer, hex)) return false
      const served = this.served.get(hex) ?? new Set()
      this.served.delete(hex)
      this.served.set(hex, served.add(peer))
      if (this.served.size > MANIFEST_CACHE) this.served.delete(this.served.keys().next().value!)
    }
    this.uploads.delete(key)
    this.uploads.set(key, now)
    return true
  }

  /**
   * Spreads the load: a peer that already served `fanout` copies of a blob (one, for a
   * virtual client) turns a new requester away with NO busy, up to `MAX_DEFERRALS` times,
   * while another connected peer announced the blob; the requester tries the others first
   * and, if it keeps coming back, is served. So the uploader sends about `fanout` copies and
   * a virtual client rarely serves.
   */
  private defer(peer: string, hex: Hex): boolean {
    const served = this.served.get(hex)
    if (!served || served.has(peer) || served.size < Math.max(1, this.o.fanout)) return false
    const key = `${hex}:${peer}`
    const times = this.deferred.get(key) ?? 0
    if (times >= MAX_DEFERRALS) return false
    for (const [other, has] of this.peerHas)
      if (other !== peer && has.has(hex)) {
        this.deferred.delete(key)
        this.deferred.set(key, times + 1)
        if (this.deferred.size > this.o.maxPeerDigests)
          this.deferred.delete(this.deferred.keys().next().value!)
        return true
      }
    return false
  }

  private async serveManifest(from: string, digest: BlobDigest): Promise<void> {
    const hex = toHex(digest)
    this.noteAccepted(from, hex)
    if (!this.held.has(hex)) return void this.sendFrame(from, { type: 'no', digest, reason: NoReason.absent })
    if (!this.admitUpload(from, hex))
      return void this.sendFrame(from, { type: 'no', digest, reason: NoReason.busy })
    let hashes = this.manifests.get(hex)
    if (!hashes) {
      const bytes = await this.store.get(digest)
      if (!bytes) return this.lost(from, digest)
      hashes = chunkHashes(bytes)
      this.cacheManifest(hex, hashes)
    }
    this.sendFrame(from, { type: 'manifest', digest, hashes }, true)
  }

  private async serveChunks(from: string, digest: BlobDigest, first: number, count: number): Promise<void> {
    const hex = toHex(digest)
    this.noteAccepted(from, hex)
    const size = this.held.get(hex)
    if (size === undefined) return void this.sendFrame(from, { type: 'no', digest, reason: NoReason.absent })
    if (first + count > chunkCount(size)) {
      this.stats.badFrames++
      return this.demote(from, TIMEOUT_PENALTY)
    }
    const pending = this.pendingGets.get(from) ?? 0
    if (pending >= MAX_PENDING_GETS_PER_PEER) return // the requester's window is far smaller: drop
    if (!this.admitUpload(from, hex))
      return void this.sendFrame(from, { type: 'no', digest, reason: NoReason.busy })
    this.pendingGets.set(from, pending + 1)
    try {
      const bytes = await this.store.read(digest, first * CHUNK_BYTES, count * CHUNK_BYTES)
      if (!bytes) return this.lost(from, digest)
      for (let i = 0; i < count; i++) {
        const data = bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)
        if (this.sendFrame(from, { type: 'chunk', digest, index: first + i, data }, true))
          this.countUpload(hex, data.length)
      }
    } finally {
      const left = (this.pendingGets.get(from) ?? 1) - 1
      if (left > 0) this.pendingGets.set(from, left)
      else this.pendingGets.delete(from)
    }
  }

  /** The store lost a blob we announced (deleted by another path): say so. */
  private lost(from: string, digest: BlobDigest): void {
    this.forget(digest)
    this.sendFrame(from, { type: 'no', digest, reason: NoReason.absent })
  }

  // --- peers -----------------------------------------------------------------------------

  private onJoined(peer: string): void {
    if (this.peerHas.has(peer)) return
    this.peerHas.set(peer, new Set())
    const recent = [...this.held.keys()].slice(-this.o.maxAnnounce).reverse()
    for (let i = 0; i < recent.length; i += MAX_HAVE_DIGESTS) {
      const digests = recent.slice(i, i + MAX_HAVE_DIGESTS).map((hex) => this.digestOf(hex))
      this.sendFrame(peer, { type: 'have', digests })
    }
    for (const hex of this.pushes.keys()) this.pushMore(hex)
    // A new peer may be a real client about to announce what a virtual client offers.
    const now = this.clock.now()
    for (const d of this.downloads.values()) if (d.transfer.source === undefined) d.idleSince = now
  }

  private onLeft(peer: string): void {
    this.peerHas.delete(peer)
    this.pendingGets.delete(peer)
    for (const key of this.uploads.keys()) if (key.endsWith(`:${peer}`)) this.uploads.delete(key)
    for (const hex of [...this.pushes.keys()]) this.settleOffer(peer, hex, false)
    for (const [hex, d] of this.downloads)
      if (d.transfer.source === peer) {
        d.transfer.setSource(undefined)
        this.drive(hex)
      }
  }

  // --- helpers ---------------------------------------------------------------------------

  private sendFrame(peer: string, frame: BlobFrame, bulk = false): boolean {
    const bytes = encodeBlobFrame(frame)
    const ok = bulk && this.port.sendBulk ? this.port.sendBulk(peer, bytes) : this.port.send(peer, bytes)
    if (ok) {
      this.stats.bytesSent += bytes.length
      this.stats.framesSent++
    }
    return ok
  }

  private countUpload(hex: Hex, bytes: number): void {
    this.stats.chunkBytesSent += bytes
    this.uploaded.set(hex, (this.uploaded.get(hex) ?? 0) + bytes)
    if (this.uploaded.size > this.o.maxKnown) this.uploaded.delete(this.uploaded.keys().next().value!)
  }

  private remember(hex: Hex, meta: BlobMeta): Hex {
    if (!this.known.has(hex)) {
      this.known.set(hex, { digest: meta.digest.slice(), size: meta.size, chunkRoot: meta.chunkRoot.slice() })
      if (this.known.size > this.o.maxKnown) this.known.delete(this.known.keys().next().value!)
    }
    return hex
  }

  private digestOf(hex: Hex): BlobDigest {
    const meta = this.known.get(hex)
    if (meta) return meta.digest
    const out = new Uint8Array(hex.length / 2)
    for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)
    return out
  }

  private cacheManifest(hex: Hex, hashes: Uint8Array[]): void {
    this.manifests.set(hex, hashes)
    if (this.manifests.size > MANIFEST_CACHE) this.manifests.delete(this.manifests.keys().next().value!)
  }

  private demote(peer: string, penalty: number): void {
    this.scores.set(peer, (this.scores.get(peer) ?? 0) - penalty)
    if (this.scores.size > this.o.maxPeerDigests) this.scores.delete(this.scores.keys().next().value!)
  }

  private track(work: Promise<void>): void {
    const guarded = work.catch(() => {
      // store failures end the request; the requester times out and moves on
    })
    if (this.clock.track) void this.clock.track(guarded)
  }
}
