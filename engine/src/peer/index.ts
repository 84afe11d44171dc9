export { decodePeerFrame, encodePeerFrame, PEER_PROTOCOL_VERSION, type PeerFrame } from './frames.ts'
export { type Candidate, Peer, PeerDefaults, type PeerOptions, type SyncReport } from './peer.ts'
export type { LivePort, MeshPeerInfo, MeshPort } from './ports.ts'
