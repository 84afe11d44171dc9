/**
 * What both clients share: they hold an engine `Replica` and turn its changes into what the UI
 * shows. History is read from the Replica's store at once; older history is asked from peers
 * in the background (`pullOlder`, the client's network), and arrives as changes. Writes are
 * the Replica's local-first writes: pending at once, stamped or refused later. Where an event
 * came from is the change's `source`; unread badges are counted from the store and the changes.
 * The clients differ only in their network: the real relay and mesh, or the simulation's.
 */
import {
  type Change,
  type ChannelLog,
  isPrivateChannel,
  kindsAllowedIn,
  type MeshPort,
  publicKeyFromText,
  publicKeyToText,
  type Replica,
  type Signer,
  type Source,
  type StampedEvent,
  type Ulid,
  verifyAuthor,
  verifyRelayStamp,
  type Write,
} from '@peerchat/engine'
import { ADMIN_CHANNEL, type AdminKind, Kind } from '@peerchat/engine/chat'
import type { BlobSeal, MlsStorage } from '@peerchat/engine/mls'
import { hueOf } from '../lib/format.ts'
import { AdminRefusedError, CommunityAdmin } from './admin.ts'
import { ChatClientBase, PROFILE_CHANNEL } from './base.ts'
import type { DocCache } from './canvas.ts'
import { Coverage } from './coverage.ts'
import type { PrivateChats } from './private.ts'
import type { Remembered } from './remembered.ts'
import { rolesOf } from './roles.ts'
import { LocalSearch, type SearchStorage } from './search.ts'
import type {
  CanvasSession,
  ChannelCoverage,
  ChannelInfo,
  ConversationsState,
  EventSource,
  HistoryPage,
  HistoryQuery,
  Member,
  Outgoing,
  Provenance,
  SearchResults,
} from './types.ts'
import { UNREAD_MAX, UnreadCounts } from './unread.ts'

/** Newest events per channel read from the store at start for unread counts and names (default 5,000). */
export const UNREAD_SCAN_MAX = UNREAD_MAX
/** Ids whose source (relay, which peer) is remembered for the trust panel (default 10,000; oldest forgotten). */
export const SOURCES_MAX = 10_000
/**
 * Longest the unread scan of the stored channels waits for the first history page (default
 * 1 s): the page the user looks at is read first, the badges right after.
 */
export const SCAN_DELAY_MS = 1_000
/** Then how long it leaves that page to render before reading and decoding thousands of events (default 200 ms). */
export const SCAN_AFTER_PAGE_MS = 200
/** Events of the scan handled between two yields to the page (default 250). */
export const SCAN_SLICE = 250
/** Events asked of peers per round when fetching older history for search (default 1,000)... */
export const FETCH_PAGE = 1_000
/** ...and rounds per channel at most (default 200: 200,000 events). */
export const FETCH_ROUNDS_MAX = 200

/**
 * Where events came from, as the trust panel names it: this device's store and own writes are
 * `local`; a peer is named by its key (the engine's source carries it once the link attested it).
 */
export function sourceOf(s: Source): EventSource {
  if (s.via === 'peer') return { via: 'peer', peer: s.peer, link: s.link }
  return s.via === 'relay' ? { via: 'relay' } : { via: 'local' }
}

const LOCAL: EventSource = { via: 'local' }
/** Channels of encrypted groups, their key packages and Welcomes: never shown as they are. */
const isMlsChannel = (channel: string): boolean => kindsAllowedIn(channel) !== undefined
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Sorts after every ULID: "older than the newest" when a history query has no `before`. */
const NEWEST = '~'

