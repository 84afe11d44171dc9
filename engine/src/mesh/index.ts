export type { MeshPeerInfo, MeshPort } from './port.ts'
export {
  decodeProtocolFrame,
  encodeProtocolFrame,
  MAX_PROTOCOL_ID,
  MUX_TAG,
  Protocol,
  protocolPort,
} from './protocol.ts'
