/**
 * `RealClient`: the chat on the real network. It holds an engine `Replica` over the device's
 * store (IndexedDB) and persisted outbox, and joins it to the community with the transports'
 * `connectReplica`: the relay (login, live stamped events, signed presence, stamping) and the
 * WebRTC mesh through the relay's signaling path, with relay forwarding as the fallback. The
 * Replica's sync policy catches up and scrolls back; this client only shows what it holds.
 *
 * Nothing here waits for the network: `start` returns once the store is open, stored history
 * shows at once, writes made offline show as pending and go out when the relay is back.
 */

import {
  equalBytes,
  isValidChannel,
  MemoryOutboxStore,
  MemoryStore,
  type MeshPort,
  type OutboxStore,
  Privilege,
  type PublicKey,
  publicKeyFromText,
  publicKeyToText,
  Replica,
  type Session,
  type Signer,
  type StampedEvent,
  type Store,
  toHex,
  type Ulid,
} from '@peerchat/engine'
import { BlobExchange, type BlobStore, MemoryBlobStore } from '@peerchat/engine/blobs'
import { ADMIN_CHANNEL, BodyLimits, decodeAttachment, Kind } from '@peerchat/engine/chat'
import type { MlsStorage } from '@peerchat/engine/mls'
import { isAnnouncedVirtual } from '@peerchat/transports/announce'
import { type Connection, connectReplica, keyOfPeerId, type LinkSecret } from '@peerchat/transports/connect'
import type { WebrtcTransport } from '@peerchat/transports/webrtc'
import { meshBlobPort } from '@peerchat/transports/webrtc'
import { isInlineImage } from './attachments.ts'
import { PROFILE_CHANNEL } from './base.ts'
import type { DocCache } from './canvas.ts'
import type { KeyValueStorage } from './communities.ts'
import { Directory } from './directory.ts'
import { LatePort } from './late-port.ts'
import { RealMedia } from './media.ts'
import { OnlineRoster } from './online.ts'
import { loadOwnAvatar, saveOwnAvatar } from './own-avatar.ts'
import type { RelayConfig } from './relay-config.ts'
import { Remembered } from './remembered.ts'
import { ReplicaClient } from './replica-client.ts'
import type { SearchStorage } from './search.ts'
import type {
  ChatClient,
  CommunityInfo,
  ConnectionState,
  EventSource,
  Member,
  MemberAvatarRef,
  Outgoing,
  PeerStatus,
  PreparedAvatar,
  SyncSession,
  SyncStatus,
} from './types.ts'
import { TYPING_FIELD, typingFromStates } from './typing.ts'
import type { VoiceNetwork } from './voice/network.ts'
import { VOICE_FIELD, type VoiceWireState } from './voice/protocol.ts'

/** Reconciliation sessions listed by the sync-status panel (default 20, newest first). */
export const STATUS_SESSIONS_MAX = 20
/**
 * How long scroll-back waits for a first linked peer while others are online in the relay's
 * presence (default 3 s); then the page says "load older" and asking again waits again.
 */
export const PEER_WAIT_MS = 3_000

export interface RealOptions {
  signer: Signer
  name: string
  config: RelayConfig
  /**
   * Where the channel logs live; the client closes it on stop. Default: a MemoryStore (history
   * is rebuilt from peers on every load); the app passes the IndexedDB store.
   */
  store?: Store
  /** Where writes wait for their stamp (closed on stop). Default: memory; the app passes IndexedDB. */
  outbox?: OutboxStore & { close?(): Promise<void> }
  /** Where attachments live (closed on stop). Default: a MemoryBlobStore; the app passes IndexedDB. */
  blobStore?: BlobStore
  /** Bytes of others' attachments kept before the least recently used go (default: the exchange's). */
  blobBudgetBytes?: number
  /** The community's page URL (the relay's origin) and whether the page is served by it. */
  home?: { url: string; servedByRelay: boolean }
  /** Where read markers and last-known names are kept for a return (default: localStorage, if any). */
  storage?: KeyValueStorage
  /**
   * A claim or invite link's secret from the page's URL fragment: sent with the login until its
   * admin event (`admin.claim`, `invite.redeem`) is answered, then forgotten.
   */
  link?: LinkSecret
}