export abstract class ReplicaClient extends ChatClientBase {
  protected replica: Replica | undefined
  /** The channels listed (in order); others may be open for writes (a channel being created). */
  protected readonly joined: string[] = []
  protected readonly coverage = new Coverage()
  protected myName: string
  protected stopped = false
  private unreadCounts: UnreadCounts | undefined
  private readonly watched = new Map<string, () => void>()
  /** Source of the events that came from the network this session (stored ones are `local`). */
  private readonly sources = new Map<Ulid, EventSource>()
  /** Per channel: nothing older than this id can be had from peers (NEWEST: nothing at all). */
  private readonly noOlder = new Map<string, string>()
  private readonly pulls = new Set<string>()
  private channelsQueued = false
  private adminCore: CommunityAdmin | undefined
  /** Resolves once the stored admin log is folded (immediately before `hold`). */
  private adminLoaded: Promise<void> = Promise.resolve()
  private offAdmin: (() => void) | undefined
  private firstPage: (() => void) | undefined
  private readonly firstPageShown = new Promise<void>((resolve) => {
    this.firstPage = resolve
  })
  private searchCore: LocalSearch | undefined
  /** Encrypted conversations (loaded after the start: the MLS code is a lazy chunk). */
  private privateChats: PrivateChats | undefined
  private privateOpening: Promise<PrivateChats | undefined> = Promise.resolve(undefined)
  private privateState: ConversationsState = 'loading'
  /** Lets go of this tab's hold on the encrypted conversations (stop). */
  private releasePrivate: () => void = () => {}
  private readonly stopping = new AbortController()
  private readonly flushSearch = (): void => {
    if (globalThis.document?.visibilityState === 'hidden') void this.searchCore?.flush()
  }

  /**
   * `remembered`: where read markers outlive the page, so that a return counts nothing already
   * read, from its first frame (none: they last as long as the client).
   */
  constructor(
    name: string,
    protected readonly remembered?: Remembered,
  ) {
    super()
    this.myName = name
  }

  // ---- what a client supplies -------------------------------------------------------------

  /**
   * Asks peers for up to `want` events older than `before` (the newest when undefined), which
   * arrive as changes. `exhausted`: nobody has anything older (the start of the channel).
   * May wait (for the network) and throw once stopped.
   */
  protected abstract pullOlder(
    channel: string,
    before: Ulid | undefined,
    want: number,
  ): Promise<{ exhausted: boolean }>

  /** Whether anyone may hold events of `channel` older than `before` (false: do not ask). */
  protected abstract olderElsewhere(channel: string, before: Ulid | undefined): boolean

  /** New events in a channel, from the network or the store scan (profiles, attachments). */
  protected abstract took(channel: string, events: readonly StampedEvent[], source: EventSource): void

  protected topicOf(_channel: string): string {
    return ''
  }

  abstract members(): readonly Member[]

  /** Who may join before any `access.set`, as the relay says (undefined: the fold's default). */
  protected initialAccess(): 'open' | 'invite' | undefined {
    return undefined
  }

  /** Where invite links point (the community's page); undefined: this page. */
  protected linkBase(): string | undefined {
    return undefined
  }

  // ---- canvases ---------------------------------------------------------------------------

  /** Where the cursors of open canvases travel (none by default). */
  protected canvasPorts(): MeshPort[] {
    return []
  }

  /** Where built canvases are cached on this device (none by default: rebuilt from the log). */
  protected canvasCache(): Promise<DocCache | undefined> {
    return Promise.resolve(undefined)
  }

  /** Where the search index is kept on this device (none by default: built again on each start). */
  protected searchStorage(): Promise<SearchStorage | undefined> {
    return Promise.resolve(undefined)
  }

  /** Where encrypted conversations are kept on this device (none by default: in memory). */
  protected mlsStorage(): Promise<MlsStorage | undefined> {
    return Promise.resolve(undefined)
  }

  /** Keys (text) whose shown name or key starts with `name` (lower case), for `from:` and `mentions:`. */
  protected peopleNamed(name: string): Set<string> {
    const out = new Set<string>()
    if (name === 'me') out.add(publicKeyToText(this.self))
    for (const m of this.members())
      if (m.name.toLowerCase().startsWith(name) || m.id.toLowerCase().startsWith(name)) out.add(m.id)
    return out
  }

  /** The name shown for a key (text) at a cursor or in a history. */
  protected displayName(key: string): string {
    return this.members().find((m) => m.id === key)?.name ?? `${key.slice(0, 8)}…`
  }

