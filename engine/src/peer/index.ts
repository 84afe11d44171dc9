export { decodePeerFrame, encodePeerFrame, PEER_PROTOCOL_VERSION, type PeerFrame } from './frames.ts'
export {
  ABSENT,
  BUSY,
  type Candidate,
  Peer,
  PeerDefaults,
  type PeerOptions,
  SUPERSEDED,
  type SyncReport,
} from './peer.ts'