/** The relay's login refusals (`<reason>: <message>`) about membership, which trying again cannot cure. */
const MEMBERSHIP_REFUSALS = new Set(['banned', 'bad_invite', 'invite_required'])

export class RealClient extends ReplicaClient implements ChatClient {
  readonly network: string
  private readonly store: Store
  private readonly outbox: OutboxStore & { close?(): Promise<void> }
  private readonly blobStore: BlobStore
  private exchange: BlobExchange | undefined
  private mediaClient: RealMedia | undefined
  /** The blob exchange's port: it exists from the start, the mesh is bound to it once up. */
  private readonly blobPort: LatePort
  /** Where canvases' cursors travel: the mesh once up, and the relay's forwarding for the rest. */
  private readonly presencePorts: [mesh: LatePort, forwarding: LatePort]
  private readonly directory = new Directory()
  /** The relay's count of who is online and the pages past its presence head ("Show more"). */
  private readonly online = new OnlineRoster(
    () => this.conn?.relay,
    () => this.joined,
  )
  /** Channels this device asked the relay to create, until the relay announces them. */
  private readonly creating = new Set<string>()
  private voiceNetwork: VoiceNetwork | undefined
  /** Called on every change of the mesh's awareness (typing hints, voice). */
  private readonly awarenessListeners = new Set<() => void>()
  private readonly offs: (() => void)[] = []
  private readonly abort = new AbortController()
  private conn: Connection | undefined
  private myAvatar: MemberAvatarRef | undefined
  private myTyping: string | null = null
  /** Others' typing hints (awareness, checked against presence): key text -> channel. */
  private typing: ReadonlyMap<string, string> = new Map()

  constructor(private readonly options: RealOptions) {
    super(
      options.name,
      new Remembered(
        options.storage ?? globalThis.localStorage,
        publicKeyToText(options.signer.publicKey),
        publicKeyToText(options.config.relayKey),
      ),
    )
    // Names from the last visit: a return never shows a stored person by key (remembered.ts).
    for (const [id, name] of this.remembered?.names() ?? []) this.directory.recall(id, name)
    // A reload soon after a new name still finds it (names are written in bursts, see there).
    const hide = (): void => this.remembered?.flush()
    globalThis.addEventListener?.('pagehide', hide)
    this.offs.push(() => globalThis.removeEventListener?.('pagehide', hide))
    this.network = options.config.url
    this.store = options.store ?? new MemoryStore()
    this.outbox = options.outbox ?? new MemoryOutboxStore()
    this.blobStore = options.blobStore ?? new MemoryBlobStore()
    this.blobPort = new LatePort('webrtc', `${publicKeyToText(this.self)}.local`)
    this.presencePorts = [
      new LatePort('webrtc', `${publicKeyToText(this.self)}.local`),
      new LatePort('relay forwarding', `${publicKeyToText(this.self)}.forwarded`, true),
    ]
    this.myAvatar = loadOwnAvatar(publicKeyToText(this.self), publicKeyToText(this.relayKey))
  }

  get self(): PublicKey {
    return this.options.signer.publicKey
  }

  get relayKey(): PublicKey {
    return this.options.config.relayKey
  }

