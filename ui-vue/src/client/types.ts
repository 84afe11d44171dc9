/**
 * The seam between the UI and the network: composables talk only to a `ChatClient`.
 *
 * It is engine-shaped on purpose: history and live traffic are the engine's `StampedEvent`s
 * (the UI folds them into a view), and every write is the engine's local-first `Write`: shown
 * at once as pending, then stamped by the relay or refused. Both clients hold an engine
 * `Replica` (./replica-client.ts): `SimClient` (./sim.ts) on an in-page relay, the real client
 * on the relay and WebRTC mesh with the IndexedDB store; the UI cannot tell them apart.
 */
import type { PublicKey, SignedRequest, StampedEvent, Ulid, Write } from '@peerchat/engine'
import type {
  Access,
  ChannelInfo as AdminChannelInfo,
  AuditEntry,
  InviteInfo,
  InviteStatus,
  Role,
} from '@peerchat/engine/chat'
import type { SearchPage } from '../lib/search-index.ts'
import type { SearchQuery } from '../lib/search-query.ts'
import type { AttachmentInfo } from './attachments.ts'
import type { AvatarRef } from './bodies.ts'
import type { PrivateInfo } from './private.ts'
import type { VoiceNetwork } from './voice/network.ts'

export type ConnectionState = 'connecting' | 'online' | 'offline'

/** Privileges come from the relay's signed session attestation. */
export type Privilege = 'admin' | 'moderator' | 'post' | 'create-channel'

export type ConversationsState = 'loading' | 'elsewhere' | 'ready' | 'unavailable'

export interface ChannelInfo {
  name: string
  topic: string
  /** Messages by others after the read marker. */
  unread: number
  /** Unread messages that mention me. */
  mentions: number
  /** An encrypted conversation (a direct message or a private channel): who is in it. */
  private?: PrivateInfo
}

export interface Member {
  key: PublicKey
  /** The public key in text form: the stable id used as a map key. */
  id: string
  name: string
  online: boolean
  privileges: readonly Privilege[]
  /** Channel this member is typing in (an ephemeral awareness hint, never trusted). */
  typingIn: string | null
  /** Announced as a virtual client (a headless peer of last resort; an awareness hint). */
  virtual?: boolean
  /** The profile picture named by the member's latest profile (a blob fetched from peers). */
  avatar?: MemberAvatarRef
  /** The member's role in the community's admin state (owner, admin, moderator, member, custom). */
  role?: string
}

/** An avatar as members carry it: the profile's blob reference and its digest in hex. */
export interface MemberAvatarRef extends AvatarRef {
  id: string
}

/** A picked picture, resized and re-encoded (a small square raster image). */
export interface PreparedAvatar {
  bytes: Uint8Array
  mime: string
}

/** Where an event came from, shown by the trust panel (the engine's `Source`, as the UI names it). */
export type EventSource =
  | { via: 'relay' }
  /** `peer` is the serving peer's key (text); `link` the transport it came over (`webrtc`, `relay forwarding`). */
  | { via: 'peer'; peer: string; link?: string }
  /** This device: its stored history, or its own writes. */
  | { via: 'local' }

export interface IncomingEvent {
  event: StampedEvent
  source: EventSource
}

export interface HistoryPage {
  /** Events strictly older than `before`, oldest first: what this device holds, read at once. */
  events: StampedEvent[]
  /**
   * True when nothing older is known locally or from peers. False while peers may have more:
   * they are asked in the background, what they send arrives as `event`s, and a `backfill`
   * with `active: false` says when asking again may give more.
   */
  complete: boolean
}

export interface HistoryQuery {
  /** Exclusive upper bound; omit for the newest page. */
  before?: Ulid
  /** Number of events wanted (a page). */
  limit: number
  signal?: AbortSignal
}

/** What the trust panel shows for one event: both signatures checked now, and where it came from. */
export interface Provenance {
  id: Ulid
  authorSignature: boolean
  relayStamp: boolean
  source: EventSource
}

/** A write in flight: the signed request is known at once (shown as pending), the stamp later. */
export interface Outgoing {
  /** The write's key in the outbox (`retry` and `discard` take it). */
  key: string
  request: SignedRequest
  /** Rejects when the relay refuses it for good (a `retry` may still get it stamped). */
  stamped: Promise<StampedEvent>
}

