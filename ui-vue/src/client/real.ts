/**
 * `RealClient`: the chat on the real network, assembled by the transports' `connectPeer` —
 * the relay (login, live stamped events, signed presence, stamping with an outbox), the WebRTC
 * mesh through the relay's signaling path (with relay forwarding as the fallback), and the
 * engine's Peer holding each channel's log in a Store. History comes from the Store first and
 * from other peers when it runs out (`PeerSync`); the relay keeps none.
 */
import {
  BlobExchange,
  type BlobStore,
  BodyLimits,
  type ChannelLog,
  decodeAttachment,
  isValidChannel,
  Kind,
  MemoryBlobStore,
  MemoryStore,
  type MeshPort,
  Privilege,
  type PublicKey,
  publicKeyToText,
  randomBytes,
  type Session,
  type Signer,
  type StampedEvent,
  type Store,
  signRequest,
  toHex,
  type Ulid,
  verifyAuthor,
  verifyRelayStamp,
} from '@peerchat/engine'
import { isAnnouncedVirtual } from '@peerchat/transports/announce'
import { type Connected, connectPeer, keyOfPeerId } from '@peerchat/transports/connect'
import { meshBlobPort } from '@peerchat/transports/webrtc'
import { isInlineImage } from './attachments.ts'
import { ChatClientBase, PROFILE_CHANNEL } from './base.ts'
import { Coverage } from './coverage.ts'
import { Directory } from './directory.ts'
import { LocalLog } from './local-log.ts'
import { RealMedia } from './media.ts'
import { loadOwnAvatar, saveOwnAvatar } from './own-avatar.ts'
import { PeerSync } from './peer-sync.ts'
import type { RelayConfig } from './relay-config.ts'
import type {
  ChannelCoverage,
  ChannelInfo,
  ChatClient,
  CommunityInfo,
  ConnectionState,
  EventSource,
  HistoryPage,
  HistoryQuery,
  Member,
  MemberAvatarRef,
  Outgoing,
  PeerStatus,
  PreparedAvatar,
  Provenance,
  SyncSession,
  SyncStatus,
} from './types.ts'
import { TYPING_FIELD, typingFromStates } from './typing.ts'
import type { VoiceNetwork } from './voice/network.ts'
import { VOICE_FIELD } from './voice/protocol.ts'

/** Newest events per channel read from the Store at start for unread counts (default 5,000). */
export const UNREAD_SCAN_MAX = 5_000
/** Ids of relay deliveries remembered until their log add lands (default 10,000; then forgotten). */
export const RELAY_IDS_MAX = 10_000
/** Reconciliation sessions listed by the sync-status panel (default 20, newest first). */
export const STATUS_SESSIONS_MAX = 20

export interface RealOptions {
  signer: Signer
  name: string
  config: RelayConfig
  /**
   * Where the channel logs live; the client closes it on stop. Default: a MemoryStore (history
   * is rebuilt from peers on every load); the app passes the IndexedDB store.
   */
  store?: Store
  /** Where attachments live (closed on stop). Default: a MemoryBlobStore; the app passes IndexedDB. */
  blobStore?: BlobStore
  /** Bytes of others' attachments kept before the least recently used go (default: the exchange's). */
  blobBudgetBytes?: number
  /** The community's page URL (the relay's origin) and whether the page is served by it. */
  home?: { url: string; servedByRelay: boolean }
}

