/**
 * `SimClient`: a whole network inside the page — a simulated relay that stamps with the
 * engine's `stamp()`, simulated peers with their own keys, and a local log seeded with
 * really signed history. Used by `pnpm --filter @peerchat/ui-vue dev:sim`, the browser tests
 * and the UI benchmark. Every signature is real (WebCrypto Ed25519 via the default backend).
 */
import {
  isValidChannel,
  Kind,
  type PublicKey,
  publicKeyToText,
  randomBytes,
  type SignedRequest,
  type Signer,
  type StampedEvent,
  signRequest,
  type Ulid,
  verifyAuthor,
  verifyRelayStamp,
} from '@peerchat/engine'
import { ChatClientBase, PROFILE_CHANNEL } from './base.ts'
import { decodeBody } from './bodies.ts'
import { Coverage } from './coverage.ts'
import { LocalLog } from './local-log.ts'
import { seededRandom } from './prng.ts'
import { generateHistory } from './sim-history.ts'
import { createPeers, PeerActivity, type SimPeer } from './sim-peers.ts'
import { SimRelay } from './sim-relay.ts'
import type {
  ChannelInfo,
  ChatClient,
  CommunityInfo,
  ConnectionState,
  HistoryPage,
  HistoryQuery,
  Member,
  Outgoing,
  Privilege,
  Provenance,
  SyncStatus,
} from './types.ts'

export interface SimOptions {
  signer: Signer
  name: string
  /** Messages seeded in the first channel (default 2,000). */
  history?: number
  /** Messages seeded in each other channel (default 120). */
  otherHistory?: number
  /**
   * Newest events per channel kept in the local log (default: all). Older ones are held by the
   * simulated peers and arrive on scroll-back after `peerDelayMs`, marked as from a peer.
   */
  localHistory?: number
  /** Delay of a history page served by a peer, ms (default 400). */
  peerDelayMs?: number
  /** Simulated peers (default 5). */
  peers?: number
  /** PRNG seed for text, timing and entropy of the simulation (default 1). */
  seed?: number
  /** One-way relay delay, ms (default 20). */
  latencyMs?: number
  /** Mean gap between two peer actions, ms; 0 keeps the peers quiet (default 4,000). */
  activityMs?: number
}

export const SIM_CHANNELS: readonly { name: string; topic: string }[] = [
  { name: 'general', topic: 'Everything and nothing' },
  { name: 'dev', topic: 'Engine, relay and sync' },
  { name: 'design', topic: 'How it looks and feels' },
  { name: 'random', topic: 'Off topic' },
]

/** Channels that start with a few unread messages, so the list shows counts. */
const UNREAD_AT_START: Record<string, number> = { dev: 3, design: 12 }

export class SimClient extends ChatClientBase implements ChatClient {
  readonly network = 'simulated network'
  private readonly log = new LocalLog()
  /** What the simulated peers hold beyond the local log (scroll-back pulls from it). */
  private readonly peerArchive = new LocalLog()
  private readonly readMarkers = new Map<string, Ulid | null>()
  private readonly random
  private state: ConnectionState = 'connecting'
  private peers: SimPeer[] = []
  private activity: PeerActivity | undefined
  private unsubscribeRelay: (() => void) | undefined
  private myName: string
  private myTyping: string | null = null
  /** Channels created in this session (the simulated relay accepts any valid name from me). */
  private readonly created: string[] = []
  private stopped = false
  /** Writes signed while offline, sent (with the same nonce) on reconnect. */
  private readonly outbox: { request: SignedRequest; done: (stamped: Promise<StampedEvent>) => void }[] = []
  /** Live events that happened while offline, caught up on reconnect (what sync would fetch). */
  private missed: StampedEvent[] = []
  readonly simulation = { setOnline: (online: boolean) => this.setOnline(online) }

  private constructor(
    private readonly options: SimOptions,
    private readonly relay: SimRelay,
  ) {
    super()
    this.random = seededRandom(options.seed ?? 1)
    this.myName = options.name
  }

  static async create(options: SimOptions): Promise<SimClient> {
    return new SimClient(options, await SimRelay.create({ latencyMs: options.latencyMs }))
  }

  get self(): PublicKey {
    return this.options.signer.publicKey
  }

  get relayKey(): PublicKey {
    return this.relay.publicKey
  }