  /** Opens the stored history and starts connecting; returns without waiting for the network. */
  async start(): Promise<void> {
    const { config, signer } = this.options
    const stored = await this.store.channels()
    const replica = await Replica.open({
      store: this.store,
      relayKeys: [config.relayKey],
      signer,
      outbox: this.outbox,
      // The relay sends the admin log whole on join: peers are not asked for it.
      peerSync: (channel) => channel !== ADMIN_CHANNEL,
    })
    if (this.stopped) {
      await replica.stop()
      return
    }
    this.hold(replica, this.options.signer)
    for (const channel of stored) this.join(channel)
    const conn = connectReplica(replica, {
      // The page's own relay and the community's other nodes (its well-known `nodeUrls`): failover.
      relayUrl: [config.url, ...(config.nodeUrls ?? [])],
      relayKey: config.relayKey,
      identity: signer,
      room: config.room,
      isVirtual: (key) => this.isVirtual(publicKeyToText(key)),
      ...(this.options.link ? { link: this.options.link } : {}),
    })
    this.conn = conn
    const { relay } = conn
    if (conn.fallback) {
      this.presencePorts[1].bind(conn.fallback)
      this.offs.push(() => this.presencePorts[1].unbind())
    }
    const admin = this.admin
    if (this.options.link) admin.setLink({ kind: this.options.link.kind, state: 'pending' })
    this.offs.push(
      relay.on('link', (outcome) =>
        admin.setLink(
          outcome.ok
            ? { kind: outcome.kind, state: 'done' }
            : { kind: outcome.kind, state: 'refused', message: outcome.message },
        ),
      ),
      // Kicked or banned: the relay closed the session and the client stopped (no reconnect).
      relay.on('removed', ({ reason }) =>
        admin.setBlocked({ kind: 'removed', reason, banned: admin.bannedNow(publicKeyToText(this.self)) }),
      ),
      relay.on('error', ({ code, message }) => {
        if (code !== 'login_failed') return
        const reason = /^([a-z_]+):/.exec(message)?.[1] ?? ''
        if (!MEMBERSHIP_REFUSALS.has(reason) && !relay.linkKind) return
        // Banned, invite-only, or a link that cannot be used: trying again would only be refused.
        admin.setBlocked({ kind: 'refused', reason: message, banned: reason === 'banned' })
        void relay.stop()
      }),
      relay.on('state', () => {
        this.emitter.emit('connection', this.connection())
        this.emitter.emit('members', this.members())
      }),
      relay.on('presence', () => this.emitter.emit('members', this.members())),
      relay.on('welcome', ({ channels }) => {
        // A new login: the relay client holds each channel's head again, the pages start over.
        this.online.reset()
        for (const channel of channels) this.join(channel)
      }),
      relay.on('channel-added', (channel) => {
        // A channel this device just created was opened (and its join refused) before the relay
        // had it: join it now, or neither its presence (scroll-back waits on it: the new channel
        // would offer "Load older messages" for ever) nor its live events would come.
        relay.join(channel)
        this.join(channel)
        // The relay announces only channels it did not have: the one created here starts now.
        if (this.creating.delete(channel)) this.knownStart(channel)
      }),
      // A new peer may hold older history than anyone before it.
      replica.peer.onPeerJoined(() => this.forgetExhausted()),
    )
    this.startMedia()
    this.voiceNetwork = this.makeVoiceNetwork()
    void conn.meshReady.then((mesh) => {
      if (mesh && !this.stopped) this.meshUp(mesh)
    })
    void this.scanStored(stored.includes(PROFILE_CHANNEL) ? [PROFILE_CHANNEL] : [])
    this.emitter.emit('connection', this.connection())
    this.emitter.emit('channels', this.channels())
    this.emitter.emit('members', this.members())
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.abort.abort()
    this.remembered?.flush()
    for (const off of this.offs.splice(0)) off()
    this.exchange?.stop()
    const conn = this.conn
    void (async () => {
      await conn?.stop()
      await this.release()
      await this.blobStore.close()
      await this.outbox.close?.()
      await this.store.close()
    })().catch(() => {})
    this.emitter.emit('connection', 'offline')
    this.emitter.clear()
  }

  connection(): ConnectionState {
    const state = this.conn?.relay.state
    if (state === 'online') return 'online'
    return state === undefined || state === 'connecting' || state === 'authenticating'
      ? 'connecting'
      : 'offline'
  }

  /** The sessions of every joined channel's presence (a key may appear more than once). */
  private sessions(): Session[] {
    const relay = this.conn?.relay
    const sessions: Session[] = []
    for (const c of this.joined) sessions.push(...(relay?.members(c).values() ?? []))
    return sessions
  }

