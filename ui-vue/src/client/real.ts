/**
 * `RealClient`: the chat on the real network, assembled by the transports' `connectPeer` —
 * the relay (login, live stamped events, signed presence, stamping with an outbox), the WebRTC
 * mesh through the relay's signaling path (with relay forwarding as the fallback), and the
 * engine's Peer holding each channel's log in a Store. History comes from the Store first and
 * from other peers when it runs out (`PeerSync`); the relay keeps none.
 */
import {
  type ChannelLog,
  Kind,
  MemoryStore,
  type PublicKey,
  publicKeyToText,
  randomBytes,
  type Session,
  type Signer,
  type StampedEvent,
  type Store,
  signRequest,
  type Ulid,
  verifyAuthor,
  verifyRelayStamp,
} from '@peerchat/engine'
import { type Connected, connectPeer } from '@peerchat/transports/connect'
import { ChatClientBase, PROFILE_CHANNEL } from './base.ts'
import { Directory } from './directory.ts'
import { LocalLog } from './local-log.ts'
import { PeerSync } from './peer-sync.ts'
import type { RelayConfig } from './relay-config.ts'
import type {
  ChannelInfo,
  ChatClient,
  ConnectionState,
  EventSource,
  HistoryPage,
  HistoryQuery,
  Member,
  Outgoing,
  Provenance,
} from './types.ts'
import { TYPING_FIELD, typingFromStates } from './typing.ts'

/** Newest events per channel read from the Store at start for unread counts (default 5,000). */
export const UNREAD_SCAN_MAX = 5_000
/** Ids of relay deliveries remembered until their log add lands (default 10,000; then forgotten). */
export const RELAY_IDS_MAX = 10_000

export interface RealOptions {
  signer: Signer
  name: string
  config: RelayConfig
  /**
   * Where the channel logs live; the client closes it on stop. Default: a MemoryStore (history
   * is rebuilt from peers on every load); the app passes the IndexedDB store.
   */
  store?: Store
}

export class RealClient extends ChatClientBase implements ChatClient {
  readonly network: string
  private readonly store: Store
  /** Sources of the events seen this session (provenance) and per-channel order (unread counts). */
  private readonly index = new LocalLog()
  private readonly directory = new Directory()
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
  private myTyping: string | null = null
  /** Others' typing hints (awareness, checked against presence): key text -> channel. */
  private typing: ReadonlyMap<string, string> = new Map()
  private channelsQueued = false
  private stopped = false

  constructor(private readonly options: RealOptions) {
    super()
    this.network = options.config.url
    this.store = options.store ?? new MemoryStore()
    this.myName = options.name
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
    })
    if (this.stopped) {
      await connected.stop()
      return this.store.close()
    }
    this.connected = connected
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
    this.watchTyping()
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
    const connected = this.connected
    void (async () => {
      await connected?.stop()
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

  members(): readonly Member[] {
    const relay = this.connected?.relay
    const sessions: Session[] = []
    for (const c of this.joined) sessions.push(...(relay?.members(c).values() ?? []))
    return this.directory.members(
      {
        key: this.self,
        name: this.myName,
        online: this.connection() === 'online',
        privileges: relay?.session?.value.privileges ?? 0,
        typingIn: this.myTyping,
      },
      sessions,
      this.typing,
    )
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
    for (const e of events) this.index.add(e, { via: 'local' })
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

  override setProfile(name: string): Promise<Outgoing> {
    this.myName = name
    return super.setProfile(name)
  }

  // ---- internals -------------------------------------------------------------------------

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
      this.index.add(e, { via: 'local' })
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
      this.index.add(event, source)
      if (event.kind === Kind.profile) names = this.directory.addProfile(event) || names
      this.emitter.emit('event', { event, source })
    }
    if (names) this.emitter.emit('members', this.members())
    if (events.some((e) => e.kind === Kind.message)) this.queueChannels()
  }

  /** Typing hints from the mesh's awareness; re-read on every change of it or of presence. */
  private watchTyping(): void {
    const awareness = this.connected?.mesh?.awareness
    if (!awareness) return
    const refresh = (): void => {
      const online = new Set(this.members().flatMap((m) => (m.online ? [m.id] : [])))
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