export class RealClient extends ChatClientBase implements ChatClient {
  readonly network: string
  private readonly store: Store
  private readonly blobStore: BlobStore
  private exchange: BlobExchange | undefined
  private mediaClient: RealMedia | undefined
  /** Sources of the events seen this session (provenance) and per-channel order (unread counts). */
  private readonly index = new LocalLog()
  private readonly directory = new Directory()
  private readonly coverage = new Coverage()
  private voiceNetwork: VoiceNetwork | undefined
  /**
   * The channels joined. connectPeer reads this array live (mesh admission, relay forwarding),
   * so it is passed in empty and grown here from the relay's welcome and `channel-added`.
   */
  private readonly joined: string[] = []
  private readonly readMarkers = new Map<string, Ulid>()
  private readonly relayIds = new Set<Ulid>()
  private readonly offs: (() => void)[] = []
  private connected: Connected | undefined
  private sync: PeerSync | undefined
  private myName: string
  private myAvatar: MemberAvatarRef | undefined
  private myTyping: string | null = null
  /** Others' typing hints (awareness, checked against presence): key text -> channel. */
  private typing: ReadonlyMap<string, string> = new Map()
  private channelsQueued = false
  private stopped = false

  constructor(private readonly options: RealOptions) {
    super()
    this.network = options.config.url
    this.store = options.store ?? new MemoryStore()
    this.blobStore = options.blobStore ?? new MemoryBlobStore()
    this.myName = options.name
    this.myAvatar = loadOwnAvatar(publicKeyToText(this.self), publicKeyToText(this.relayKey))
  }

  get self(): PublicKey {
    return this.options.signer.publicKey
  }

  get relayKey(): PublicKey {
    return this.options.config.relayKey
  }