  /** Opens the channel's canvas; its code (Yjs, the document engine) loads on the first call. */
  async openCanvas(channel: string): Promise<CanvasSession> {
    if (!this.replica) throw new Error('not started yet')
    const replica = this.replica
    // Edits are judged by the roles: the stored admin log is folded first.
    await this.adminLoaded
    const [{ openCanvas }, cache] = await Promise.all([import('./canvas.ts'), this.canvasCache()])
    const admin = this.admin
    return openCanvas({
      replica,
      channel,
      authorize: (e) => admin.allowsEdit(e),
      whyNotEdit: () => admin.whyNotEdit(channel),
      nameOf: (key) => this.displayName(publicKeyToText(key)),
      // A person's cursor has their avatar's colour.
      colorOf: (key) => {
        const hue = hueOf(publicKeyToText(key))
        return { color: `hsl(${hue} 55% 45%)`, colorLight: `hsl(${hue} 55% 45% / 0.22)` }
      },
      ports: this.canvasPorts(),
      ...(cache ? { cache } : {}),
    })
  }

  /** The community's admin state and actions, folded from the `admin` channel. */
  get admin(): CommunityAdmin {
    this.adminCore ??= new CommunityAdmin({
      self: this.self,
      write: (kind, body) => this.writeAdmin(kind, body),
      changed: () => {
        if (this.stopped) return
        this.emitter.emit('admin', undefined)
        this.emitter.emit('members', this.members())
      },
      people: () => this.members().map((m) => m.id),
      linkBase: () => this.linkBase() ?? globalThis.location?.href.split('#')[0] ?? '',
      initialAccess: () => this.initialAccess(),
    })
    return this.adminCore
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Holds `replica`: follows every channel it has open (stored, or with writes waiting). */
  protected hold(replica: Replica, signer: Signer): void {
    this.replica = replica
    this.unreadCounts = new UnreadCounts(this.self, this.remembered?.markers())
    for (const channel of replica.channels) if (channel !== ADMIN_CHANNEL) this.watch(channel)
    this.startPrivate(replica, signer)
    // The admin log, whole (it is small): stored events first, then every change, folded.
    const admin = this.admin
    this.adminLoaded = replica
      .subscribe(
        ADMIN_CHANNEL,
        (change) => {
          if (change.added.length > 0) admin.take(change.added)
          if (change.replaced.length > 0) admin.drop(change.replaced)
        },
        { replay: true },
      )
      .then((off) => {
        if (this.stopped) off()
        else this.offAdmin = off
      })
      .then(() => admin.take([]))
      .catch(() => {}) // the store closed under a stop: nothing to show any more
    this.startSearch(replica)
  }

  /**
   * The local search index: it loads once the stored admin log is folded (redactions are judged
   * by roles) and the first page is shown; every change of a channel reaches it from now on.
   */
  private startSearch(replica: Replica): void {
    const indexed = (c: string) => c !== ADMIN_CHANNEL && c !== PROFILE_CHANNEL && !isMlsChannel(c)
    this.searchCore = new LocalSearch({
      roles: rolesOf(this),
      names: { keysOf: (name) => this.peopleNamed(name), nameOf: (key) => this.displayName(key) },
      channels: () => replica.channels.filter(indexed),
      log: (channel) => replica.open(channel),
      storage: () => this.searchStorage(),
      after: Promise.all([this.adminLoaded, Promise.race([this.firstPageShown, sleep(SCAN_DELAY_MS)])]),
      onProgress: (p) => {
        if (!this.stopped) this.emitter.emit('search', p)
      },
    })
    globalThis.document?.addEventListener('visibilitychange', this.flushSearch)
  }

  /** The device's encrypted conversations: kept, followed, their plaintexts shown as events. */
  private startPrivate(replica: Replica, signer: Signer): void {
    this.privateOpening = (async () => {
      // One tab at a time holds the MLS state (two would use the same keys): wait for the others.
      this.releasePrivate = await this.exclusive(() => {
        this.privateState = 'elsewhere'
        this.queueChannels()
      }, this.stopping.signal)
      this.privateState = 'loading'
      const [{ openPrivateChats }, storage] = await Promise.all([import('./private.ts'), this.mlsStorage()])
      const chats = await openPrivateChats({ replica, signer, ...(storage ? { storage } : {}) })
      if (this.stopped) {
        chats.core.close()
        return undefined
      }
      this.privateChats = chats
      chats.core.on({
        plain: (channel, plain) => {
          if (this.stopped) return
          const events = plain.map((p) => chats.toStamped(channel, p))
          if (this.unreadCounts?.add(channel, events)) this.queueChannels()
          for (const event of events) {
            const source = this.sources.get(event.id) ?? LOCAL
            this.took(channel, [event], source)
            this.emitter.emit('event', { event, source })
          }
        },
        changed: (channel) => {
          this.watch(channel)
          this.queueChannels()
        },
        error: (channel, e) =>
          console.warn(`could not keep the encrypted messages of ${channel}: ${e.message}`),
      })
      for (const c of chats.list()) this.watch(c.channel)
      this.queueChannels()
      return chats
    })()
      .then((chats) => {
        this.privateState = chats ? 'ready' : 'unavailable'
        return chats
      })
      .catch((e: Error) => {
        if (!this.stopped) console.warn(`encrypted conversations unavailable: ${e.message}`)
        this.privateState = 'unavailable'
        return undefined
      })
      .finally(() => this.queueChannels())
  }

  conversationsState(): ConversationsState {
    return this.privateState
  }

  /**
   * Resolves once this tab may hold the device's encrypted conversations (calling `waiting` if
   * another tab holds them now), with the function that lets go. Default: at once (nothing shared).
   */
  protected exclusive(_waiting: () => void, _signal: AbortSignal): Promise<() => void> {
    return Promise.resolve(() => {})
  }

  /**
   * Lists a channel (idempotent); it is followed from now on. Encrypted groups' channels (stored
   * ones, at a restart) are not chat channels: conversations are listed from `privateChats`.
   */
  protected join(channel: string): void {
    if (channel === ADMIN_CHANNEL || isMlsChannel(channel) || this.joined.includes(channel)) return
    this.joined.push(channel)
    this.watch(channel)
    this.queueChannels()
  }

  /**
   * Reads the newest stored events of every listed channel once, for unread badges and names:
   * `first` channels at once, the others after the first history page (or SCAN_DELAY_MS). Until
   * then a return shows the read markers and names remembered from its last visit (remembered.ts).
   */
  protected async scanStored(first: readonly string[] = []): Promise<void> {
    const rest = this.joined.filter((c) => !first.includes(c))
    for (const channel of first) await this.scan(channel)
    await Promise.race([this.firstPageShown, sleep(SCAN_DELAY_MS)])
    await sleep(SCAN_AFTER_PAGE_MS)
    for (const channel of rest) await this.scan(channel)
  }

  /** Stops following the replica and stops it (the store is the caller's). */
  protected async release(): Promise<void> {
    for (const off of this.watched.values()) off()
    this.watched.clear()
    this.offAdmin?.()
    globalThis.document?.removeEventListener('visibilitychange', this.flushSearch)
    this.stopping.abort()
    this.releasePrivate()
    if (this.privateState !== 'elsewhere') (await this.privateOpening)?.core.close()
    await this.searchCore?.stop()
    await this.replica?.stop()
  }

  // ---- the ChatClient surface ---------------------------------------------------------------

  channels(): readonly ChannelInfo[] {
    const mention = `@${this.myName}`
    const counts = (name: string) => this.unreadCounts?.counts(name, mention) ?? { unread: 0, mentions: 0 }
    const chats = this.privateChats
    const conversations = (chats?.list() ?? []).map((c) => ({
      name: c.channel,
      topic: '',
      ...counts(c.channel),
      private: chats!.info(c.channel)!,
    }))
    return [
      ...this.joined
        .filter((name) => name !== PROFILE_CHANNEL)
        .map((name) => ({ name, topic: this.topicOf(name), ...counts(name) })),
      ...conversations,
    ]
  }

  /** Starts a direct message (`title` absent) or a private channel with `members` (keys as text); resolves with its channel. */
  async createConversation(members: readonly string[], title?: string): Promise<string> {
    const channel = await (await this.chats()).create(title ? 'private' : 'direct', members, title)
    this.watch(channel)
    this.queueChannels()
    return channel
  }

  async addMembers(channel: string, members: readonly string[]): Promise<void> {
    await (await this.chats()).add(channel, members)
  }

  async removeMembers(channel: string, members: readonly string[]): Promise<void> {
    await (await this.chats()).remove(channel, members)
  }

  /** Why I cannot write in `channel` (removed from the conversation, or the admin's reason), or null. */
  whyNotPost(channel: string): string | null {
    if (isPrivateChannel(channel)) {
      if (this.privateState === 'elsewhere')
        return 'Your encrypted conversations are open in another tab of this browser (one tab at a time holds their keys): use that tab, or close it.'
      const info = this.privateChats?.info(channel)
      if (!info) return 'This conversation is still loading.'
      if (!info.member) return 'You are no longer in this conversation: you were removed.'
      return null
    }
    return this.admin.whyNotPost(channel)
  }

  /** The seal of an encrypted conversation's attachment (blob digest in hex), if one. */
  protected sealOf(digest: string): BlobSeal | undefined {
    return this.privateChats?.sealOf(digest)
  }

  private async chats(): Promise<PrivateChats> {
    const chats = await this.privateOpening
    if (!chats) throw new Error('encrypted conversations are not available on this device')
    return chats
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryPage> {
    query.signal?.throwIfAborted()
    // The stored admin log is folded first (a local read): a banned author's stored posts never show.
    await this.adminLoaded
    if (isPrivateChannel(channel)) {
      // What this device decrypted or sent is all it can read: nobody else holds the plaintext.
      const chats = this.privateState === 'elsewhere' ? undefined : await this.privateOpening
      this.watch(channel)
      const events = (await chats?.page(channel, query.before, query.limit)) ?? []
      this.firstPage?.()
      return { events, complete: events.length < query.limit }
    }
    const log = this.watch(channel)
    const events = (
      await log.range(query.before ? { lt: query.before } : {}, { limit: query.limit, reverse: true })
    ).reverse()
    query.signal?.throwIfAborted()
    this.firstPage?.()
    // A channel's `channel.create` is its first event (the relay stamps nothing in a channel
    // before it exists): holding it, nothing older is to be had from anyone.
    if (events[0]?.kind === Kind.channelCreate) return { events: this.allowed(events), complete: true }
    if (events.length >= query.limit) return { events: this.allowed(events), complete: false }
    const before = events[0]?.id ?? query.before
    const known = this.noOlder.get(channel)
    if ((known !== undefined && (before ?? NEWEST) <= known) || !this.olderElsewhere(channel, before))
      return { events: this.allowed(events), complete: true }
    this.pull(channel, before, query.limit - events.length)
    return { events: this.allowed(events), complete: false }
  }

  async search(text: string, opts: { before?: Ulid } = {}): Promise<SearchResults> {
    if (!this.searchCore) throw new Error('not started yet')
    const results = this.searchCore.search(text, opts)
    // As in the history: only what its author could post at its relay time.
    const admin = this.admin
    const hits = results.hits.filter(({ doc }) =>
      admin.couldPost(publicKeyFromText(doc.author), doc.channel, doc.ts),
    )
    return { ...results, hits }
  }

  /**
   * Asks peers for everything older than what this device holds, channel by channel, so that
   * search covers the whole history (it arrives as changes and is indexed like any other).
   * `onProgress` gets the events added so far; stops early on `signal`.
   */
  async fetchOlderHistory(
    onProgress?: (p: { channel: string; added: number }) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    let added = 0
    for (const channel of this.joined) {
      if (channel === PROFILE_CHANNEL) continue
      const log = this.watch(channel)
      for (let round = 0; round < FETCH_ROUNDS_MAX; round++) {
        if (this.stopped || signal?.aborted) return added
        const before = (await log.range({}, { limit: 1 }))[0]?.id
        if (!this.olderElsewhere(channel, before)) break
        const held = await log.count()
        let exhausted: boolean
        try {
          ;({ exhausted } = await this.pullOlder(channel, before, FETCH_PAGE))
        } catch {
          break // stopped, or nobody to ask now
        }
        const now = await log.count()
        added += Math.max(0, now - held)
        onProgress?.({ channel, added })
        if (exhausted || now === held) break
      }
    }
    return added
  }

  writes(channel: string): readonly Write[] {
    const writes = this.replica?.writes(channel) ?? []
    if (!isPrivateChannel(channel)) return writes
    return writes.flatMap((w) => this.privateChats?.plainWrite(w) ?? [])
  }

  async retry(key: string): Promise<void> {
    await this.replica?.retry(key)
  }

  async discard(key: string): Promise<void> {
    await this.replica?.discard(key)
  }

  markRead(channel: string, upTo: Ulid): void {
    if (!this.unreadCounts?.markRead(channel, upTo)) return
    this.remembered?.markRead(channel, upTo)
    this.queueChannels()
  }

  async provenance(channel: string, id: Ulid): Promise<Provenance | undefined> {
    const log = this.replica?.peer.log(channel)
    const [event] = (await log?.range({ gte: id }, { limit: 1 })) ?? []
    if (event?.id !== id || !this.replica) return undefined
    const [authorSignature, relayStamp] = await Promise.all([
      verifyAuthor(event),
      verifyRelayStamp(event, this.relayKey),
    ])
    return { id, authorSignature, relayStamp, source: this.sources.get(id) ?? LOCAL }
  }

  abstract get relayKey(): Uint8Array
  abstract get self(): Uint8Array

  // ---- for the clients --------------------------------------------------------------------

  /** Signs and queues a write (local-first: shown as pending at once, kept until stamped). */
  protected async publish(channel: string, kind: string, body: Uint8Array): Promise<Outgoing> {
    if (!this.replica) throw new Error('not started yet')
    if (isPrivateChannel(channel)) return this.publishPrivate(channel, kind, body)
    // Refused here, with the reason, rather than by the relay: banned, timed out, read-only.
    const why = this.admin.whyNotPost(channel)
    if (why) throw new AdminRefusedError(why, 'may-not-post')
    this.watch(channel)
    const write = await this.replica.write(channel, kind, body)
    const stamped = this.replica.stamped(write)
    stamped.catch(() => {}) // refusals reach the UI as the write's `failed` state
    return { key: write.key, request: write.request, stamped }
  }

  /** Encrypts a chat event for a conversation's members; the UI sees its plaintext throughout. */
  private async publishPrivate(channel: string, kind: string, body: Uint8Array): Promise<Outgoing> {
    const why = this.whyNotPost(channel)
    if (why) throw new AdminRefusedError(why, 'may-not-post')
    const chats = await this.chats()
    this.watch(channel)
    const write = await chats.core.send(channel, kind, body)
    // The Replica announced the write as pending before `send` noted its plaintext, so
    // `changedMls` could not show it then: it is announced here (a pending row at once).
    const shown = write.state === 'pending' ? chats.plainWrite(write) : undefined
    if (shown) this.emitter.emit('write', shown)
    const stamped = this.replica!.stamped(write).then((e) => ({ ...e, kind, body }))
    stamped.catch(() => {})
    return { key: write.key, request: { ...write.request, kind, body }, stamped }
  }

  /** The events whose authors could post them then (the admin fold's `mayPost`): peers enforce bans too. */
  private allowed(events: StampedEvent[]): StampedEvent[] {
    const admin = this.admin
    return events.filter((e) => admin.allows(e))
  }

  /** Signs and queues an admin event (followed by the admin fold, not by a channel view). */
  private async writeAdmin(kind: AdminKind, body: Uint8Array): Promise<Outgoing> {
    if (!this.replica) throw new Error('not started yet')
    const write = await this.replica.write(ADMIN_CHANNEL, kind, body)
    const stamped = this.replica.stamped(write)
    stamped.catch(() => {})
    return { key: write.key, request: write.request, stamped }
  }

  /**
   * The channel is new (the relay said so when it took this device's `channel.create`): nothing
   * older than what is held can exist, so the UI shows its beginning now instead of waiting for
   * peers to say they hold nothing (a `backfill` end makes it ask again).
   */
  protected knownStart(channel: string): void {
    this.noOlder.set(channel, NEWEST)
    if (!this.stopped) this.emitter.emit('backfill', { channel, active: false })
  }

  /** Nothing is known to be missing any more (a peer appeared): older history is worth asking again. */
  protected forgetExhausted(): void {
    this.noOlder.clear()
  }

  /** What each listed channel holds and where this session's events came from. */
  protected async coverageOf(): Promise<ChannelCoverage[]> {
    const out: ChannelCoverage[] = []
    for (const channel of this.joined) {
      const log = this.replica?.peer.log(channel)
      if (!log) continue
      const [held, [oldest], [newest]] = await Promise.all([
        log.count(),
        log.range({}, { limit: 1 }),
        log.range({}, { limit: 1, reverse: true }),
      ])
      out.push({
        channel,
        held,
        oldest: oldest?.ts ?? null,
        newest: newest?.ts ?? null,
        sources: this.coverage.sources(channel),
      })
    }
    return out
  }

  /** Unread counts changed: one `channels` update per burst. */
  protected queueChannels(): void {
    if (this.channelsQueued) return
    this.channelsQueued = true
    queueMicrotask(() => {
      this.channelsQueued = false
      if (!this.stopped) this.emitter.emit('channels', this.channels())
    })
  }

  // ---- internals --------------------------------------------------------------------------

  /** The channel's log, followed (changes reach the UI) from the first call on. */
  private watch(channel: string): ChannelLog {
    const replica = this.replica
    if (!replica) throw new Error('not started yet')
    const log = replica.open(channel)
    if (!this.watched.has(channel)) {
      // No replay: the store is read by pages (history) and once for the badges (scan).
      let off = (): void => {}
      this.watched.set(channel, () => off())
      void replica
        .subscribe(channel, (change) => this.changed(change), { replay: false })
        .then((o) => {
          off = o
        })
    }
    return log
  }

  private changed(change: Change): void {
    if (this.stopped) return
    const { channel, added } = change
    if (isMlsChannel(channel)) {
      this.changedMls(change)
      return
    }
    if (channel !== PROFILE_CHANNEL) this.searchCore?.changed(change)
    if (added.length > 0) {
      const source = sourceOf(change.source)
      if (source.via !== 'local') for (const e of added) this.remember(e.id, source)
      this.coverage.note(channel, source, added.length)
      if (this.unreadCounts?.add(channel, added)) this.queueChannels()
      this.took(channel, added, source)
      for (const event of this.allowed(added)) this.emitter.emit('event', { event, source })
      // Its first event arrived (see `history`): the start is known, stop asking peers for older.
      if (added.some((e) => e.kind === Kind.channelCreate)) this.knownStart(channel)
    }
    if (change.replaced.length > 0) {
      this.unreadCounts?.remove(channel, change.replaced)
      for (const id of change.replaced) this.sources.delete(id)
      this.queueChannels()
      this.emitter.emit('removed', { channel, ids: change.replaced })
    }
    for (const w of change.writes) this.emitter.emit('write', w)
  }

  /** An encrypted group's events: their sources are noted; its plaintexts reach the UI from `privateChats`. */
  private changedMls(change: Change): void {
    const source = sourceOf(change.source)
    if (source.via !== 'local') for (const e of change.added) this.remember(e.id, source)
    if (change.added.length > 0) this.coverage.note(change.channel, source, change.added.length)
    for (const w of change.writes) {
      const shown = this.privateChats?.plainWrite(w)
      if (shown) this.emitter.emit('write', shown)
    }
  }

  private async scan(channel: string): Promise<void> {
    const log = this.replica?.peer.log(channel)
    if (!log || this.stopped) return
    const held = await log.range({}, { limit: UNREAD_SCAN_MAX, reverse: true })
    if (this.stopped || held.length === 0) return
    this.coverage.note(channel, LOCAL, held.length)
    // In slices, yielding between them: a click meanwhile is not held up by thousands of decodes.
    for (let at = 0; at < held.length && !this.stopped; at += SCAN_SLICE) {
      const slice = held.slice(at, at + SCAN_SLICE)
      this.took(channel, slice, LOCAL)
      if (this.unreadCounts?.add(channel, slice)) this.queueChannels()
      await sleep(0)
    }
  }

  private remember(id: Ulid, source: EventSource): void {
    this.sources.delete(id)
    this.sources.set(id, source)
    if (this.sources.size > SOURCES_MAX) this.sources.delete(this.sources.keys().next().value!)
  }

  /** One background pull per channel; its end is announced (`backfill` inactive) so the UI asks again. */
  private pull(channel: string, before: Ulid | undefined, want: number): void {
    if (this.pulls.has(channel) || this.stopped) return
    this.pulls.add(channel)
    void (async () => {
      try {
        const { exhausted } = await this.pullOlder(channel, before, want)
        const bound = before ?? NEWEST
        if (exhausted && bound > (this.noOlder.get(channel) ?? '')) this.noOlder.set(channel, bound)
      } catch {
        // stopped, or the network went away: the next history call asks again
      } finally {
        this.pulls.delete(channel)
        if (!this.stopped) this.emitter.emit('backfill', { channel, active: false })
      }
    })()
  }
}
