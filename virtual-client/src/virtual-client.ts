/**
 * VirtualClient: a headless peer of last resort, run by a community's owner beside the relay.
 *
 * It holds a rolling window (24 h by default) of every channel the relay lists, in a
 * FileStore, as a `Replica` opened `virtual`: the engine's sync policy catches it up (on
 * login, from peers that appear, until it has caught up once: real clients should serve a
 * newcomer first) and it answers other peers' sessions. It announces itself as virtual
 * (transports/src/announce.ts) so real clients ask it last; the serving counters show how
 * often it still had to answer.
 *
 * Canvases are the exception to the window: a Yjs document needs every update it ever had, so
 * the store keeps `yjs` events however old (`keepCanvasUpdates`) and serves them to whoever asks
 * for an older range; its own catch-up still asks peers for the window only.
 *
 * Attachments of the window are kept too: it wants every attachment it stores (live or synced),
 * never pushes (fanout 0), and real peers ask it only when no real client holds the blob.
 *
 * With `profile` (the CLIs' --profile, on under `pnpm start`) it goes by its `name`: a
 * `profile` event, as members publish their display name (in the `profiles` channel when the
 * relay has one, else its first channel, as the web app does), after its first login and again
 * every half window, so that a profile stays inside the window of history a newcomer catches up.
 */
import { join } from 'node:path'
import {
  type Identity,
  isPrivateChannel,
  KEY_PACKAGE_CHANNEL,
  publicKeyFromText,
  publicKeyToText,
  Replica,
  type StampedEvent,
  ulidTime,
  WELCOME_CHANNEL,
} from '@peerchat/engine'
import { BlobExchange, type BlobMeta } from '@peerchat/engine/blobs'
import { decodeAttachment, encodeProfile, Kind } from '@peerchat/engine/chat'
import { decodeWelcomeEnvelope } from '@peerchat/engine/mls'
import { type EventHeader, FileBlobStore, FileStore, type FileStoreOptions } from '@peerchat/store-file'
import { announceVirtual } from '@peerchat/transports/announce'
import { type Connection, connectReplica } from '@peerchat/transports/connect'
import { meshBlobPort } from '@peerchat/transports/webrtc'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import WebSocket from 'ws'
import { VirtualClientDefaults } from './defaults.ts'
import { loadOrCreateIdentity } from './key-file.ts'
import type { VcCounters } from './metrics.ts'
import { relayUrls } from './relay-url.ts'

export { relayUrls, VirtualClientDefaults }

export interface VirtualClientOptions {
  /**
   * The relay's base URL: http(s):// or ws(s)://host:port; or one per node of the community
   * (same relay key): the relay client fails over between them.
   */
  relayUrl: string | readonly string[]
  /**
   * The relay's public key (text), checked against /.well-known/peerchat.json (of the first node
   * that answers); trusted from it when omitted. Every node must present it (checked at login).
   */
  relayKey?: string
  /** Holds the key file (`vc.key`), the event store (`store/`) and the blob store (`blobs/`). */
  dataDir: string
  windowMs?: number
  /** Budget of the blob store (bytes). */
  blobBudgetBytes?: number
  /** Its name in logs and metrics, and with `profile` its display name for members. */
  name?: string
  /** Publish `name` as its profile (default false: members see a key). */
  profile?: boolean
  /** Mesh over WebRTC (default true). */
  webrtc?: boolean
  log?: (event: string, fields?: Record<string, unknown>) => void
}

interface WellKnown {
  relayKey: string
  communityRoom?: string
}

/**
 * Reads the relay's well-known JSON, retrying while the relay starts; given several nodes, from
 * the first that answers (each is asked in turn, every round).
 */
