/**
 * Attachments on the real network: the engine's `BlobExchange` over the WebRTC mesh only (its
 * bulk data channel for chunks; never the relay-forwarded fallback, so the relay carries no
 * blob byte), over the device's `BlobStore` (IndexedDB in the browser).
 *
 * `share` stores the file pinned, announces and pushes it (fanout), then posts the `attachment`
 * event; `fetch` returns bytes only after their SHA-256 matched the stamped digest (the
 * exchange checks downloads on arrival and stored copies once per run). The port wrapper tallies
 * chunk bytes sent and HAVE announcements per digest for the
 * uploader's progress.
 */
import {
  BLOB_FRAME_VERSION,
  type BlobExchange,
  BlobFrameType,
  decodeBlobFrame,
  encodeAttachment,
  fromHex,
  Kind,
  toHex,
} from '@peerchat/engine'
import type { AttachmentInfo } from './attachments.ts'
import { MAX_ATTACHMENT_BYTES, refuseFile } from './attachments.ts'
import type { FetchProgress, MediaClient, Outgoing, PreparedFile, ShareStatus } from './types.ts'

/** How often a fetch in progress reports its chunks (ms). */
export const FETCH_PROGRESS_MS = 150
/** Digests whose spread is tallied (the most recent shares and serves). */
const TALLY_MAX = 256

interface Tally {
  size: number
  sent: number
  holders: Set<string>
}

/** Chunk bytes sent and holders announced, per digest (hex), bounded. */
export class SpreadTally {
  private readonly byDigest = new Map<string, Tally>()

  of(hex: string): Tally | undefined {
    return this.byDigest.get(hex)
  }

  private entry(hex: string, size = 0): Tally {
    let t = this.byDigest.get(hex)
    if (!t) {
      t = { size, sent: 0, holders: new Set() }
      this.byDigest.set(hex, t)
      if (this.byDigest.size > TALLY_MAX) this.byDigest.delete(this.byDigest.keys().next().value!)
    }
    return t
  }

  /** An outgoing frame: CHUNK payloads count towards the blob's upload. */
  sent(bytes: Uint8Array): void {
    if (bytes[0] !== BLOB_FRAME_VERSION || bytes[1] !== BlobFrameType.chunk || bytes.length < 34) return
    this.entry(toHex(bytes.subarray(2, 34))).sent += bytes.length - 34
  }

  /** An incoming frame: HAVE names blobs the sender holds. */
  received(from: string, bytes: Uint8Array): void {
    if (bytes[0] !== BLOB_FRAME_VERSION || bytes[1] !== BlobFrameType.have) return
    try {
      const f = decodeBlobFrame(bytes)
      if (f.type === 'have') for (const d of f.digests) this.byDigest.get(toHex(d))?.holders.add(from)
    } catch {
      // the exchange counts and demotes malformed frames
    }
  }

  /** Starts tallying a blob (only tallied digests record holders). */
  track(hex: string, size: number): void {
    this.entry(hex, size).size = size
  }

  left(peer: string): void {
    for (const t of this.byDigest.values()) t.holders.delete(peer)
  }
}

export interface RealMediaOptions {
  exchange: BlobExchange
  tally: SpreadTally
  /** Connected mesh peers now. */
  connected: () => number
  publish: (channel: string, kind: string, body: Uint8Array) => Promise<Outgoing>
  maxBytes?: number
}

export class RealMedia implements MediaClient {
  readonly maxBytes: number

  constructor(private readonly o: RealMediaOptions) {
    this.maxBytes = o.maxBytes ?? MAX_ATTACHMENT_BYTES
  }

  async share(channel: string, file: PreparedFile): Promise<{ outgoing: Outgoing; digest: string }> {
    const refused = refuseFile(file.name, file.bytes.length, this.maxBytes)
    if (refused) throw new RangeError(refused)
    // Stored pinned and announced first: an offer that outruns the stamp is kept by receivers.
    const described = await this.o.exchange.publish(file.bytes, { pinned: true })
    const digest = toHex(described.digest)
    this.o.tally.track(digest, described.size)
    const body = encodeAttachment({
      digest: described.digest,
      size: described.size,
      chunkRoot: described.chunkRoot,
      mime: file.mime,
      name: file.name,
      ...(file.width && file.height ? { width: file.width, height: file.height } : {}),
      ...(file.thumbnail ? { thumbnail: file.thumbnail } : {}),
    })
    return { outgoing: await this.o.publish(channel, Kind.attachment, body), digest }
  }

  shareStatus(digest: string): ShareStatus | undefined {
    if (!this.o.exchange.holds(fromHex(digest))) return undefined
    const t = this.o.tally.of(digest)
    return {
      sent: t?.sent ?? 0,
      size: t?.size ?? 0,
      peers: t?.holders.size ?? 0,
      connected: this.o.connected(),
    }
  }

  holds(digest: string): boolean {
    return this.o.exchange.holds(fromHex(digest))
  }

  async fetch(
    a: AttachmentInfo,
    opts: { signal?: AbortSignal; onProgress?: (p: FetchProgress) => void } = {},
  ): Promise<Uint8Array> {
    const meta = { digest: a.digest, size: a.size, chunkRoot: a.chunkRoot }
    this.o.tally.track(a.id, a.size)
    const timer = opts.onProgress
      ? setInterval(() => {
          const p = this.o.exchange.progress(a.digest)
          if (p) opts.onProgress?.(p)
        }, FETCH_PROGRESS_MS)
      : undefined
    try {
      // The exchange returns only bytes that match the stamped digest, downloaded or stored.
      return await this.o.exchange.fetch(meta, opts.signal)
    } finally {
      clearInterval(timer)
    }
  }
}