  async start(): Promise<void> {
    const { config, signer } = this.options
    const connected = await connectPeer({
      relayUrl: config.url,
      relayKey: config.relayKey,
      identity: signer,
      store: this.store,
      channels: this.joined,
      room: config.room,
      isVirtual: (key) => this.isVirtual(publicKeyToText(key)),
    })
    if (this.stopped) {
      await connected.stop()
      await this.blobStore.close()
      return this.store.close()
    }
    this.connected = connected
    try {
      await this.startMedia(connected)
    } catch (e) {
      // The chat works without attachments (a blob store that cannot even list itself).
      console.warn(`attachments unavailable: ${(e as Error).message}`)
      this.exchange?.stop()
      this.exchange = undefined
    }
    const { relay, peer } = connected
    this.offs.push(
      // Registered after the Peer's listener, whose log add settles later (it verifies first).
      relay.on('event', (e) => this.rememberRelayId(e.id)),
      relay.on('state', () => {
        this.emitter.emit('connection', this.connection())
        this.emitter.emit('members', this.members())
      }),
      relay.on('presence', () => this.emitter.emit('members', this.members())),
      relay.on('channel-added', (c) => void this.openChannel(c)),
    )
    for (const c of relay.channels) await this.openChannel(c)
    // A device that did not keep its picture takes the one its stored profile names.
    this.myAvatar ??= this.directory.avatarOf(publicKeyToText(this.self))
    this.watchTyping()
    this.voiceNetwork = this.makeVoiceNetwork()
    const ports = [connected.mesh, connected.fallback].filter((p) => p !== undefined)
    this.sync = new PeerSync({
      peer,
      ports,
      channels: () => this.joined,
      othersOnline: (channel) => this.othersOnline(channel),
      onBackfill: (channel, active) => this.emitter.emit('backfill', { channel, active }),
    })
    this.sync.start()
    this.emitter.emit('connection', this.connection())
    this.emitter.emit('channels', this.channels())
    this.emitter.emit('members', this.members())
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const off of this.offs.splice(0)) off()
    this.sync?.stop()
    this.exchange?.stop()
    const connected = this.connected
    void (async () => {
      await connected?.stop()
      await this.blobStore.close()
      await this.store.close()
    })().catch(() => {})
    this.emitter.emit('connection', 'offline')
    this.emitter.clear()
  }

  connection(): ConnectionState {
    const state = this.connected?.relay.state
    if (state === 'online') return 'online'
    return state === undefined || state === 'connecting' || state === 'authenticating'
      ? 'connecting'
      : 'offline'
  }

  channels(): readonly ChannelInfo[] {
    const selfId = publicKeyToText(this.self)
    return this.joined
      .filter((name) => name !== PROFILE_CHANNEL)
      .map((name) => ({
        name,
        topic: '',
        ...this.index.unread(name, this.readMarkers.get(name) ?? null, selfId, `@${this.myName}`),
      }))
  }

  /** The sessions of every joined channel's presence (a key may appear more than once). */
  private sessions(): Session[] {
    const relay = this.connected?.relay
    const sessions: Session[] = []
    for (const c of this.joined) sessions.push(...(relay?.members(c).values() ?? []))
    return sessions
  }

  members(): readonly Member[] {
    const relay = this.connected?.relay
    const sessions = this.sessions()
    const members = this.directory.members(
      {
        key: this.self,
        name: this.myName,
        online: this.connection() === 'online',
        privileges: relay?.session?.value.privileges ?? 0,
        typingIn: this.myTyping,
        avatar: this.myAvatar,
      },
      sessions,
      this.typing,
    )
    return members.map((m) => (m.online && this.isVirtual(m.id) ? { ...m, virtual: true } : m))
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    query.signal?.throwIfAborted()
    const log = await this.requireConnected().peer.open(channel)
    let events = await newestBefore(log, query.before, query.limit)
    let complete = false
    if (events.length < query.limit && this.sync) {
      // The store ran out: ask peers for older events (they reach the log, then this page).
      const oldest = events[0]?.id ?? query.before
      const got = await this.sync.backfill(channel, oldest, query.limit - events.length, query.signal)
      complete = got.exhausted
      if (got.added > 0) events = await newestBefore(log, query.before, query.limit)
    }
    query.signal?.throwIfAborted()
    for (const e of events) this.noteSource(e, { via: 'local' })
    return { events, complete }
  }

  markRead(channel: string, upTo: Ulid): void {
    const current = this.readMarkers.get(channel)
    if (current && current >= upTo) return
    this.readMarkers.set(channel, upTo)
    this.queueChannels()
  }

  async provenance(channel: string, id: Ulid): Promise<Provenance | undefined> {
    let stored = this.index.get(id)
    if (!stored) {
      const [found] = (await this.connected?.peer.log(channel)?.range({ gte: id }, { limit: 1 })) ?? []
      if (found?.id === id) stored = { event: found, source: { via: 'local' } }
    }
    if (!stored || stored.event.channel !== channel) return undefined
    const [authorSignature, relayStamp] = await Promise.all([
      verifyAuthor(stored.event),
      verifyRelayStamp(stored.event, this.relayKey),
    ])
    return { id, authorSignature, relayStamp, source: stored.source }
  }

  setTyping(channel: string | null): void {
    if (this.myTyping === channel) return
    this.myTyping = channel
    const hint = { key: publicKeyToText(this.self), channel }
    this.connected?.mesh?.awareness?.setLocalStateField(TYPING_FIELD, hint)
    this.emitter.emit('members', this.members())
  }

  get voice(): VoiceNetwork | undefined {
    return this.voiceNetwork
  }

  get media(): RealMedia | undefined {
    return this.mediaClient
  }

  community(): CommunityInfo {
    const privileges = this.connected?.relay.session?.value.privileges ?? 0
    const home = this.options.home
    return {
      access: this.options.config.access,
      canCreateChannels: (privileges & Privilege.create) !== 0,
      ...(home ? { url: home.url, servedByRelay: home.servedByRelay } : {}),
    }
  }

  createChannel(name: string): Promise<Outgoing> {
    if (!isValidChannel(name))
      return Promise.reject(
        new RangeError(
          'A channel name is 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit.',
        ),
      )
    if (this.joined.includes(name)) return Promise.reject(new RangeError(`#${name} exists already.`))
    // The body is empty: the channel's name is the event's channel; a topic is a later channel.meta.
    return this.publish(name, Kind.channelCreate, new Uint8Array(0))
  }

  async syncStatus(): Promise<SyncStatus> {
    const { relay, peer, mesh, fallback } = this.requireConnected()
    const ports: MeshPort[] = [mesh, fallback].filter((p) => p !== undefined)
    const rtt = new Map(peer.candidates().map((c) => [`${c.port}:${c.peer}`, c.rtt]))
    const peers: PeerStatus[] = []
    ports.forEach((port, i) => {
      for (const [id, info] of port.peers()) {
        const key = info.key ? publicKeyToText(info.key) : keyOfPeerId(id)
        const ms = rtt.get(`${i}:${id}`)
        peers.push({
          id: key,
          kind: info.kind === 'virtual' || this.isVirtual(key) ? 'virtual' : 'client',
          link: port.fallback ? 'relay-fallback' : 'webrtc',
          ...(ms !== undefined && Number.isFinite(ms) ? { rttMs: Math.round(ms) } : {}),
        })
      }
    })
    const channels: ChannelCoverage[] = []
    for (const name of this.joined) {
      const log = peer.log(name)
      if (!log) continue
      const [held, [oldest], [newest]] = await Promise.all([
        log.count(),
        log.range({}, { limit: 1 }),
        log.range({}, { limit: 1, reverse: true }),
      ])
      channels.push({
        channel: name,
        held,
        oldest: oldest?.ts ?? null,
        newest: newest?.ts ?? null,
        sources: this.coverage.sources(name),
      })
    }
    const sessions: SyncSession[] = peer.reports
      .slice(-STATUS_SESSIONS_MAX)
      .reverse()
      .map((r) => {
        // The Peer names a report's source `<port name>:<peer id>` (its index when unnamed).
        const colon = r.source.indexOf(':')
        const label = r.source.slice(0, colon)
        const port = ports.find((p) => p.name === label) ?? ports[Number(label)]
        return {
          channel: r.channel,
          peer: keyOfPeerId(r.source.slice(colon + 1)),
          link: port?.fallback ? 'relay-fallback' : (port?.name ?? 'unknown'),
          kind: r.kind,
          ...(r.range?.gte ? { gte: r.range.gte } : {}),
          ...(r.range?.lt ? { lt: r.range.lt } : {}),
          added: r.added,
          bytesIn: r.bytesIn,
          bytesOut: r.bytesOut,
          complete: r.complete,
        }
      })
    const direct = mesh?.stats() ?? { bytesIn: 0, bytesOut: 0 }
    const blobs = this.exchange?.stats
    const media = blobs && {
      stored: await this.blobStore.usage(),
      chunkBytesSent: blobs.chunkBytesSent,
      chunkBytesReceived: blobs.chunkBytesReceived,
      completed: blobs.completed,
      badChunks: blobs.badChunks,
    }
    return {
      connection: this.connection(),
      network: this.network,
      relay: {
        bytesIn: relay.stats.bytesIn,
        bytesOut: relay.stats.bytesOut,
        reconnects: relay.stats.reconnects,
        rejectedEvents: relay.stats.rejectedEvents,
      },
      webrtc: { bytesIn: direct.bytesIn, bytesOut: direct.bytesOut },
      forwarded: { bytesIn: fallback?.stats.bytesIn ?? 0, bytesOut: fallback?.stats.bytesOut ?? 0 },
      served: { events: peer.stats.served, bytes: peer.stats.servedBytes },
      received: { fromRelay: peer.stats.fromRelay, fromPeers: peer.stats.fromPeers },
      peers,
      channels,
      sessions,
      ...(media ? { media } : {}),
    }
  }

  protected async publish(channel: string, kind: string, body: Uint8Array): Promise<Outgoing> {
    const { relay } = this.requireConnected()
    const request = await signRequest(this.options.signer, {
      channel,
      kind,
      clientNonce: randomBytes(16),
      body,
    })
    // Offline, the relay client keeps it in its outbox and sends it (same nonce) on reconnect.
    const stamped = relay.publishSigned(request)
    stamped.catch(() => {}) // the UI reports refusals through `outgoing`; never an unhandled rejection
    const outgoing: Outgoing = { request, stamped }
    this.emitter.emit('outgoing', outgoing)
    return outgoing
  }

  /** Profiles go to a `profiles` channel when the relay has one, else to its first channel. */
  protected override profileChannel(): string {
    return this.joined.includes(PROFILE_CHANNEL) ? PROFILE_CHANNEL : (this.joined[0] ?? PROFILE_CHANNEL)
  }

  /** Every profile event carries the current picture, so a rename keeps it. */
  override setProfile(name: string): Promise<Outgoing> {
    this.myName = name
    return super.setProfile(name, this.myAvatar)
  }

  /**
   * Stores the picture as a pinned blob (announced to peers, who fetch it from the mesh) and
   * posts a profile naming it; `null` posts a profile without one.
   */
  async setAvatar(avatar: PreparedAvatar | null): Promise<Outgoing> {
    if (avatar) {
      if (!this.exchange)
        throw new Error('Pictures travel peer to peer, and the peer-to-peer mesh is not up.')
      if (!isInlineImage(avatar.mime))
        throw new RangeError(`A picture must be a raster image, not ${avatar.mime}.`)
      if (avatar.bytes.length === 0 || avatar.bytes.length > BodyLimits.avatar)
        throw new RangeError(`A picture is 1 to ${BodyLimits.avatar} bytes once resized.`)
      const d = await this.exchange.publish(avatar.bytes, { pinned: true })
      this.myAvatar = {
        digest: d.digest,
        size: d.size,
        chunkRoot: d.chunkRoot,
        mime: avatar.mime,
        id: toHex(d.digest),
      }
    } else {
      this.myAvatar = undefined
    }
    saveOwnAvatar(publicKeyToText(this.self), publicKeyToText(this.relayKey), this.myAvatar)
    this.emitter.emit('members', this.members())
    return this.setProfile(this.myName)
  }

  // ---- internals -------------------------------------------------------------------------

  /** The blob exchange over the WebRTC mesh only: blob bytes never take the relay's forwarding. */
  private async startMedia(connected: Connected): Promise<void> {
    const mesh = connected.mesh
    if (!mesh) return
    this.exchange = new BlobExchange({
      store: this.blobStore,
      port: meshBlobPort(mesh),
      ...(this.options.blobBudgetBytes ? { budgetBytes: this.options.blobBudgetBytes } : {}),
    })
    await this.exchange.start()
    this.mediaClient = new RealMedia({
      exchange: this.exchange,
      connected: () => mesh.peers().size,
      publish: (channel, kind, body) => this.publish(channel, kind, body),
    })
  }

  /** A live attachment: accept pushes of it (gossip), and pull it soon if none comes. */
  private wantAttachment(event: StampedEvent): void {
    if (!this.exchange) return
    try {
      const a = decodeAttachment(event.body)
      this.exchange.want({ digest: a.digest, size: a.size, chunkRoot: a.chunkRoot })
    } catch {
      // malformed: the view ignores it too
    }
  }

  private requireConnected(): Connected {
    if (!this.connected) throw new Error('not connected yet')
    return this.connected
  }

  private async openChannel(channel: string): Promise<void> {
    if (this.joined.includes(channel) || !this.connected) return
    this.joined.push(channel)
    const log = await this.connected.peer.open(channel)
    this.offs.push(log.onAdded((events) => this.added(channel, events)))
    // What a durable store already holds counts for unread badges and names.
    const held = await log.range({}, { limit: UNREAD_SCAN_MAX, reverse: true })
    for (const e of held) {
      this.noteSource(e, { via: 'local' })
      this.directory.addProfile(e)
    }
    this.queueChannels()
  }

  /** New events in a channel's log, from the relay, a peer's sync, or a page read. */
  private added(channel: string, events: StampedEvent[]): void {
    let names = false
    for (const event of events) {
      const source: EventSource = this.relayIds.delete(event.id)
        ? { via: 'relay' }
        : (this.sync?.sourceFor(channel) ?? { via: 'peer', peer: 'unknown' })
      this.noteSource(event, source)
      if (event.kind === Kind.attachment && source.via === 'relay') this.wantAttachment(event)
      if (event.kind === Kind.profile) names = this.directory.addProfile(event) || names
      this.emitter.emit('event', { event, source })
    }
    if (names) this.emitter.emit('members', this.members())
    if (events.some((e) => e.kind === Kind.message || e.kind === Kind.attachment)) this.queueChannels()
  }

  /** Typing hints from the mesh's awareness; re-read on every change of it or of presence. */
  private watchTyping(): void {
    const awareness = this.connected?.mesh?.awareness
    if (!awareness) return
    const refresh = (): void => {
      const online = new Set(this.sessions().map((session) => publicKeyToText(session.publicKey)))
      this.typing = typingFromStates(awareness.getStates(), {
        localId: awareness.clientID,
        selfKey: publicKeyToText(this.self),
        isOnline: (key) => online.has(key),
        channels: this.joined,
      })
      this.emitter.emit('members', this.members())
    }
    awareness.on('change', refresh)
    this.offs.push(() => awareness.off('change', refresh))
  }

  /** Remembers where an event came from (provenance) and counts it once per source (coverage). */
  private noteSource(event: StampedEvent, source: EventSource): void {
    if (this.index.add(event, source)) this.coverage.note(event.channel, source)
  }

  private isVirtual(key: string): boolean {
    return isAnnouncedVirtual(this.connected?.mesh?.awareness, key)
  }

  /** Voice signaling in the community room's awareness, checked against the relay's presence. */
  private makeVoiceNetwork(): VoiceNetwork | undefined {
    const awareness = this.connected?.mesh?.awareness
    const relay = this.connected?.relay
    if (!awareness || !relay) return undefined
    return {
      self: publicKeyToText(this.self),
      signer: this.options.signer,
      iceServers: this.options.config.iceServers,
      publish: (state) => awareness.setLocalStateField(VOICE_FIELD, state),
      states: () => {
        const out: unknown[] = []
        for (const [id, state] of awareness.getStates())
          if (id !== awareness.clientID) out.push(state?.[VOICE_FIELD])
        return out
      },
      onChange: (listener) => {
        awareness.on('change', listener)
        const off = relay.on('presence', listener)
        return () => {
          awareness.off('change', listener)
          off()
        }
      },
      isMember: (key, channel) => {
        if (!this.joined.includes(channel)) return false
        for (const s of relay.members(channel).values()) if (publicKeyToText(s.publicKey) === key) return true
        return false
      },
    }
  }

  private rememberRelayId(id: Ulid): void {
    // Ids whose add never lands (duplicates, refusals) would pile up: forget them past the bound.
    if (this.relayIds.size >= RELAY_IDS_MAX) this.relayIds.clear()
    this.relayIds.add(id)
  }

  private othersOnline(channel: string): boolean {
    const selfId = publicKeyToText(this.self)
    for (const s of this.connected?.relay.members(channel).values() ?? [])
      if (publicKeyToText(s.publicKey) !== selfId) return true
    return false
  }

  /** Unread counts change with every message: one `channels` update per burst of adds. */
  private queueChannels(): void {
    if (this.channelsQueued) return
    this.channelsQueued = true
    queueMicrotask(() => {
      this.channelsQueued = false
      if (!this.stopped) this.emitter.emit('channels', this.channels())
    })
  }
}

/** Up to `limit` events strictly older than `before` (the newest when omitted), oldest first. */
async function newestBefore(
  log: ChannelLog,
  before: Ulid | undefined,
  limit: number,
): Promise<StampedEvent[]> {
  const events = await log.range(before ? { lt: before } : {}, { limit, reverse: true })
  return events.reverse()
}
