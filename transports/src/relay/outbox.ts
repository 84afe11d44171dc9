/** The outbox port lives in the engine (the Replica owns pending writes); re-exported for the relay client. */
export {
  MAX_OUTBOX,
  MemoryOutboxStore,
  type OutboxEntry,
  type OutboxStore,
  outboxKey,
} from '@peerchat/engine'