export async function fetchWellKnown(
  httpBase: string | readonly string[],
  signal?: AbortSignal,
): Promise<WellKnown> {
  const bases = typeof httpBase === 'string' ? [httpBase] : httpBase
  const end = Date.now() + VirtualClientDefaults.wellKnownTimeoutMs
  for (;;) {
    for (const base of bases) {
      signal?.throwIfAborted()
      try {
        const res = await fetch(`${base}/.well-known/peerchat.json`, signal ? { signal } : {})
        if (res.ok) {
          const body = (await res.json()) as Partial<WellKnown>
          if (typeof body.relayKey !== 'string') throw new Error(`well-known JSON of ${base} has no relayKey`)
          return {
            relayKey: body.relayKey,
            ...(body.communityRoom ? { communityRoom: body.communityRoom } : {}),
          }
        }
      } catch (e) {
        if (signal?.aborted || (e as Error).message.includes('no relayKey')) throw e
      }
    }
    if (Date.now() > end) throw new Error(`relay at ${bases.join(', ')} did not answer its well-known JSON`)
    await new Promise((r) => setTimeout(r, VirtualClientDefaults.wellKnownRetryMs))
  }
}

/** Attachments wanted before the mesh (and so the blob exchange) is up; more are left to later syncs. */
export const MAX_EARLY_WANTS = 1024
/** Encrypted groups' channels followed at most (default 10,000): anyone may post Welcomes naming one. */
export const MAX_GROUP_CHANNELS = 10_000
/** Where profiles go when the relay has it (the web app's convention, docs/protocol/ui.md). */
export const PROFILE_CHANNEL = 'profiles'

/**
 * The store's `keep`: canvas updates (`yjs` events) are held outside the window. A Yjs document
 * needs all its updates, and a newcomer whose only peers are virtual clients would otherwise get
 * a broken canvas; they are small and few next to messages.
 */
export function keepCanvasUpdates(event: EventHeader): boolean {
  return event.kind === Kind.yjs
}

/** The event store's options: the rolling window, canvases kept whole. */
export function storeOptions(dataDir: string, windowMs: number): FileStoreOptions {
  return { dir: join(dataDir, 'store'), retentionMs: windowMs, keep: keepCanvasUpdates }
}

/** The channel a profile goes to among the relay's: `profiles` if listed, else the first. */
export function profileChannel(channels: readonly string[]): string | undefined {
  return channels.includes(PROFILE_CHANNEL) ? PROFILE_CHANNEL : channels[0]
}

export class VirtualClient {
  private readonly offs: (() => void)[] = []
  private stopped = false
  private connection: Connection | undefined
  private exchange: BlobExchange | undefined
  /** Attachments seen before the exchange started: wanted once it does. */
  private early: BlobMeta[] = []
  /** The republishing timer of the profile, once the first was queued. */
  private profileTimer: ReturnType<typeof setInterval> | undefined

  private constructor(
    readonly name: string,
    readonly identity: Identity,
    readonly store: FileStore,
    /** Attachments held for the window: bytes on disk, an index in memory, filled by the blob exchange. */
    readonly blobs: FileBlobStore,
    /** The one replica over `store`: it owns sync (catch-up, anti-entropy, serving). */
    readonly replica: Replica,
    private readonly opts: VirtualClientOptions,
  ) {}

  get publicKey(): string {
    return publicKeyToText(this.identity.publicKey)
  }

  /** The relay and mesh links (they come and go underneath; the replica stays). */
  get connected(): Connection | undefined {
    return this.connection
  }

  private get windowMs(): number {
    return this.opts.windowMs ?? VirtualClientDefaults.windowMs
  }

