/**
 * The port through which the relay cores reach the other nodes of their community. One node
 * (the default) has none: every `ctx.cluster?.` call is skipped. `RedisCluster`
 * (redis-cluster.ts) implements it on Redis pub/sub; docs/protocol/cluster.md has the design.
 */
import type { PresenceJoin, PresenceLeave } from './messages.ts'

/** How messages from other nodes reach this node's sockets (each core attaches its part). */
export interface ClusterHooks {
  /** A stamped event (or checkpoint) frame of `channel` stamped by another node. */
  event(channel: string, frame: Uint8Array): void
  channelAdded(channel: string): void
  /** A session of another node joined or left a channel (also replayed after a resync). */
  presenceJoin(join: PresenceJoin, node: string): void
  presenceLeave(leave: PresenceLeave, node: string): void
  /** A signaling socket of another node spoke in `room`. */
  signalAnnounce(room: string, peerId: string): void
  /** A y-webrtc message for local signaling peer `to` (already rewritten but for `to`). */
  signalDeliver(room: string, to: string, data: string): void
  /** A relay-forwarded peer frame for local session `to`. */
  forwarded(to: Uint8Array, frame: Uint8Array): void
  /** The shared admin log has `length` events (another node appended, or Redis came back). */
  adminAppended(length: number): void
}

/** What a stamp claim found (see `Cluster.claimStamp`). */
export type StampClaim =
  /** The stamp is the request's: it went out to the other nodes. */
  | { kind: 'claimed' }
  /** Another node stamped this (author, clientNonce) first: its stamp record. */
  | { kind: 'existing'; record: Uint8Array }
  /** The author is over its rate across the nodes. */
  | { kind: 'limited' }
  /** Redis cannot be reached: the node goes on alone (no cross-node check, no cross-node fan-out). */
  | { kind: 'offline' }

export interface StampClaimRequest {
  /** Idempotency key: author (32) and clientNonce (16) bytes. */
  author: Uint8Array
  clientNonce: Uint8Array
  /** What retries of this request are recognized by, and the stamp they get (opaque here). */
  record: Uint8Array
  channel: string
  /** The event frame the other nodes deliver. */
  frame: Uint8Array
}

export interface Cluster {
  /** This node's id (8 hex characters): part of its signaling peer ids. */
  readonly node: string
  /** Whether Redis is reachable now. */
  readonly connected: boolean
  /** Live nodes seen (this one included). */
  readonly nodes: number
  attach(hooks: Partial<ClusterHooks>): void
  /**
   * Makes a stamp the one of its (author, clientNonce) across nodes, counts it against the
   * author's cross-node rate and fans its frame out to the other nodes, in one Redis call.
   */
  claimStamp(request: StampClaimRequest): Promise<StampClaim>
  channelAdded(channel: string): void
  /** Local presence changes; sent to the other nodes once per tick. */
  presenceJoin(join: PresenceJoin): void
  presenceLeave(leave: PresenceLeave): void
  /** The node of a session on another node, if it is in a channel's presence. */
  nodeOfSession(sessionId: Uint8Array): string | undefined
  signalAnnounce(room: string, peerId: string): void
  signalDeliver(node: string, room: string, to: string, data: string): void
  forward(node: string, to: Uint8Array, frame: Uint8Array): void
  /** The shared admin log's events from index `from` on (throws when Redis cannot be reached). */
  adminRead(from: number): Promise<Uint8Array[]>
  /**
   * Appends one admin event if the log still has `expected` events (and tells the other nodes);
   * false: another node appended first. Throws when Redis cannot be reached.
   */
  adminAppend(expected: number, bytes: Uint8Array): Promise<boolean>
  close(): Promise<void>
}

/** The node part of a signaling peer id made by `signalPeerId` (undefined: not a cluster id). */
export function nodeOfPeerId(peerId: string): string | undefined {
  const m = /\.([0-9a-f]{8})-[0-9a-z]+$/.exec(peerId)
  return m?.[1]
}

/** `<key text>.<serial>` alone; `<key text>.<node>-<serial>` in a cluster, so ids never collide across nodes. */
export function signalPeerId(keyText: string, serial: number, node: string | undefined): string {
  return node ? `${keyText}.${node}-${serial.toString(36)}` : `${keyText}.${serial.toString(36)}`
}