/** A mesh peer as the status panel shows it. */
export interface PeerStatus {
  /** The peer's public key (text). */
  id: string
  /** Real browser client, or a virtual client (a headless peer of last resort). */
  kind: 'client' | 'virtual'
  /** `webrtc`: a direct data channel; `relay-fallback`: frames forwarded by the relay. */
  link: 'webrtc' | 'relay-fallback'
  /** Round-trip time measured by the engine, ms (undefined before the first ping). */
  rttMs?: number
}

/** Where the events a channel holds came from this session. */
export interface CoverageSource {
  /** `relay`, `local` (the device's store) or `peer` with its key and link. */
  via: EventSource['via']
  peer?: string
  link?: string
  events: number
}

/** One reconciliation with a peer: the range asked for and what it brought. */
export interface SyncSession {
  channel: string
  peer: string
  link: string
  kind: 'client' | 'virtual' | 'unknown'
  /** ULID bounds of the range (undefined: open-ended). */
  gte?: Ulid
  lt?: Ulid
  added: number
  bytesIn: number
  bytesOut: number
  complete: boolean
}

export interface ChannelCoverage {
  channel: string
  /** Events held on this device. */
  held: number
  /** Oldest and newest held (ms since epoch), null when none. */
  oldest: number | null
  newest: number | null
  sources: CoverageSource[]
}

/** A snapshot of what the trust & sync panel shows. */
export interface SyncStatus {
  connection: ConnectionState
  network: string
  relay: { bytesIn: number; bytesOut: number; reconnects: number; rejectedEvents: number }
  /** Peer-to-peer traffic by link: direct WebRTC data channels, and the relay's forwarding. */
  webrtc: { bytesIn: number; bytesOut: number }
  forwarded: { bytesIn: number; bytesOut: number }
  /** Events this device sent to peers that asked for them, and the bytes of those sessions. */
  served: { events: number; bytes: number }
  /** Events that reached the logs from the relay (live) and from peers (sync). */
  received: { fromRelay: number; fromPeers: number }
  peers: PeerStatus[]
  channels: ChannelCoverage[]
  /** The latest reconciliation sessions, newest first. */
  sessions: SyncSession[]
  /** Attachments (absent without media): held on this device, and chunk bytes moved peer to peer. */
  media?: {
    stored: { count: number; bytes: number; pinnedBytes: number }
    chunkBytesSent: number
    chunkBytesReceived: number
    /** Blobs downloaded and verified this session; chunks refused (wrong hash). */
    completed: number
    badChunks: number
  }
}

/** The community as the relay describes it, and what this session may do in it. */
export interface CommunityInfo {
  /** `open`: anyone with a key logs in; `invite`: a non-admin needs an admin-signed invite. */
  access: 'open' | 'invite' | 'unknown'
  canCreateChannels: boolean
  /** The community's URL (its relay's http(s) origin); absent in the simulation. */
  url?: string
  /** The page is served by that relay (false: a dev server naming it with `?relay=`). */
  servedByRelay?: boolean
}

export interface ChatClientEvents {
  /** A stamped event reached this client (live or backfilled). */
  event: IncomingEvent
  /** A local write was queued, or changed state: pending, stamped, failed (refused by the relay). */
  write: Write
  /** Events that left a channel's log (a retried send stamped twice keeps its smaller id). */
  removed: { channel: string; ids: readonly Ulid[] }
  channels: readonly ChannelInfo[]
  members: readonly Member[]
  connection: ConnectionState
  /**
   * Older history of a channel is being asked from peers (`active`), or that is over (then a
   * `history` call may return more, or say `complete`).
   */
  backfill: { channel: string; active: boolean }
  /** The community's admin state changed (re-read `admin.view()`). */
  admin: undefined
  /** The search index grew, or is loading or reading channels (progress for the search box). */
  search: SearchProgress
}

/** A page of search results (client/search.ts): hits newest first, the query as read, the index's progress. */
export interface SearchResults extends SearchPage {
  query: SearchQuery
  progress: SearchProgress
}

