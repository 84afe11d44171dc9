/**
 * VirtualClient: a headless peer of last resort, run by a community's owner beside the relay.
 *
 * It holds a rolling window (24 h by default) of every channel the relay lists, in a
 * FileStore, and takes part in sync like any replica: live events from the relay, catch-up
 * from peers when it starts and when peers appear, and answering other peers' sessions. It
 * announces itself as virtual (transports/src/announce.ts) so real clients ask it last; the serving counters
 * show how often it still had to answer.
 *
 * Attachments of the window are kept too: it wants every attachment it stores (live or synced),
 * never pushes (fanout 0), and real peers ask it only when no real client holds the blob.
 */
import { join } from 'node:path'
import {
  BlobExchange,
  decodeAttachment,
  type Identity,
  Kind,
  publicKeyFromText,
  publicKeyToText,
  type StampedEvent,
  ulidTime,
} from '@peerchat/engine'
import { announceVirtual } from '@peerchat/transports/announce'
import { type Connected, connectPeer } from '@peerchat/transports/connect'
import { meshBlobPort } from '@peerchat/transports/webrtc'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import WebSocket from 'ws'
import { VirtualClientDefaults } from './defaults.ts'
import { FileBlobStore } from './file-blob-store.ts'
import { FileStore } from './file-store.ts'
import { loadOrCreateIdentity } from './key-file.ts'
import type { VcCounters } from './metrics.ts'

export { VirtualClientDefaults }

export interface VirtualClientOptions {
  /** The relay's base URL: http(s):// or ws(s)://host:port. */
  relayUrl: string
  /** The relay's public key (text), checked against /.well-known/peerchat.json; trusted from it when omitted. */
  relayKey?: string
  /** Holds the key file (`vc.key`), the event store (`store/`) and the blob store (`blobs/`). */
  dataDir: string
  windowMs?: number
  /** Budget of the blob store (bytes). */
  blobBudgetBytes?: number
  /** Shown in logs and metrics labels. */
  name?: string
  /** Mesh over WebRTC (default true). */
  webrtc?: boolean
  log?: (event: string, fields?: Record<string, unknown>) => void
}

interface WellKnown {
  relayKey: string
  communityRoom?: string
}

/** http(s) and ws(s) forms of the relay's base URL. */
export function relayUrls(url: string): { http: string; ws: string } {
  const u = new URL(url)
  const secure = u.protocol === 'https:' || u.protocol === 'wss:'
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol))
    throw new RangeError(`relay URL must be http(s) or ws(s): ${url}`)
  const base = `${u.host}${u.pathname.replace(/\/+$/, '')}`
  return { http: `${secure ? 'https' : 'http'}://${base}`, ws: `${secure ? 'wss' : 'ws'}://${base}` }
}

/** Reads the relay's well-known JSON, retrying while the relay starts. */
export async function fetchWellKnown(httpBase: string, signal?: AbortSignal): Promise<WellKnown> {
  const end = Date.now() + VirtualClientDefaults.wellKnownTimeoutMs
  for (;;) {
    signal?.throwIfAborted()
    try {
      const res = await fetch(`${httpBase}/.well-known/peerchat.json`, signal ? { signal } : {})
      if (res.ok) {
        const body = (await res.json()) as Partial<WellKnown>
        if (typeof body.relayKey !== 'string') throw new Error('well-known JSON has no relayKey')
        return {
          relayKey: body.relayKey,
          ...(body.communityRoom ? { communityRoom: body.communityRoom } : {}),
        }
      }
    } catch (e) {
      if (signal?.aborted || (e as Error).message.includes('no relayKey')) throw e
    }
    if (Date.now() > end) throw new Error(`relay at ${httpBase} did not answer its well-known JSON`)
    await new Promise((r) => setTimeout(r, VirtualClientDefaults.wellKnownRetryMs))
  }
}

export class VirtualClient {
  /** Channels joined, shared with connectPeer's presence check (it reads the live array). */
  private readonly channels: string[] = []
  private catchUpTimer: ReturnType<typeof setTimeout> | undefined
  private catchingUp: Promise<unknown> = Promise.resolve()
  /** A catch-up completed with some peer; from then on live events keep the window current. */
  private caughtUp = false
  private readonly offs: (() => void)[] = []
  private stopped = false
  private node: Connected | undefined
  private exchange: BlobExchange | undefined

  private constructor(
    readonly name: string,
    readonly identity: Identity,
    readonly store: FileStore,
    /** Attachments held for the window: bytes on disk, an index in memory, filled by the blob exchange. */
    readonly blobs: FileBlobStore,
    private readonly opts: VirtualClientOptions,
  ) {}

  get publicKey(): string {
    return publicKeyToText(this.identity.publicKey)
  }

  get connected(): Connected | undefined {
    return this.node
  }

  static async start(opts: VirtualClientOptions): Promise<VirtualClient> {
    const windowMs = opts.windowMs ?? VirtualClientDefaults.windowMs
    const { identity } = await loadOrCreateIdentity(join(opts.dataDir, 'vc.key'))
    const store = await FileStore.open({ dir: join(opts.dataDir, 'store'), retentionMs: windowMs })
    let blobs: FileBlobStore
    try {
      blobs = await FileBlobStore.open({
        dir: join(opts.dataDir, 'blobs'),
        budgetBytes: opts.blobBudgetBytes ?? VirtualClientDefaults.blobBudgetBytes,
        retentionMs: windowMs,
      })
    } catch (e) {
      await store.close()
      throw e
    }
    const vc = new VirtualClient(opts.name ?? 'vc', identity, store, blobs, opts)
    try {
      await vc.connect(windowMs)
    } catch (e) {
      await vc.stop()
      throw e
    }
    return vc
  }

