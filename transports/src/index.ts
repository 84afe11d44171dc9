export { CHUNK_BYTES, chunkFrame, Reassembler } from './chunker.ts'
export { TransportEmitter } from './emitter.ts'
export * from './memory/index.ts'
export * from './relay/index.ts'
export {
  asPeerId,
  type Listener,
  type PeerId,
  type PeerInfo,
  type Transport,
  type TransportEventName,
  type TransportEvents,
  type TransportLimits,
} from './transport.ts'