/** How far the local search index is (client/search.ts). */
export interface SearchProgress {
  /** Messages indexed. */
  indexed: number
  /** The saved index is loading, or channels are being read; false once everything held is in. */
  busy: boolean
  /** While reading channels: events read and to read. */
  read?: { done: number; total: number }
}

/** A key as the admin screens show it: its role, and a ban or timeout in force. */
export interface AdminMemberView {
  /** The public key (text). */
  id: string
  role: string
  /** How it became a member by an admin event (claim, redeemed invite, role given). */
  via?: 'claim' | 'invite' | 'role'
  ban?: { reason: string; by: string; since: number; until?: number }
  /** Relay time (ms) a timeout in force ends. */
  timeoutUntil?: number
}

export interface AdminInviteView extends InviteInfo {
  status: InviteStatus
  /** The link, for invites made in this session (the secret is kept nowhere else). */
  link?: string
}

/** The claim or invite link this session logs in with, and what became of it. */
export interface LinkState {
  kind: 'claim' | 'invite'
  state: 'pending' | 'done' | 'refused'
  message?: string
}

/** This session is out of the community: closed by a kick or ban, or refused at login. */
export interface BlockedState {
  kind: 'removed' | 'refused'
  reason: string
  /** The relay or the fold says it is a ban. */
  banned: boolean
}

/** The community's admin state, read now (docs/protocol/admin.md). */
export interface AdminView {
  /** An admin event or the stored log was folded (false: nothing known yet). */
  loaded: boolean
  /** The owner's key (text); null until the community is claimed. */
  owner: string | null
  self: string
  myRole: string
  /** The permissions I hold now. */
  may: Record<
    'manageChannels' | 'post' | 'moderate' | 'ban' | 'invite' | 'manageRoles' | 'manageCommunity',
    boolean
  >
  access: Access
  /** Every key seen (admin events, profiles, presence) with its role, ban and timeout. */
  members: AdminMemberView[]
  invites: AdminInviteView[]
  /** Channels with admin settings (topic, archived, least role to post). */
  channels: AdminChannelInfo[]
  /** Accepted admin actions, newest first. */
  audit: AuditEntry[]
  link?: LinkState
  blocked?: BlockedState
}

export interface AdminChannelPatch {
  topic?: string
  archived?: boolean
  /** The least role that may post: `member` (everyone) or `moderator` ("only moderators may post"). */
  postRole?: string
  /** The least role that may edit the channel's canvas (`member`, `moderator`, `admin`); `null`: same as posting. */
  editRole?: string | null
  position?: string
}

/**
 * Running the community from the app: the admin state folded from the `admin` channel, and the
 * actions. Each action is judged first by this device's fold (a refusal rejects with a message
 * for the user, before anything is signed), then signed and queued: the relay's verdict is the
 * `Outgoing`'s `stamped`.
 */
export interface AdminClient {
  view(): AdminView
  /** Why I may not post in `channel` now (banned, timed out until …, read-only), or null. */
  whyNotPost(channel: string): string | null
  /** Why I may not edit the canvas of `channel` now (banned, timed out, archived, role too low), or null. */
  whyNotEdit(channel: string): string | null
  /** Whether a `yjs` event's author could edit its channel's documents at its relay time (a document's `authorize`). */
  allowsEdit(e: StampedEvent): boolean
  may(permission: keyof AdminView['may']): boolean
  canActOn(target: string, permission: 'moderate' | 'ban' | 'manageRoles'): boolean
  assignableRoles(target: string): string[]
  /** Roles for the chat projections (who may redact others' messages). */
  rolesAt(key: PublicKey, ts: number): ReadonlySet<Role>
  claim(): Promise<Outgoing>
  setRole(key: string, role: string): Promise<Outgoing>
  kick(key: string, reason: string): Promise<Outgoing>
  ban(key: string, reason: string, until?: number): Promise<Outgoing>
  unban(key: string): Promise<Outgoing>
  timeout(key: string, until: number): Promise<Outgoing>
  /** A new invite link (`<community url>/#invite=<secret>`); the event carries only its id. */
  createInvite(o: {
    expiresInHours: number
    uses: number
  }): Promise<{ outgoing: Outgoing; link: string; id: string }>
  revokeInvite(id: string): Promise<Outgoing>
  updateChannel(channel: string, patch: AdminChannelPatch): Promise<Outgoing>
  setAccess(access: Access): Promise<Outgoing>
}

