/**
 * One mesh link, several protocols (like libp2p's protocol handlers): every frame carries the
 * name of the protocol it belongs to, so history sync, blobs and whatever comes next share a
 * transport without sniffing each other's bytes.
 *
 *   MuxFrame = 0x50 idLength:u8 id:utf8 payload      (docs/protocol/mesh.md)
 *
 * `protocolPort(port, id)` is a view of `port` that prefixes what it sends and passes on only
 * the frames of `id`, with the prefix removed. Views are stateless: each consumer makes its own.
 */
import type { MeshPort } from './port.ts'

export const MUX_TAG = 0x50
/** Longest protocol id, in UTF-8 bytes. */
export const MAX_PROTOCOL_ID = 32

/** The ids the engine speaks. An application's own protocol picks another name. */
export const Protocol = {
  sync: 'peerchat/sync/2',
  blobs: 'peerchat/blobs/1',
  /** Cursors in open documents (docs/presence.ts). */
  docPresence: 'peerchat/doc-presence/1',
} as const

const encoder = new TextEncoder()

function prefixOf(id: string): Uint8Array {
  if (typeof id !== 'string') throw new TypeError('protocol id must be a string')
  const bytes = encoder.encode(id)
  if (bytes.length === 0 || bytes.length > MAX_PROTOCOL_ID)
    throw new RangeError(`protocol id must be 1-${MAX_PROTOCOL_ID} UTF-8 bytes, got ${bytes.length}`)
  const prefix = new Uint8Array(2 + bytes.length)
  prefix[0] = MUX_TAG
  prefix[1] = bytes.length
  prefix.set(bytes, 2)
  return prefix
}

/** The payload of `bytes` if it is a frame of the protocol whose prefix is given, else undefined. */
function payloadOf(bytes: Uint8Array, prefix: Uint8Array): Uint8Array | undefined {
  if (bytes.length < prefix.length) return undefined
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return undefined
  return bytes.subarray(prefix.length)
}

function framed(prefix: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + payload.length)
  out.set(prefix)
  out.set(payload, prefix.length)
  return out
}

/** A frame of protocol `id` carrying `payload`, as it travels on a port. */
export function encodeProtocolFrame(id: string, payload: Uint8Array): Uint8Array {
  return framed(prefixOf(id), payload)
}

/** The protocol id and payload of a frame; undefined for bytes that are not a mux frame. */
export function decodeProtocolFrame(bytes: Uint8Array): { id: string; payload: Uint8Array } | undefined {
  if (bytes.length < 2 || bytes[0] !== MUX_TAG) return undefined
  const n = bytes[1]!
  if (n === 0 || n > MAX_PROTOCOL_ID || bytes.length < 2 + n) return undefined
  try {
    const id = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(2, 2 + n))
    return { id, payload: bytes.subarray(2 + n) }
  } catch {
    return undefined
  }
}

/** `port` as seen by one protocol. Peers and their events are the port's own. */
export function protocolPort(port: MeshPort, id: string): MeshPort {
  const prefix = prefixOf(id)
  const view: MeshPort = {
    self: port.self,
    send: (peer, bytes) => port.send(peer, framed(prefix, bytes)),
    peers: () => port.peers(),
    on: ((event: string, listener: (e: unknown) => void) => {
      if (event !== 'frame') return port.on(event as 'peer-left', listener)
      return port.on('frame', ({ from, bytes }) => {
        const payload = payloadOf(bytes, prefix)
        if (payload) listener({ from, bytes: payload })
      })
    }) as MeshPort['on'],
  }
  if (port.limits)
    Object.defineProperty(view, 'limits', {
      value: { maxFrameBytes: port.limits.maxFrameBytes - prefix.length },
      enumerable: true,
    })
  if (port.name !== undefined) Object.defineProperty(view, 'name', { value: port.name, enumerable: true })
  if (port.fallback !== undefined)
    Object.defineProperty(view, 'fallback', { value: port.fallback, enumerable: true })
  const bulk = port.sendBulk?.bind(port)
  if (bulk) view.sendBulk = (peer, bytes) => bulk(peer, framed(prefix, bytes))
  return view
}
