export { DEFAULT_MAX_STEPS, realClock, type Scheduler, VirtualClock } from './clock.ts'
export { type GossipSimOptions, type GossipSimResult, measureRound, runGossipSim } from './gossip-sim.ts'
export {
  DEFAULT_LINK,
  DEFAULT_MAX_IN_FLIGHT,
  type LinkProfile,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type NetworkStats,
} from './network.ts'
export { randomSeed, SeededRandom } from './random.ts'
export {
  DEFAULT_MAX_RETRANSMITS,
  DEFAULT_MAX_SESSION_ATTEMPTS,
  DEFAULT_REPLY_TIMEOUT_MS,
  SyncDriver,
  type SyncDriverOptions,
  type SyncStats,
} from './sync-driver.ts'
export {
  decodeSyncFrame,
  encodePushFrames,
  encodeSyncFrame,
  MAX_PUSH_EVENTS,
  MAX_SYNC_COUNTER,
  MAX_SYNC_PAYLOAD,
  SYNC_ENVELOPE_OVERHEAD,
  SYNC_VERSION,
  type SyncFrame,
  SyncType,
} from './sync-frames.ts'
export { DEFAULT_MEMORY_MAX_FRAME_BYTES, MemoryTransport, type MemoryTransportOptions } from './transport.ts'