  async start(): Promise<void> {
    this.peers = await createPeers(this.options.peers ?? 5)
    await this.seedHistory()
    if (this.stopped) return
    this.unsubscribeRelay = this.relay.subscribe((event) => void this.receive(event))
    this.activity = new PeerActivity({
      relay: this.relay,
      peers: this.peers,
      channels: SIM_CHANNELS.map((c) => c.name),
      random: this.random,
      meanGapMs: this.options.activityMs ?? 4000,
      latest: (channel) =>
        this.log.page(channel, undefined, 1).events.find((e) => e.kind === Kind.message)?.id ?? null,
      names: () => [this.myName, ...this.peers.map((p) => p.name)],
      presenceChanged: () => this.emitter.emit('members', this.members()),
    })
    this.activity.start()
    this.setConnection('online')
    this.emitter.emit('channels', this.channels())
    this.emitter.emit('members', this.members())
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.activity?.stop()
    this.unsubscribeRelay?.()
    this.relay.stop()
    this.setConnection('offline')
    this.emitter.clear()
  }

  connection(): ConnectionState {
    return this.state
  }

  channels(): readonly ChannelInfo[] {
    return [...SIM_CHANNELS, ...this.created.map((name) => ({ name, topic: '' }))].map(({ name, topic }) => ({
      name,
      topic,
      ...this.unreadOf(name),
    }))
  }

  members(): readonly Member[] {
    const me: Member = {
      key: this.self,
      id: publicKeyToText(this.self),
      name: this.myName,
      online: this.state === 'online',
      privileges: ['admin', 'post', 'create-channel'] satisfies Privilege[],
      typingIn: this.myTyping,
    }
    const others = this.peers.map(
      (p): Member => ({
        key: p.identity.publicKey,
        id: p.id,
        name: p.name,
        online: p.online,
        privileges: p.privileges,
        typingIn: p.typingIn,
      }),
    )
    return [me, ...others]
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    query.signal?.throwIfAborted()
    const local = this.log.page(channel, query.before, query.limit)
    const missing = query.limit - local.events.length
    if (!local.complete || missing === 0 || this.peerArchive.size(channel) === 0) {
      return { events: local.events, complete: local.complete && this.peerArchive.size(channel) === 0 }
    }
    // The local log ran out: ask a peer for the rest of the page (like range sync on scroll-back).
    const before = local.events[0]?.id ?? query.before
    const remote = this.peerArchive.page(channel, before, missing)
    this.emitter.emit('backfill', { channel, active: true })
    try {
      await new Promise((resolve) => setTimeout(resolve, this.options.peerDelayMs ?? 400))
    } finally {
      this.emitter.emit('backfill', { channel, active: false })
    }
    query.signal?.throwIfAborted()
    const peer = this.peers[0]?.id ?? 'unknown'
    for (const e of remote.events) this.log.add(e, { via: 'peer', peer })
    return { events: [...remote.events, ...local.events], complete: remote.complete }
  }

  markRead(channel: string, upTo: Ulid): void {
    const current = this.readMarkers.get(channel)
    if (current && current >= upTo) return
    this.readMarkers.set(channel, upTo)
    this.emitter.emit('channels', this.channels())
  }

  async provenance(channel: string, id: Ulid): Promise<Provenance | undefined> {
    const stored = this.log.get(id)
    if (!stored || stored.event.channel !== channel) return undefined
    const [authorSignature, relayStamp] = await Promise.all([
      verifyAuthor(stored.event),
      verifyRelayStamp(stored.event, this.relay.publicKey),
    ])
    return { id, authorSignature, relayStamp, source: stored.source }
  }

  setTyping(channel: string | null): void {
    if (this.myTyping === channel) return
    this.myTyping = channel
    this.emitter.emit('members', this.members())
  }

  community(): CommunityInfo {
    return { access: 'open', canCreateChannels: true }
  }

  async createChannel(name: string): Promise<Outgoing> {
    if (!isValidChannel(name))
      throw new RangeError(
        'A channel name is 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit.',
      )
    if (this.channels().some((c) => c.name === name)) throw new RangeError(`#${name} exists already.`)
    const outgoing = await this.publish(name, Kind.channelCreate, new Uint8Array(0))
    void outgoing.stamped.then(() => {
      if (this.stopped || this.created.includes(name)) return
      this.created.push(name)
      this.emitter.emit('channels', this.channels())
    })
    return outgoing
  }