  members(): readonly Member[] {
    const relay = this.conn?.relay
    const admin = this.admin
    const members = this.directory.members(
      {
        key: this.self,
        name: this.myName,
        online: this.connection() === 'online',
        privileges: relay?.session?.value.privileges ?? 0,
        typingIn: this.myTyping,
        avatar: this.myAvatar,
      },
      this.sessions(),
      this.typing,
    )
    return members.map((m) => {
      const role = admin.roleOf(m.id)
      const out = role === 'member' ? m : { ...m, role }
      return m.online && this.isVirtual(m.id) ? { ...out, virtual: true } : out
    })
  }

  onlineCount(): number | undefined {
    return this.online.count()
  }

  moreMembers(): boolean {
    return this.online.more()
  }

  async loadMoreMembers(): Promise<boolean> {
    if (this.connection() !== 'online') return this.online.more()
    return this.online.loadMore().catch(() => this.online.more())
  }

  setTyping(channel: string | null): void {
    if (this.myTyping === channel) return
    this.myTyping = channel
    this.publishTyping()
    this.emitter.emit('members', this.members())
  }

  get voice(): VoiceNetwork | undefined {
    return this.voiceNetwork
  }

  get media(): RealMedia | undefined {
    return this.mediaClient
  }

  community(): CommunityInfo {
    const privileges = this.conn?.relay.session?.value.privileges ?? 0
    const home = this.options.home
    const admin = this.admin
    return {
      // The fold of the admin channel once it holds anything; the relay's document before.
      access: admin.access,
      canCreateChannels: (privileges & Privilege.create) !== 0 || admin.may('manageChannels'),
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
    this.creating.add(name)
    // The body is empty: the channel's name is the event's channel; a topic is a later channel.meta.
    return this.publish(name, Kind.channelCreate, new Uint8Array(0))
  }

  async syncStatus(): Promise<SyncStatus> {
    const conn = this.conn
    const replica = this.replica
    if (!conn || !replica) throw new Error('not started yet')
    const { relay, mesh, fallback } = conn
    const peer = replica.peer
    const ports: MeshPort[] = [mesh, fallback].filter((p) => p !== undefined)
    const rtt = new Map(peer.candidates().map((c) => [`${c.fallback}:${c.peer}`, c.rtt]))
    const peers: PeerStatus[] = []
    for (const port of ports)
      for (const [id, info] of port.peers()) {
        const key = info.key ? publicKeyToText(info.key) : keyOfPeerId(id)
        const ms = rtt.get(`${port.fallback === true}:${id}`)
        peers.push({
          id: key,
          kind: info.kind === 'virtual' || this.isVirtual(key) ? 'virtual' : 'client',
          link: port.fallback ? 'relay-fallback' : 'webrtc',
          ...(ms !== undefined && Number.isFinite(ms) ? { rttMs: Math.round(ms) } : {}),
        })
      }
    const sessions: SyncSession[] = peer.reports
      .slice(-STATUS_SESSIONS_MAX)
      .reverse()
      .map((r) => ({
        channel: r.channel,
        peer: keyOfPeerId(r.source.peer),
        link: r.source.link === 'relay forwarding' ? 'relay-fallback' : r.source.link,
        kind: r.source.kind,
        ...(r.range?.gte ? { gte: r.range.gte } : {}),
        ...(r.range?.lt ? { lt: r.range.lt } : {}),
        added: r.added,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        complete: r.complete,
      }))
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
      received: { fromRelay: replica.stats.fromRelay, fromPeers: peer.stats.fromPeers },
      peers,
      channels: await this.coverageOf(),
      sessions,
      ...(media ? { media } : {}),
    }
  }

  protected override initialAccess(): 'open' | 'invite' | undefined {
    const access = this.options.config.access
    return access === 'unknown' ? undefined : access
  }

