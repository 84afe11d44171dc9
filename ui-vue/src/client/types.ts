/**
 * The seam between the UI and the network: composables talk only to a `ChatClient`.
 *
 * It is engine-shaped on purpose: history and live traffic are the engine's `StampedEvent`s
 * (the UI folds them into a view), and every write is a `SignedRequest` that the relay stamps.
 * `SimClient` (./sim.ts) runs all of it in the page; the real client (relay transport + peer
 * sync + IndexedDB store) implements the same interface and replaces it without UI changes.
 */
import type { PublicKey, SignedRequest, StampedEvent, Ulid } from '@peerchat/engine'

export type ConnectionState = 'connecting' | 'online' | 'offline'

/** Privileges come from the relay's signed session attestation. */
export type Privilege = 'admin' | 'moderator' | 'post' | 'create-channel'

export interface ChannelInfo {
  name: string
  topic: string
  /** Messages by others after the read marker. */
  unread: number
  /** Unread messages that mention me. */
  mentions: number
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
}

/** Where an event came from, shown by the trust panel. */
export type EventSource =
  | { via: 'relay' }
  /** `peer` is the serving peer's key (text); `link` the transport it came over (`webrtc`, `relay`). */
  | { via: 'peer'; peer: string; link?: string }
  | { via: 'local' }

export interface IncomingEvent {
  event: StampedEvent
  source: EventSource
}

export interface HistoryPage {
  /** Events strictly older than `before`, oldest first. */
  events: StampedEvent[]
  /** True when nothing older is known locally or from peers. */
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
  request: SignedRequest
  stamped: Promise<StampedEvent>
}

export interface ChatClientEvents {
  /** A stamped event reached this client (live or backfilled). */
  event: IncomingEvent
  /** A local write was signed and queued (the outbox). */
  outgoing: Outgoing
  channels: readonly ChannelInfo[]
  members: readonly Member[]
  connection: ConnectionState
  /** A history request went beyond the local store: peers are being asked (`active`) or answered. */
  backfill: { channel: string; active: boolean }
}

export type Unsubscribe = () => void

/** Present only on simulated clients: lets the UI (and tests) cut the network. */
export interface SimulationControls {
  setOnline(online: boolean): void
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

  /** Pages of a channel's log, newest first page then older ones (local store, then peers). */
  history(channel: string, query: HistoryQuery): Promise<HistoryPage>
  markRead(channel: string, upTo: Ulid): void
  /** Re-verifies a stored event's author signature and relay stamp; undefined if not stored. */
  provenance(channel: string, id: Ulid): Promise<Provenance | undefined>

  send(channel: string, text: string, replyTo?: Ulid): Promise<Outgoing>
  edit(channel: string, target: Ulid, text: string): Promise<Outgoing>
  react(channel: string, target: Ulid, emoji: string, on: boolean): Promise<Outgoing>
  redact(channel: string, target: Ulid): Promise<Outgoing>
  setProfile(name: string): Promise<Outgoing>
  /** Ephemeral typing hint (awareness); `null` when the composer is left or emptied. */
  setTyping(channel: string | null): void

  on<K extends keyof ChatClientEvents>(type: K, handler: (value: ChatClientEvents[K]) => void): Unsubscribe
}
