export {
  MAX_OUTBOX,
  MemoryOutboxStore,
  type OutboxChange,
  type OutboxEntry,
  type OutboxStore,
  outboxKey,
} from './outbox.ts'
export {
  ADOPT_DELAY_MS,
  type Change,
  type LivePort,
  Replica,
  type ReplicaOptions,
  type SubscribeOptions,
  type Write,
  type WriteState,
} from './replica.ts'
export { MAX_SYNC_JOBS, SyncPolicy, SyncPolicyDefaults, type SyncPolicyOptions } from './sync-policy.ts'