  /** Invite links open the community's page: its relay's origin, or this page with `?relay=`. */
  protected override linkBase(): string | undefined {
    const home = this.options.home
    if (!home) return undefined
    const page = globalThis.location
    return home.servedByRelay || !page
      ? `${home.url}/`
      : `${page.origin}${page.pathname}?relay=${encodeURIComponent(home.url)}`
  }

  /** Profiles go to a `profiles` channel when the relay has one, else to its first channel. */
  protected override profileChannel(): string {
    return this.joined.includes(PROFILE_CHANNEL) ? PROFILE_CHANNEL : (this.joined[0] ?? PROFILE_CHANNEL)
  }

  /**
   * Every profile event carries the current picture, so a rename keeps it. Its channel is one
   * the relay has: a new device knows none before its first login, and waits for it.
   */
  override async setProfile(name: string): Promise<Outgoing> {
    this.myName = name
    if (this.joined.length === 0) await this.firstWelcome()
    return super.setProfile(name, this.myAvatar)
  }

  /**
   * Stores the picture as a pinned blob (announced to peers, who fetch it from the mesh) and
   * posts a profile naming it; `null` posts a profile without one.
   */
  async setAvatar(avatar: PreparedAvatar | null): Promise<Outgoing> {
    if (avatar) {
      if (!this.exchange) throw new Error('Pictures are unavailable: this browser refused to store them.')
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

  // ---- the Replica's network, as ReplicaClient asks for it ---------------------------------

  /** The relay's presence says nobody else is in the channel, and nobody is linked: no one to ask. */
  protected olderElsewhere(channel: string): boolean {
    return !(this.presenceKnown(channel) && !this.othersOnline(channel) && this.linkedPeers() === 0)
  }

  /**
   * Scroll-back through the Replica, once the relay says who is online: waits for a linked
   * peer (PEER_WAIT_MS) when others are. Not linked in time: not exhausted, asked again later.
   */
  protected async pullOlder(
    channel: string,
    before: Ulid | undefined,
    want: number,
  ): Promise<{ exhausted: boolean }> {
    await this.untilPresence(channel)
    const replica = this.replica
    if (!replica || this.stopped) throw new Error('stopped')
    if (this.linkedPeers() === 0 && !this.othersOnline(channel)) return { exhausted: true }
    this.emitter.emit('backfill', { channel, active: true })
    const got = await replica.backfill(channel, {
      ...(before ? { before } : {}),
      want,
      waitMs: PEER_WAIT_MS,
      signal: this.abort.signal,
    })
    return got.exhausted && got.added === 0 && this.linkedPeers() === 0
      ? { exhausted: false }
      : { exhausted: got.exhausted }
  }

  protected took(_channel: string, events: readonly StampedEvent[], source: EventSource): void {
    let names = false
    for (const e of events) {
      if (e.kind === Kind.profile) names = this.directory.addProfile(e) || names
      else if (e.kind === Kind.attachment && source.via === 'relay') this.wantAttachment(e)
    }
    if (!names) return
    this.remembered?.saveNamesSoon(() => this.directory.known())
    // A device that did not keep its picture takes the one its profile names.
    this.myAvatar ??= this.directory.avatarOf(publicKeyToText(this.self))
    this.emitter.emit('members', this.members())
  }

  // ---- canvases -----------------------------------------------------------------------------

  protected override canvasPorts(): MeshPort[] {
    return [...this.presencePorts]
  }

  /** The IndexedDB snapshot cache when history lives in IndexedDB (not with `?store=memory`). */
  protected override async canvasCache(): Promise<DocCache | undefined> {
    if (!this.options.store) return undefined
    const { DocSnapshotCache } = await import('@peerchat/store-indexeddb')
    return DocSnapshotCache.open({ relayKey: this.relayKey })
  }

  /** The search index beside the history in IndexedDB (not with `?store=memory`). */
  protected override async searchStorage(): Promise<SearchStorage | undefined> {
    if (!this.options.store) return undefined
    const { SearchIndexStore } = await import('@peerchat/store-indexeddb')
    return SearchIndexStore.open({ relayKey: this.relayKey })
  }

  /**
   * Encrypted conversations beside the history in IndexedDB (not with `?store=memory`): the MLS
   * secrets, group states and the plaintexts, the device's only readable copy.
   */
  protected override async mlsStorage(): Promise<MlsStorage | undefined> {
    if (!this.options.store) return undefined
    const { MlsVault } = await import('@peerchat/store-indexeddb')
    return MlsVault.open({ relayKey: this.relayKey })
  }

  /**
   * Tabs of one browser share the IndexedDB vault, and MLS keys must not be used twice: a Web
   * Lock per community lets one tab at a time hold the encrypted conversations; the others wait
   * for it (and say so). Not needed with `?store=memory` (nothing shared).
   */
  protected override exclusive(waiting: () => void, signal: AbortSignal): Promise<() => void> {
    const locks = globalThis.navigator?.locks
    if (!locks || !this.options.store) return Promise.resolve(() => {})
    const name = `peerchat-mls-${toHex(this.relayKey)}`
    return new Promise((resolve, reject) => {
      const hold = () =>
        new Promise<void>((release) => {
          resolve(release)
        })
      locks
        .request(name, { ifAvailable: true }, (lock) => {
          if (lock) return hold()
          waiting()
          locks.request(name, { signal }, hold).catch(reject)
          return undefined
        })
        .catch(reject)
    })
  }

  /** Also everyone whose profile this device holds (not only those listed now). */
  protected override peopleNamed(name: string): Set<string> {
    const out = super.peopleNamed(name)
    for (const [id, shown] of this.directory.known()) if (shown.toLowerCase().startsWith(name)) out.add(id)
    return out
  }

  protected override displayName(key: string): string {
    return this.directory.nameOf(key) ?? super.displayName(key)
  }

  // ---- internals --------------------------------------------------------------------------

  /**
   * The blob exchange over the WebRTC mesh only (blob bytes never take the relay's forwarding),
   * started with the app on the stored blobs; the mesh joins it when up.
   */
  private startMedia(): void {
    const exchange = new BlobExchange({
      store: this.blobStore,
      port: this.blobPort,
      ...(this.options.blobBudgetBytes ? { budgetBytes: this.options.blobBudgetBytes } : {}),
    })
    const ready = exchange.start().catch((e: Error) => {
      // The chat works without attachments (a blob store that cannot even list itself).
      console.warn(`attachments unavailable: ${e.message}`)
      exchange.stop()
      if (this.exchange === exchange) this.exchange = undefined
      throw e
    })
    ready.catch(() => {})
    this.exchange = exchange
    this.mediaClient = new RealMedia({
      exchange,
      ready,
      connected: () => this.conn?.mesh?.peers().size ?? 0,
      publish: (channel, kind, body) => this.publish(channel, kind, body),
      sealOf: (digest) => this.sealOf(digest),
    })
  }

  /** The mesh is up: blobs, typing hints and voice get their peers. */
  private meshUp(mesh: WebrtcTransport): void {
    this.blobPort.bind(meshBlobPort(mesh))
    this.presencePorts[0].bind(mesh)
    this.offs.push(() => this.presencePorts[0].unbind())
    const awareness = mesh.awareness
    if (!awareness) return
    const changed = (): void => {
      this.refreshTyping()
      for (const listener of [...this.awarenessListeners]) listener()
    }
    awareness.on('change', changed)
    this.offs.push(
      () => awareness.off('change', changed),
      () => this.blobPort.unbind(),
    )
    this.publishTyping()
    changed()
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

  private publishTyping(): void {
    const hint = { key: publicKeyToText(this.self), channel: this.myTyping }
    this.conn?.mesh?.awareness?.setLocalStateField(TYPING_FIELD, hint)
  }

  /** Typing hints from the mesh's awareness, re-read on every change of it. */
  private refreshTyping(): void {
    const awareness = this.conn?.mesh?.awareness
    if (!awareness) return
    const online = new Set(this.sessions().map((session) => publicKeyToText(session.publicKey)))
    this.typing = typingFromStates(awareness.getStates(), {
      localId: awareness.clientID,
      selfKey: publicKeyToText(this.self),
      isOnline: (key) => online.has(key),
      channels: this.joined,
    })
    this.emitter.emit('members', this.members())
  }

  private isVirtual(key: string): boolean {
    return isAnnouncedVirtual(this.conn?.mesh?.awareness, key)
  }

  /**
   * Voice signaling in the community room's awareness, checked against the relay's presence.
   * It exists from the start: until the mesh is up there is nobody to call, and this client's
   * state is published once it is.
   */
  private makeVoiceNetwork(): VoiceNetwork {
    let mine: VoiceWireState | null = null
    const awareness = () => this.conn?.mesh?.awareness
    this.awarenessListeners.add(() => {
      if (mine) awareness()?.setLocalStateField(VOICE_FIELD, mine)
    })
    return {
      self: publicKeyToText(this.self),
      signer: this.options.signer,
      iceServers: this.options.config.iceServers,
      publish: (state) => {
        mine = state
        awareness()?.setLocalStateField(VOICE_FIELD, state)
      },
      states: () => {
        const a = awareness()
        const out: unknown[] = []
        for (const [id, state] of a?.getStates() ?? []) if (id !== a?.clientID) out.push(state?.[VOICE_FIELD])
        return out
      },
      onChange: (listener) => {
        this.awarenessListeners.add(listener)
        const off = this.conn?.relay.on('presence', listener)
        return () => {
          this.awarenessListeners.delete(listener)
          off?.()
        }
      },
      isMember: (key, channel) => {
        if (!this.joined.includes(channel)) return false
        for (const s of this.conn?.relay.members(channel).values() ?? [])
          if (publicKeyToText(s.publicKey) === key) return true
        // Outside the relay's presence head: looked up; `onChange` fires when the answer lands.
        try {
          this.conn?.lookup.want(publicKeyFromText(key))
        } catch {
          // not a key
        }
        return false
      },
    }
  }

  private othersOnline(channel: string): boolean {
    const relay = this.conn?.relay
    const selfId = publicKeyToText(this.self)
    let mine = 0
    for (const s of relay?.members(channel).values() ?? [])
      if (publicKeyToText(s.publicKey) !== selfId) return true
      else mine++
    // Past the presence head the others may not be listed: the relay's count says.
    return (relay?.memberCount(channel) ?? 0) > mine
  }

  /** Resolves once the relay has said which channels there are; rejects if it stops first. */
  private firstWelcome(): Promise<void> {
    const relay = this.conn?.relay
    if (!relay) return Promise.reject(new Error('not started yet'))
    return new Promise((resolve, reject) => {
      const offs = [
        relay.on('welcome', () => {
          for (const off of offs) off()
          resolve()
        }),
        relay.on('state', (s) => {
          if (s !== 'stopped') return
          for (const off of offs) off()
          reject(new Error('stopped'))
        }),
      ]
    })
  }

  private linkedPeers(): number {
    return this.replica?.peer.candidates().length ?? 0
  }

  /** Online, with the relay's presence of `channel` in (its snapshot lists this session itself). */
  private presenceKnown(channel: string): boolean {
    const relay = this.conn?.relay
    if (relay?.state !== 'online') return false
    for (const s of relay.members(channel).values()) if (equalBytes(s.publicKey, this.self)) return true
    return false
  }

  /** Resolves once the relay says who is in `channel` (`presenceKnown`); rejects if it stops first. */
  private untilPresence(channel: string): Promise<void> {
    const relay = this.conn?.relay
    if (!relay) return Promise.reject(new Error('not started yet'))
    if (this.presenceKnown(channel)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (relay.state === 'stopped') {
          for (const off of offs) off()
          reject(new Error('stopped'))
        } else if (this.presenceKnown(channel)) {
          for (const off of offs) off()
          resolve()
        }
      }
      const offs = [relay.on('presence', check), relay.on('state', check)]
    })
  }
}