export type Unsubscribe = () => void

/** A file ready to share: its bytes, and what the composer made of it (image size, thumbnail). */
export interface PreparedFile {
  bytes: Uint8Array
  mime: string
  name: string
  width?: number
  height?: number
  thumbnail?: { mime: string; bytes: Uint8Array }
}

/** How far a shared blob has spread: chunk bytes sent to peers, and peers that hold it. */
export interface ShareStatus {
  sent: number
  size: number
  peers: number
  /** Direct peers connected now (the most `peers` can reach). */
  connected: number
}

/** Chunks of a blob held while it is being fetched. */
export interface FetchProgress {
  held: number
  count: number
}

/**
 * Attachments: the bytes move peer to peer (docs/protocol/blobs.md); the relay stamps only the
 * `attachment` event. Absent where there is no peer-to-peer mesh (the simulation).
 */
export interface MediaClient {
  /** Largest file accepted, in bytes. */
  readonly maxBytes: number
  /** Stores the blob (pinned), offers it to peers, and posts the attachment event. */
  share(channel: string, file: PreparedFile): Promise<{ outgoing: Outgoing; digest: string }>
  /** How far a blob this device holds has spread; undefined if it does not hold it. */
  shareStatus(digest: string): ShareStatus | undefined
  /** The blob's bytes, from this device or pulled from peers; resolves only once the whole digest verified. */
  fetch(
    attachment: AttachmentInfo,
    opts?: { signal?: AbortSignal; onProgress?: (p: FetchProgress) => void },
  ): Promise<Uint8Array>
  /** Whether the blob is on this device (no peer needed). */
  holds(digest: string): boolean
}

/** Present only on simulated clients: lets the UI (and tests) cut the network. */
export interface SimulationControls {
  setOnline(online: boolean): void
}

/** One entry of a canvas's history: a run of edits by one author (`canvas.ts` `sessionsOf`). */
export interface CanvasVersion {
  /** The run's last event: the version `textAt`/`restore` take. */
  id: Ulid
  from: number
  to: number
  /** The author's key (text) and the name shown. */
  author: string
  name?: string
  edits: number
}

/** An open canvas (client/canvas.ts): bind `text` and `awareness` to an editor. */
export interface CanvasSession {
  readonly channel: string
  readonly text: import('yjs').Text
  readonly awareness: import('y-protocols/awareness').Awareness
  /** Resolves once everything this device stored is in (the cached snapshot shows before). */
  readonly complete: Promise<void>
  /** Why I may not edit now (the canvas is read-only for me), or null. */
  whyNotEdit(): string | null
  /** Who changed it and when, oldest first, from the signed events this device holds. */
  history(): Promise<CanvasVersion[]>
  /** The text as it was right after the version `id`. */
  textAt(id: Ulid): Promise<string>
  /** Makes the text what it was at `id` again, as a new edit of mine. */
  restore(id: Ulid): Promise<void>
  /**
   * The relay refused an edit of mine (I may no longer edit): the session closed itself, without
   * the edit; open the canvas again to show what everyone has. Returns an unsubscribe.
   */
  onRefused(listener: (message: string) => void): () => void
  /** Publishes pending edits, caches the canvas, leaves its presence. */
  close(): Promise<void>
}

export interface ChatClient {
  readonly self: PublicKey
  readonly simulation?: SimulationControls
  /** The relay's public key: every stamp verifies against it. */
  readonly relayKey: PublicKey
  /** A label for the network (relay URL, or "simulated"). */
  readonly network: string

  start(): Promise<void>
  /** Idempotent; clears every timer and listener. */
  stop(): void

