export type { MeshPeerInfo, MeshPort } from './port.ts'
export { MAX_PROTOCOL_ID, MUX_TAG, Protocol, protocolPort } from './protocol.ts'