  private async connect(windowMs: number): Promise<void> {
    const urls = relayUrls(this.opts.relayUrl)
    // Always read: it also names the community room. A given key must match it.
    const known = await fetchWellKnown(urls.http)
    if (this.opts.relayKey && this.opts.relayKey !== known.relayKey)
      throw new Error(`the relay at ${urls.http} presents key ${known.relayKey}, not ${this.opts.relayKey}`)
    const relayKey = known.relayKey
    const node = await connectPeer({
      relayUrl: urls.ws,
      relayKey: publicKeyFromText(relayKey),
      identity: this.identity,
      store: this.store,
      channels: this.channels,
      room: known.communityRoom ?? 'community',
      webrtc: this.opts.webrtc ?? true,
      WebSocket: WebSocket as never,
      ...(this.opts.webrtc === false ? {} : nodeWebrtc()),
      peer: { catchUpSince: () => Date.now() - windowMs },
    })
    this.node = node
    if (node.mesh?.awareness) announceVirtual(node.mesh.awareness, this.publicKey)
    if (node.mesh) {
      // Over the mesh only: attachment bytes never take the relay's forwarded path.
      this.exchange = new BlobExchange({
        store: this.blobs,
        port: meshBlobPort(node.mesh),
        fanout: 0,
        budgetBytes: this.opts.blobBudgetBytes ?? VirtualClientDefaults.blobBudgetBytes,
      })
      await this.exchange.start()
    }
    this.offs.push(
      node.relay.on('welcome', ({ channels }) => void this.joinAll(channels)),
      node.relay.on('channel-added', (c) => void this.joinAll([c])),
    )
    // Only while it never caught up: reconciliation is two-way, so a catch-up started towards a
    // newcomer would hand it history that real clients should serve first.
    if (node.mesh) this.offs.push(node.mesh.on('peer-joined', () => !this.caughtUp && this.scheduleCatchUp()))
    await this.joinAll(node.relay.channels)
    this.opts.log?.('vc.online', { name: this.name, key: this.publicKey, channels: this.channels.length })
  }

  /** Joins channels not yet joined (all the relay lists, and those added later), then catches up. */
  private async joinAll(channels: readonly string[]): Promise<void> {
    const fresh = channels.filter((c) => !this.channels.includes(c))
    if (fresh.length === 0 || !this.node) return
    this.channels.push(...fresh)
    for (const c of fresh) {
      const log = await this.node.peer.open(c)
      this.offs.push(log.onAdded((events) => this.keepAttachments(events)))
    }
    this.node.mesh?.readmit()
    this.scheduleCatchUp()
  }

  /** Wants the blobs of attachments inside the window (live or synced). */
  private keepAttachments(events: readonly StampedEvent[]): void {
    const since = Date.now() - (this.opts.windowMs ?? VirtualClientDefaults.windowMs)
    for (const e of events) {
      if (e.kind !== Kind.attachment || ulidTime(e.id) < since || !this.exchange) continue
      try {
        const { digest, size, chunkRoot } = decodeAttachment(e.body)
        this.exchange.want({ digest, size, chunkRoot })
      } catch {
        // a malformed body names no blob; the log stored a validly signed event, nothing to fetch
      }
    }
  }

  private scheduleCatchUp(): void {
    if (this.stopped) return
    clearTimeout(this.catchUpTimer)
    this.catchUpTimer = setTimeout(() => {
      this.catchingUp = this.catchingUp
        .then(() => this.node?.peer.catchUp())
        .then((reports) => {
          if (reports?.some((r) => r.complete)) this.caughtUp = true
        })
        .catch(() => {})
    }, VirtualClientDefaults.catchUpDebounceMs)
  }

  async counters(): Promise<VcCounters> {
    const peer = this.node?.peer
    let eventsHeld = 0
    for (const c of await this.store.channels()) eventsHeld += await this.store.count(c)
    const blobs = await this.blobs.usage()
    return {
      eventsHeld,
      channels: this.channels.length,
      meshPeers: this.node?.mesh?.peers().size ?? 0,
      servedEvents: peer?.stats.served ?? 0,
      servedBytes: peer?.stats.servedBytes ?? 0,
      syncReports: peer?.reports.length ?? 0,
      fromPeers: peer?.stats.fromPeers ?? 0,
      fromRelay: peer?.stats.fromRelay ?? 0,
      refusedSessions: peer?.stats.refusedSessions ?? 0,
      diskBytes: this.store.diskUsage().reduce((n, u) => n + u.bytes, 0),
      blobsHeld: blobs.count,
      blobBytes: blobs.bytes,
      blobBytesServed: this.exchange?.stats.chunkBytesSent ?? 0,
      blobBytesReceived: this.exchange?.stats.chunkBytesReceived ?? 0,
      rssBytes: process.memoryUsage.rss(),
      heapUsedBytes: process.memoryUsage().heapUsed,
    }
  }

  /** Leaves the relay and the mesh, then closes the store (pending writes complete). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearTimeout(this.catchUpTimer)
    for (const off of this.offs.splice(0)) off()
    this.exchange?.stop()
    await this.node?.stop()
    await this.catchingUp
    await this.store.close()
    await this.blobs.close()
  }
}