  /**
   * Opens the stores, reads the relay's well-known JSON (retrying while the relay starts) and
   * joins, without waiting for the login: should the relay go away after that, it runs offline
   * from its store and the links come back with the relay.
   */
  static async start(opts: VirtualClientOptions): Promise<VirtualClient> {
    const windowMs = opts.windowMs ?? VirtualClientDefaults.windowMs
    const urls = (typeof opts.relayUrl === 'string' ? [opts.relayUrl] : opts.relayUrl).map(relayUrls)
    if (urls.length === 0) throw new RangeError('relayUrl: at least one relay URL is needed')
    const { identity } = await loadOrCreateIdentity(join(opts.dataDir, 'vc.key'))
    // Always read: it names the relay's key (the replica checks stamps with it) and the room.
    const http = urls.map((u) => u.http)
    const known = await fetchWellKnown(http)
    if (opts.relayKey && opts.relayKey !== known.relayKey)
      throw new Error(`the relay at ${http.join(', ')} presents key ${known.relayKey}, not ${opts.relayKey}`)
    const relayKey = publicKeyFromText(known.relayKey)
    const store = await FileStore.open(storeOptions(opts.dataDir, windowMs))
    let blobs: FileBlobStore | undefined
    let vc: VirtualClient | undefined
    try {
      blobs = await FileBlobStore.open({
        dir: join(opts.dataDir, 'blobs'),
        budgetBytes: opts.blobBudgetBytes ?? VirtualClientDefaults.blobBudgetBytes,
        retentionMs: windowMs,
      })
      // The signer is for its profile only: it writes nothing else.
      const replica = await Replica.open({
        store,
        relayKeys: [relayKey],
        ...(opts.profile ? { signer: identity } : {}),
        virtual: true,
        sync: { windowMs },
      })
      vc = new VirtualClient(opts.name ?? 'vc', identity, store, blobs, replica, opts)
      await vc.connect(
        urls.map((u) => u.ws),
        relayKey,
        known.communityRoom ?? 'community',
      )
      return vc
    } catch (e) {
      if (vc) await vc.stop()
      else {
        await blobs?.close()
        await store.close()
      }
      throw e
    }
  }

  private async connect(relayUrl: readonly string[], relayKey: Uint8Array, room: string): Promise<void> {
    // Stored channels first (Replica.open opened them), then all the relay lists at each login.
    for (const channel of this.replica.channels) await this.follow(channel)
    await this.followGroups()
    const connection = connectReplica(this.replica, {
      relayUrl,
      relayKey,
      identity: this.identity,
      room,
      webrtc: this.opts.webrtc ?? true,
      WebSocket: WebSocket as never,
      ...(this.opts.webrtc === false ? {} : nodeWebrtc()),
    })
    this.connection = connection
    this.offs.push(
      connection.relay.on('welcome', ({ channels }) => {
        void this.joinAll(channels)
        if (this.opts.profile && !this.profileTimer) this.startProfile(channels)
      }),
      connection.relay.on('channel-added', (c) => void this.joinAll([c])),
    )
    // Not awaited: the mesh needs a login, and the client runs without one.
    connection.meshReady
      .then((mesh) => this.meshUp(mesh))
      .catch((e: Error) => this.opts.log?.('vc.error', { name: this.name, error: e.message }))
    this.opts.log?.('vc.started', {
      name: this.name,
      key: this.publicKey,
      channels: this.replica.channels.length,
    })
  }

  /** Announces itself virtual and starts the blob exchange, over the mesh only. */
  private async meshUp(mesh: Connection['mesh']): Promise<void> {
    if (!mesh || this.stopped) return
    if (mesh.awareness) announceVirtual(mesh.awareness, this.publicKey)
    // Over the mesh only: attachment bytes never take the relay's forwarded path.
    const exchange = new BlobExchange({
      store: this.blobs,
      port: meshBlobPort(mesh),
      fanout: 0,
      budgetBytes: this.opts.blobBudgetBytes ?? VirtualClientDefaults.blobBudgetBytes,
    })
    await exchange.start()
    if (this.stopped) return exchange.stop()
    this.exchange = exchange
    for (const meta of this.early.splice(0)) exchange.want(meta)
    this.opts.log?.('vc.meshed', { name: this.name })
  }

  /**
   * Publishes its profile now and every half window (the outbox keeps it until stamped). A
   * relay that refuses it (no post privilege) leaves it unnamed: logged, not fatal.
   */
  private startProfile(channels: readonly string[]): void {
    const publish = (): void => {
      const channel = profileChannel(channels)
      if (!channel || this.stopped) return
      void this.publishProfile(channel).catch((e: Error) =>
        this.opts.log?.('vc.error', { name: this.name, error: `profile: ${e.message}` }),
      )
    }
    this.profileTimer = setInterval(publish, Math.max(60_000, this.windowMs / 2))
    this.profileTimer.unref?.()
    publish()
  }

  private async publishProfile(channel: string): Promise<void> {
    const write = await this.replica.write(channel, Kind.profile, encodeProfile({ name: this.name }))
    await this.replica.stamped(write)
    this.opts.log?.('vc.profile', { name: this.name, channel })
  }

