/**
 * `SimClient`: a whole network inside the page — the transports' `MemoryRelay` stamping with the
 * engine's `stamp()`, simulated peers with their own keys, and the engine `Replica` the real
 * client holds, over a memory store seeded with really signed history. Used by
 * `pnpm --filter @peerchat/ui-vue dev:sim`, the browser tests and the UI benchmark. Every
 * signature is real (WebCrypto Ed25519 via the default backend).
 */
import {
  eventDigest,
  Identity,
  isValidChannel,
  MemoryStore,
  type PublicKey,
  publicKeyToText,
  Replica,
  realClock,
  type Signer,
  type Source,
  type StampedEvent,
  type Ulid,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { type MemoryLivePort, MemoryRelay } from '@peerchat/transports/memory'
import { PROFILE_CHANNEL } from './base.ts'
import { decodeBody } from './bodies.ts'
import { seededRandom } from './prng.ts'
import { ReplicaClient } from './replica-client.ts'
import { generateHistory } from './sim-history.ts'
import { createPeers, PeerActivity, type SimPeer } from './sim-peers.ts'
import type {
  ChatClient,
  CommunityInfo,
  ConnectionState,
  EventSource,
  Member,
  Outgoing,
  Privilege,
  SyncStatus,
} from './types.ts'
import { lowerBoundById } from './unread.ts'

export interface SimOptions {
  signer: Signer
  name: string
  /** Messages seeded in the first channel (default 2,000). */
  history?: number
  /** Messages seeded in each other channel (default 120). */
  otherHistory?: number
  /**
   * Newest events per channel kept in the local store (default: all). Older ones are held by the
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

export class SimClient extends ReplicaClient implements ChatClient {
  readonly network = 'simulated network'
  private readonly store = new MemoryStore()
  private readonly relay: MemoryRelay
  private readonly random
  /** What the simulated peers hold beyond the local store, per channel in id order (scroll-back pulls from it). */
  private readonly archive = new Map<string, StampedEvent[]>()
  /** The newest message of each channel, which peers reply and react to. */
  private readonly latest = new Map<string, Ulid>()
  private state: ConnectionState = 'connecting'
  private peers: SimPeer[] = []
  private activity: PeerActivity | undefined
  private readonly offs: (() => void)[] = []
  private myTyping: string | null = null
  /** Channels created in this session (the simulated relay accepts any valid name from me). */
  private readonly created: string[] = []
  readonly simulation = { setOnline: (online: boolean) => this.setOnline(online) }

  private constructor(
    private readonly options: SimOptions,
    private readonly relaySigner: Identity,
  ) {
    super(options.name)
    this.random = seededRandom(options.seed ?? 1)
    this.relay = new MemoryRelay({
      signer: relaySigner,
      clock: realClock,
      latencyMs: options.latencyMs ?? 20,
    })
  }

  static async create(options: SimOptions): Promise<SimClient> {
    return new SimClient(options, await Identity.generate())
  }

  get self(): PublicKey {
    return this.options.signer.publicKey
  }

  get relayKey(): PublicKey {
    return this.relaySigner.publicKey
  }

  async start(): Promise<void> {
    this.peers = await createPeers(this.options.peers ?? 5)
    const markers = await this.seedHistory()
    if (this.stopped) return
    const replica = await Replica.open({
      store: this.store,
      relayKeys: [this.relayKey],
      signer: this.options.signer,
    })
    if (this.stopped) return void replica.stop()
    this.hold(replica, this.options.signer)
    for (const { name } of SIM_CHANNELS) {
      this.join(name)
      const marker = markers.get(name)
      if (marker) this.markRead(name, marker)
    }
    const port = this.relay.client()
    this.offs.push(
      port.on('state', (s) => this.setConnection(s === 'online' ? 'online' : 'offline')),
      replica.connect(port),
    )
    // The simulated peers share one connection: the relay takes any author's signed request.
    const peers: MemoryLivePort = this.relay.client()
    this.activity = new PeerActivity({
      submit: (request) => peers.publishSigned(request),
      peers: this.peers,
      channels: SIM_CHANNELS.map((c) => c.name),
      random: this.random,
      meanGapMs: this.options.activityMs ?? 4000,
      latest: (channel) => this.latest.get(channel) ?? null,
      names: () => [this.myName, ...this.peers.map((p) => p.name)],
      presenceChanged: () => this.emitter.emit('members', this.members()),
    })
    this.activity.start()
    // The simulated community is mine: claimed at start, so the admin screens have something to run.
    void this.admin.claim().catch(() => {})
    void this.scanStored()
    this.setConnection(port.state === 'online' ? 'online' : 'offline')
    this.emitter.emit('channels', this.channels())
    this.emitter.emit('members', this.members())
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.activity?.stop()
    for (const off of this.offs.splice(0)) off()
    this.relay.crash()
    void this.release()
    this.setConnection('offline')
    this.emitter.clear()
  }

  connection(): ConnectionState {
    return this.state
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
      this.join(name)
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
      received: { fromRelay: this.replica?.stats.fromRelay ?? 0, fromPeers: 0 },
      peers: this.peers.filter((p) => p.online).map((p) => ({ id: p.id, kind: 'client', link: 'webrtc' })),
      channels: await this.coverageOf(),
      sessions: [],
    }
  }

  protected override topicOf(channel: string): string {
    return SIM_CHANNELS.find((c) => c.name === channel)?.topic ?? ''
  }

  // ---- the simulated network, as ReplicaClient asks for it ----------------------------------

  protected olderElsewhere(channel: string, before: Ulid | undefined): boolean {
    return olderThan(this.archive.get(channel) ?? [], before) > 0
  }

  /** A simulated peer serves a page of what it holds, after `peerDelayMs`. */
  protected async pullOlder(
    channel: string,
    before: Ulid | undefined,
    want: number,
  ): Promise<{ exhausted: boolean }> {
    const held = this.archive.get(channel) ?? []
    const end = olderThan(held, before)
    if (end === 0) return { exhausted: true }
    this.emitter.emit('backfill', { channel, active: true })
    await new Promise((resolve) => setTimeout(resolve, this.options.peerDelayMs ?? 400))
    if (this.stopped || !this.replica) throw new Error('stopped')
    const start = Math.max(0, end - want)
    const peer = this.peers[0]?.id ?? 'unknown'
    const source: Source = { via: 'peer', peer, link: 'webrtc', kind: 'client' }
    await this.replica.open(channel).add(held.slice(start, end), { source })
    return { exhausted: start === 0 }
  }

  protected took(channel: string, events: readonly StampedEvent[], _source: EventSource): void {
    for (const e of events) {
      if (e.kind === Kind.message && e.id > (this.latest.get(channel) ?? '')) this.latest.set(channel, e.id)
      if (e.kind === Kind.profile && channel === PROFILE_CHANNEL) this.applyProfile(e)
    }
  }

  // ---- internals --------------------------------------------------------------------------

  private setConnection(state: ConnectionState): void {
    if (this.state === state) return
    this.state = state
    this.emitter.emit('connection', state)
    this.emitter.emit('members', this.members())
  }

  /** Offline: the relay is out of reach (writes wait in the outbox); back online, they are sent. */
  private setOnline(online: boolean): void {
    if (this.stopped || online === (this.state === 'online')) return
    if (online) this.relay.restart()
    else this.relay.crash()
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

  /**
   * Signs and stamps each channel's history: the newest `localHistory` events go to the store,
   * the rest to the peers' archive. Returns each channel's read marker.
   */
  private async seedHistory(): Promise<Map<string, Ulid>> {
    const authors = [this.options.signer, ...this.peers.map((p) => p.identity)]
    const names = [this.myName, ...this.peers.map((p) => p.name)]
    const now = Date.now()
    const markers = new Map<string, Ulid>()
    for (const [i, { name }] of SIM_CHANNELS.entries()) {
      const count = i === 0 ? (this.options.history ?? 2000) : (this.options.otherHistory ?? 120)
      const events = await generateHistory({
        channel: name,
        count,
        authors,
        names,
        relay: this.relaySigner,
        end: now - 60_000 * (i + 1),
        random: this.random,
      })
      const split = events.length - Math.min(events.length, this.options.localHistory ?? events.length)
      this.archive.set(name, events.slice(0, split))
      await this.store.putMany(
        name,
        events.slice(split).map((event) => ({ event, digest: eventDigest(event) })),
      )
      const messages = events.filter((e) => e.kind === Kind.message)
      const newest = messages[messages.length - 1]
      if (newest) this.latest.set(name, newest.id)
      const marker = messages[messages.length - 1 - (UNREAD_AT_START[name] ?? 0)]
      if (marker) markers.set(name, marker.id)
    }
    return markers
  }
}

/** How many of `held` (sorted by id) are older than `before` (all when undefined). */
function olderThan(held: readonly StampedEvent[], before: Ulid | undefined): number {
  return before === undefined ? held.length : lowerBoundById(held, before)
}
