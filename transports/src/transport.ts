/**
 * The one port every transport implements (relay WebSocket, WebRTC mesh, in-memory network).
 *
 * A transport moves opaque frames (the engine's codec) between peers and reports who is
 * reachable. It does not retry, order across peers, or authenticate content: the engine's
 * signatures and reconciliation do that on top. Check conformance with
 * `runTransportConformance` from `@peerchat/transports/conformance`.
 */

/** A peer's address on one transport. Branded so a key or channel name cannot be passed by mistake. */
export type PeerId = string & { readonly __peerId: true }
export const asPeerId = (id: string): PeerId => {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('peer id must be a non-empty string')
  return id as PeerId
}

/** What a transport knows about a peer when it appears. */
export interface PeerInfo {
  /** The peer's Ed25519 public key, when the transport has it attested (by the relay). */
  key?: Uint8Array
  /** Virtual clients serve history only when no real client can. */
  kind?: 'client' | 'virtual'
}

export interface TransportEvents {
  'peer-joined': { peer: PeerId; info: PeerInfo }
  'peer-left': { peer: PeerId }
  frame: { from: PeerId; bytes: Uint8Array }
}
export type TransportEventName = keyof TransportEvents
export type Listener<E extends TransportEventName> = (event: TransportEvents[E]) => void

export interface TransportLimits {
  /** Largest frame `send`/`broadcast` accept; larger ones throw `LimitError` (limit `maxFrameBytes`). */
  maxFrameBytes: number
}

export interface Transport {
  /** This end's own id (stable across stop/start). */
  readonly self: PeerId
  readonly limits: TransportLimits
  /**
   * Connects; resolves once ready (peers may keep joining after). Rejects with the signal's
   * reason if aborted, leaving the transport stopped. Starting a started transport is a no-op.
   */
  start(signal?: AbortSignal): Promise<void>
  /**
   * Disconnects. Idempotent. Emits `peer-left` for every current peer, then nothing until the
   * next `start`; clears every timer and internal listener. Subscriptions made with `on` stay.
   */
  stop(): Promise<void>
  /**
   * Queues `bytes` for `peer` (the transport copies them). Returns false when the peer is not
   * currently reachable; true means handed to the network, not delivered (frames may be lost).
   */
  send(peer: PeerId, bytes: Uint8Array): boolean
  /** Sends to every current peer; returns how many it was handed for. */
  broadcast(bytes: Uint8Array): number
  /** Current peers and their info. */
  peers(): ReadonlyMap<PeerId, PeerInfo>
  /** Subscribes; returns the unsubscribe function. */
  on<E extends TransportEventName>(event: E, listener: Listener<E>): () => void
}
