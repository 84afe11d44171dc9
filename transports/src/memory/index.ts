export {
  DEFAULT_MAX_STEPS,
  randomSeed,
  realClock,
  type Scheduler,
  SeededRandom,
  VirtualClock,
} from '@peerchat/engine'
export { type GossipSimOptions, type GossipSimResult, measureRound, runGossipSim } from './gossip-sim.ts'
export {
  DEFAULT_LINK,
  DEFAULT_MAX_IN_FLIGHT,
  type LinkProfile,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type NetworkStats,
} from './network.ts'
export { MEMORY_RELAY_MAX_STAMPS, MemoryLivePort, MemoryRelay, type MemoryRelayOptions } from './relay.ts'
export { DEFAULT_MEMORY_MAX_FRAME_BYTES, MemoryTransport, type MemoryTransportOptions } from './transport.ts'