  /** Joins the channels not joined yet (all the relay lists, and those added later). */
  private async joinAll(channels: readonly string[]): Promise<void> {
    const fresh = channels.filter((c) => !this.replica.channels.includes(c))
    for (const c of fresh) if (!this.stopped) await this.follow(c)
    if (fresh.length > 0) this.connection?.mesh?.readmit()
    this.opts.log?.('vc.online', {
      name: this.name,
      key: this.publicKey,
      channels: this.replica.channels.length,
    })
  }

  /**
   * Encrypted groups, as ciphertext (a virtual client is in none): key packages, Welcomes, and
   * every group channel a Welcome names — kept for members who were offline, readable by none here.
   */
  private async followGroups(): Promise<void> {
    if (!this.replica.channels.includes(KEY_PACKAGE_CHANNEL)) await this.follow(KEY_PACKAGE_CHANNEL)
    const off = await this.replica.subscribe(
      WELCOME_CHANNEL,
      (change) => {
        const named = new Set<string>()
        for (const e of change.added) {
          try {
            const { channel } = decodeWelcomeEnvelope(e.body)
            if (isPrivateChannel(channel)) named.add(channel)
          } catch {
            // not a Welcome: it names nothing
          }
        }
        const groups = this.replica.channels.filter(isPrivateChannel).length
        const room = Math.max(0, MAX_GROUP_CHANNELS - groups)
        if (named.size > 0 && room > 0) void this.joinAll([...named].slice(0, room))
      },
      { replay: true },
    )
    this.offs.push(off)
  }

  /** Opens a channel (the replica joins it on the relay and catches it up) and keeps its attachments. */
  private async follow(channel: string): Promise<void> {
    const off = await this.replica.subscribe(channel, (change) => this.keepAttachments(change.added), {
      replay: false,
    })
    this.offs.push(off)
  }

  /** Wants the blobs of attachments inside the window (live or synced). */
  private keepAttachments(events: readonly StampedEvent[]): void {
    const since = Date.now() - this.windowMs
    for (const e of events) {
      if (e.kind !== Kind.attachment || ulidTime(e.id) < since) continue
      let meta: BlobMeta
      try {
        const { digest, size, chunkRoot } = decodeAttachment(e.body)
        meta = { digest, size, chunkRoot }
      } catch {
        continue // a malformed body names no blob; the log stored a validly signed event, nothing to fetch
      }
      if (this.exchange) this.exchange.want(meta)
      else if (this.early.length < MAX_EARLY_WANTS) this.early.push(meta)
    }
  }

  async counters(): Promise<VcCounters> {
    const peer = this.replica.peer
    let eventsHeld = 0
    for (const c of await this.store.channels()) eventsHeld += await this.store.count(c)
    const blobs = await this.blobs.usage()
    return {
      eventsHeld,
      channels: this.replica.channels.length,
      meshPeers: this.connection?.mesh?.peers().size ?? 0,
      servedEvents: peer.stats.served,
      servedBytes: peer.stats.servedBytes,
      syncReports: peer.reports.length,
      fromPeers: peer.stats.fromPeers,
      fromRelay: this.replica.stats.fromRelay,
      refusedSessions: peer.stats.refusedSessions,
      diskBytes: this.store.diskUsage().reduce((n, u) => n + u.bytes, 0),
      blobsHeld: blobs.count,
      blobBytes: blobs.bytes,
      blobBytesServed: this.exchange?.stats.chunkBytesSent ?? 0,
      blobBytesReceived: this.exchange?.stats.chunkBytesReceived ?? 0,
      rssBytes: process.memoryUsage.rss(),
      heapUsedBytes: process.memoryUsage().heapUsed,
    }
  }

  /** Leaves the relay and the mesh, stops syncing, then closes the stores (pending writes complete). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.profileTimer)
    for (const off of this.offs.splice(0)) off()
    this.exchange?.stop()
    await this.connection?.stop()
    await this.replica.stop()
    await this.store.close()
    await this.blobs.close()
  }
}
