/**
 * Attachments on the real network: the engine's `BlobExchange` over the WebRTC mesh only (its
 * bulk data channel for chunks; never the relay-forwarded fallback, so the relay carries no
 * blob byte), over the device's `BlobStore` (IndexedDB in the browser).
 *
 * `share` stores the file pinned, announces and pushes it (fanout), then posts the `attachment`
 * event; `fetch` returns bytes only after their SHA-256 matched the stamped digest (the
 * exchange checks downloads on arrival and stored copies once per run). The uploader's progress
 * is the exchange's `spread`: chunk bytes served and peers that announced the blob.
 */

import { fromHex, isPrivateChannel, toHex } from '@peerchat/engine'
import type { BlobExchange } from '@peerchat/engine/blobs'
import { encodeAttachment, Kind } from '@peerchat/engine/chat'
import type { BlobSeal } from '@peerchat/engine/mls'
import type { AttachmentInfo } from './attachments.ts'
import { MAX_ATTACHMENT_BYTES, refuseFile } from './attachments.ts'
import type { FetchProgress, MediaClient, Outgoing, PreparedFile, ShareStatus } from './types.ts'

/** How often a fetch in progress reports its chunks (ms). */
export const FETCH_PROGRESS_MS = 150
export interface RealMediaOptions {
  exchange: BlobExchange
  /** Resolves once the exchange holds the stored blobs (it starts with the app, offline). */
  ready?: Promise<void>
  /** Connected mesh peers now. */
  connected: () => number
  publish: (channel: string, kind: string, body: Uint8Array) => Promise<Outgoing>
  maxBytes?: number
  /** The seal of an encrypted conversation's attachment, by blob digest (hex), if one. */
  sealOf?: (digest: string) => BlobSeal | undefined
}

export class RealMedia implements MediaClient {
  readonly maxBytes: number

  constructor(private readonly o: RealMediaOptions) {
    this.maxBytes = o.maxBytes ?? MAX_ATTACHMENT_BYTES
  }

  async share(channel: string, file: PreparedFile): Promise<{ outgoing: Outgoing; digest: string }> {
    const refused = refuseFile(file.name, file.bytes.length, this.maxBytes)
    if (refused) throw new RangeError(refused)
    await this.o.ready
    // In an encrypted conversation the blob is the file sealed with a key of its own, which
    // travels inside the encrypted message: peers and virtual clients keep only ciphertext.
    const mls = isPrivateChannel(channel) ? await import('@peerchat/engine/mls') : undefined
    const sealed = mls ? await mls.sealBlob(file.bytes) : undefined
    // Stored pinned and announced first: an offer that outruns the stamp is kept by receivers.
    const described = await this.o.exchange.publish(sealed?.ciphertext ?? file.bytes, { pinned: true })
    const digest = toHex(described.digest)
    const attachment = encodeAttachment({
      digest: described.digest,
      size: described.size,
      chunkRoot: described.chunkRoot,
      mime: file.mime,
      name: file.name,
      ...(file.width && file.height ? { width: file.width, height: file.height } : {}),
      ...(file.thumbnail ? { thumbnail: file.thumbnail } : {}),
    })
    const outgoing =
      mls && sealed
        ? await this.o.publish(
            channel,
            mls.SEALED_ATTACHMENT_KIND,
            mls.encodeSealedAttachment(sealed.seal, attachment),
          )
        : await this.o.publish(channel, Kind.attachment, attachment)
    return { outgoing, digest }
  }

  shareStatus(digest: string): ShareStatus | undefined {
    const d = fromHex(digest)
    if (!this.o.exchange.holds(d)) return undefined
    const s = this.o.exchange.spread(d)
    return { sent: s?.sent ?? 0, size: s?.size ?? 0, peers: s?.holders ?? 0, connected: this.o.connected() }
  }

  holds(digest: string): boolean {
    return this.o.exchange.holds(fromHex(digest))
  }

  async fetch(
    a: AttachmentInfo,
    opts: { signal?: AbortSignal; onProgress?: (p: FetchProgress) => void } = {},
  ): Promise<Uint8Array> {
    await this.o.ready
    const meta = { digest: a.digest, size: a.size, chunkRoot: a.chunkRoot }
    const timer = opts.onProgress
      ? setInterval(() => {
          const p = this.o.exchange.progress(a.digest)
          if (p) opts.onProgress?.(p)
        }, FETCH_PROGRESS_MS)
      : undefined
    try {
      // The exchange returns only bytes that match the stamped digest, downloaded or stored.
      const bytes = await this.o.exchange.fetch(meta, opts.signal)
      const seal = this.o.sealOf?.(a.id)
      if (!seal) return bytes
      const { openBlob } = await import('@peerchat/engine/mls')
      return await openBlob(bytes, seal)
    } finally {
      clearInterval(timer)
    }
  }
}
