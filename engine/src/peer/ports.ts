/**
 * What the Peer needs from the outside world, as structural types: the engine imports no
 * transport. `Transport` (@peerchat/transports) satisfies `MeshPort`; `RelayClient`
 * satisfies `LivePort`.
 */
import type { StampedEvent } from '../event.ts'

export interface MeshPeerInfo {
  key?: Uint8Array
  kind?: 'client' | 'virtual'
}

export interface MeshPort {
  /** Shown in provenance reports (`webrtc`, `relay`, ...). */
  readonly name?: string
  /** A bounded last-resort path (the relay-forwarded channel): used only when no direct link serves. */
  readonly fallback?: boolean
  readonly self: string
  send(peer: string, bytes: Uint8Array): boolean
  peers(): ReadonlyMap<string, MeshPeerInfo>
  on(event: 'peer-joined', listener: (e: { peer: string; info: MeshPeerInfo }) => void): () => void
  on(event: 'peer-left', listener: (e: { peer: string }) => void): () => void
  on(event: 'frame', listener: (e: { from: string; bytes: Uint8Array }) => void): () => void
}

/** The relay: live events in, stamped events out. */
export interface LivePort {
  publish(content: { channel: string; kind: string; body: Uint8Array }): Promise<StampedEvent>
  join(channel: string): void
  on(event: 'event', listener: (e: StampedEvent) => void): () => void
  on(event: 'state', listener: (s: string) => void): () => void
}
