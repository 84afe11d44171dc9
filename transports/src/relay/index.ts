export { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts'
export { DEFAULT_FORWARD_MAX_FRAME_BYTES, RelayForwardTransport } from './forward-transport.ts'
export { MAX_OUTBOX, MemoryOutboxStore, type OutboxEntry, type OutboxStore, outboxKey } from './outbox.ts'
export {
  type ConnectionState,
  RelayClient,
  type RelayClientEvents,
  type RelayClientOptions,
  type WebSocketCtor,
  type WebSocketLike,
} from './relay-client.ts'
