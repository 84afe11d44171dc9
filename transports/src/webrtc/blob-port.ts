/**
 * The WebRTC mesh as the engine's `BlobPort`: control frames on the engine lane, manifests and
 * chunks on the bulk lane (a large image never delays history), and never the relay-forwarded
 * fallback, so the relay carries no attachment byte. Browsers, virtual clients and test peers
 * all build their `BlobExchange` on this.
 */
import type { BlobPort } from '@peerchat/engine'
import type { Listener, PeerId, TransportEventName } from '../transport.ts'
import type { WebrtcTransport } from './webrtc-transport.ts'

/** Sees every blob frame that leaves (handed to the bulk lane) or arrives; e.g. progress counters. */
export interface BlobTap {
  sent?(peer: string, bytes: Uint8Array): void
  received?(from: string, bytes: Uint8Array): void
}

export type BlobMesh = Pick<WebrtcTransport, 'self' | 'send' | 'sendBulk' | 'peers' | 'on'>

export function meshBlobPort(mesh: BlobMesh, tap: BlobTap = {}): BlobPort {
  return {
    name: 'webrtc',
    self: mesh.self,
    send: (peer, bytes) => mesh.send(peer as PeerId, bytes),
    sendBulk: (peer, bytes) => {
      const ok = mesh.sendBulk(peer as PeerId, bytes)
      if (ok) tap.sent?.(peer, bytes)
      return ok
    },
    peers: () => mesh.peers(),
    on: ((event: TransportEventName, listener: Listener<TransportEventName>) => {
      if (event !== 'frame' || !tap.received) return mesh.on(event, listener)
      const deliver = listener as Listener<'frame'>
      return mesh.on('frame', (e) => {
        tap.received?.(e.from, e.bytes)
        deliver(e)
      })
    }) as BlobPort['on'],
  }
}