  connection(): ConnectionState
  channels(): readonly ChannelInfo[]
  members(): readonly Member[]
  /**
   * Sessions online as the relay counts them, when `members()` lists fewer: a community past the
   * relay's presence head (docs/protocol/relay.md §5), whose list grows by `loadMoreMembers`.
   * Undefined when every one online is listed (and where there is no relay: the simulation).
   */
  onlineCount?(): number | undefined
  /** Whether `loadMoreMembers` has more of those online to list. */
  moreMembers?(): boolean
  /** Lists the next page of those online (the `members` event follows); resolves true while more remain. */
  loadMoreMembers?(): Promise<boolean>

  /** Pages of a channel's log, newest first page then older ones: the local store at once, peers in the background. */
  history(channel: string, query: HistoryQuery): Promise<HistoryPage>
  /** This device's writes to a channel not stamped yet (pending or failed), oldest first. */
  writes(channel: string): readonly Write[]
  /** Sends a failed write again (same signature and nonce). */
  retry(key: string): Promise<void>
  /** Forgets a failed write. */
  discard(key: string): Promise<void>
  markRead(channel: string, upTo: Ulid): void
  /** Re-verifies a stored event's author signature and relay stamp; undefined if not stored. */
  provenance(channel: string, id: Ulid): Promise<Provenance | undefined>

  send(channel: string, text: string, replyTo?: Ulid): Promise<Outgoing>
  edit(channel: string, target: Ulid, text: string): Promise<Outgoing>
  react(channel: string, target: Ulid, emoji: string, on: boolean): Promise<Outgoing>
  redact(channel: string, target: Ulid): Promise<Outgoing>
  setProfile(name: string): Promise<Outgoing>
  /**
   * Publishes a profile picture as a pinned blob and a profile event naming it (`null` removes
   * it). Absent where there is no peer-to-peer mesh (the simulation).
   */
  setAvatar?(avatar: PreparedAvatar | null): Promise<Outgoing>
  /** Opens the channel's canvas (loads the editor's engine part on first use). */
  openCanvas?(channel: string): Promise<CanvasSession>
  /**
   * Searches every channel this device holds (the search box's language: words, "phrases",
   * from:/in:/has:/mentions:/before:/after:), newest first; `before` asks for the next page.
   */
  search?(text: string, opts?: { before?: Ulid }): Promise<SearchResults>
  /**
   * Asks peers for every channel's history older than what this device holds (for search);
   * resolves with the number of events added. Absent where there are no peers to ask.
   */
  fetchOlderHistory?(
    onProgress?: (p: { channel: string; added: number }) => void,
    signal?: AbortSignal,
  ): Promise<number>
  /** Ephemeral typing hint (awareness); `null` when the composer is left or emptied. */
  setTyping(channel: string | null): void

  /** What the trust & sync panel shows, read now. */
  syncStatus(): Promise<SyncStatus>
  community(): CommunityInfo
  /**
   * Starts an end-to-end encrypted conversation with `members` (keys as text): a direct message,
   * or with a `title` a private channel its creator manages. Resolves with its channel once the
   * commit that added them is in the log and applied. Absent where there is no encryption.
   */
  createConversation?(members: readonly string[], title?: string): Promise<string>
  /** Adds people to a conversation (a private channel: its creator only). */
  addMembers?(channel: string, members: readonly string[]): Promise<void>
  /** Removes people from a conversation: they cannot read what is sent from then on. */
  removeMembers?(channel: string, members: readonly string[]): Promise<void>
  /**
   * The device's encrypted conversations: `loading` (not listed yet), `elsewhere` (another tab
   * of this browser holds them: one at a time), `ready`, or `unavailable`.
   */
  conversationsState?(): ConversationsState
  /** Why I cannot write in `channel` now (removed, banned, read-only...), or null. */
  whyNotPost?(channel: string): string | null
  /** Creates a channel (a `channel.create` event); the relay refuses it without the privilege. */
  createChannel(name: string): Promise<Outgoing>
  /** Voice signaling over the peer-to-peer mesh; absent where there is no mesh (the simulation). */
  readonly voice?: VoiceNetwork
  /** Attachments over the peer-to-peer mesh; absent where there is none (the simulation). */
  readonly media?: MediaClient
  /** The community's admin state and actions (the `admin` channel). */
  readonly admin: AdminClient

  on<K extends keyof ChatClientEvents>(type: K, handler: (value: ChatClientEvents[K]) => void): Unsubscribe
}
