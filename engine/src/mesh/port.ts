/**
 * What the engine needs from a mesh transport, as a structural type: the engine imports no
 * transport. Every `Transport` of @peerchat/transports satisfies `MeshPort`. Several protocols
 * share one port through `protocolPort` (protocol.ts).
 */

export interface MeshPeerInfo {
  key?: Uint8Array
  kind?: 'client' | 'virtual'
}

export interface MeshPort {
  /** Shown in provenance (`webrtc`, `relay`, `memory`, ...). */
  readonly name?: string
  /** A bounded last-resort path (the relay-forwarded channel): used only when no direct link serves. */
  readonly fallback?: boolean
  readonly self: string
  /** Largest frame `send` accepts, when the transport has a limit (larger ones throw). */
  readonly limits?: { readonly maxFrameBytes: number }
  send(peer: string, bytes: Uint8Array): boolean
  /** A second lane for bulk bytes (blob chunks), when the transport has one. */
  sendBulk?(peer: string, bytes: Uint8Array): boolean
  peers(): ReadonlyMap<string, MeshPeerInfo>
  on(event: 'peer-joined', listener: (e: { peer: string; info: MeshPeerInfo }) => void): () => void
  on(event: 'peer-left', listener: (e: { peer: string }) => void): () => void
  on(event: 'frame', listener: (e: { from: string; bytes: Uint8Array }) => void): () => void
}