  /** The simulation has no transports: peers are the simulated ones online, every byte local. */
  async syncStatus(): Promise<SyncStatus> {
    const zero = { bytesIn: 0, bytesOut: 0 }
    return {
      connection: this.state,
      network: this.network,
      relay: { ...zero, reconnects: 0, rejectedEvents: 0 },
      webrtc: zero,
      forwarded: zero,
      served: { events: 0, bytes: 0 },
      received: { fromRelay: 0, fromPeers: 0 },
      peers: this.peers.filter((p) => p.online).map((p) => ({ id: p.id, kind: 'client', link: 'webrtc' })),
      channels: this.channels().map(({ name }) => {
        const { events } = this.log.page(name, undefined, Number.MAX_SAFE_INTEGER)
        const coverage = new Coverage()
        for (const e of events) coverage.note(name, this.log.get(e.id)?.source ?? { via: 'local' })
        return {
          channel: name,
          held: events.length,
          oldest: events[0]?.ts ?? null,
          newest: events[events.length - 1]?.ts ?? null,
          sources: coverage.sources(name),
        }
      }),
      sessions: [],
    }
  }

  protected async publish(channel: string, kind: string, body: Uint8Array): Promise<Outgoing> {
    const request = await signRequest(this.options.signer, {
      channel,
      kind,
      clientNonce: randomBytes(16),
      body,
    })
    const stamped =
      this.state === 'online'
        ? this.relay.submit(request)
        : new Promise<StampedEvent>((resolve, reject) =>
            this.outbox.push({ request, done: (p) => p.then(resolve, reject) }),
          )
    const outgoing: Outgoing = { request, stamped }
    this.emitter.emit('outgoing', outgoing)
    return outgoing
  }

  private setConnection(state: ConnectionState): void {
    if (this.state === state) return
    this.state = state
    this.emitter.emit('connection', state)
  }

  /** Live events: verify the relay's stamp like a peer would, store once, tell the UI. */
  private setOnline(online: boolean): void {
    if (this.stopped || online === (this.state === 'online')) return
    if (!online) {
      this.setConnection('offline')
      this.emitter.emit('members', this.members())
      return
    }
    this.setConnection('online')
    this.emitter.emit('members', this.members())
    const missed = this.missed
    this.missed = []
    for (const event of missed) void this.receive(event)
    for (const { request, done } of this.outbox.splice(0)) done(this.relay.submit(request))
  }

  private async receive(event: StampedEvent): Promise<void> {
    if (this.state === 'offline') {
      this.missed.push(event)
      return
    }
    if (!(await verifyRelayStamp(event, this.relay.publicKey))) return
    if (this.stopped || !this.log.add(event, { via: 'relay' })) return
    if (event.channel === PROFILE_CHANNEL) return this.applyProfile(event)
    this.emitter.emit('event', { event, source: { via: 'relay' } })
    if (event.kind === Kind.message) this.emitter.emit('channels', this.channels())
  }

  private applyProfile(event: StampedEvent): void {
    try {
      const body = decodeBody(event.kind, event.body)
      if (body.kind !== Kind.profile) return
      const id = publicKeyToText(event.author)
      if (id === publicKeyToText(this.self)) this.myName = body.name
      const peer = this.peers.find((p) => p.id === id)
      if (peer) peer.name = body.name
      this.emitter.emit('members', this.members())
    } catch {
      // A malformed profile is ignored; the previous name stays.
    }
  }

  private unreadOf(channel: string): { unread: number; mentions: number } {
    const marker = this.readMarkers.get(channel) ?? null
    return this.log.unread(channel, marker, publicKeyToText(this.self), `@${this.myName}`)
  }

  private async seedHistory(): Promise<void> {
    const authors = [this.options.signer, ...this.peers.map((p) => p.identity)]
    const names = [this.myName, ...this.peers.map((p) => p.name)]
    const now = Date.now()
    for (const [i, { name }] of SIM_CHANNELS.entries()) {
      const count = i === 0 ? (this.options.history ?? 2000) : (this.options.otherHistory ?? 120)
      const events = await generateHistory({
        channel: name,
        count,
        authors,
        names,
        relay: this.relay.signer,
        end: now - 60_000 * (i + 1),
        random: this.random,
      })
      const keep = this.options.localHistory ?? events.length
      events.forEach((e, j) => {
        if (j >= events.length - keep) this.log.add(e, { via: 'local' })
        else this.peerArchive.add(e, { via: 'local' })
      })
      const unreadAtStart = UNREAD_AT_START[name] ?? 0
      const messages = events.filter((e) => e.kind === Kind.message)
      this.readMarkers.set(name, messages[messages.length - 1 - unreadAtStart]?.id ?? null)
    }
  }
}
