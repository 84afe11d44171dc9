/**
 * The WebRTC mesh as the engine's `BlobPort`: control frames on the engine lane, manifests and
 * chunks on the bulk lane (a large image never delays history), and never the relay-forwarded
 * fallback, so the relay carries no attachment byte. Browsers, virtual clients and test peers
 * all build their `BlobExchange` on this.
 */
import type { BlobPort } from '@peerchat/engine/blobs'
import type { PeerId } from '../transport.ts'
import type { WebrtcTransport } from './webrtc-transport.ts'

export type BlobMesh = Pick<WebrtcTransport, 'self' | 'send' | 'sendBulk' | 'peers' | 'on'>

export function meshBlobPort(mesh: BlobMesh): BlobPort {
  return {
    name: 'webrtc',
    self: mesh.self,
    send: (peer, bytes) => mesh.send(peer as PeerId, bytes),
    sendBulk: (peer, bytes) => mesh.sendBulk(peer as PeerId, bytes),
    peers: () => mesh.peers(),
    on: mesh.on.bind(mesh) as BlobPort['on'],
  }
}
