export { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.ts'
export { ChannelPresence } from './channel-presence.ts'
export { DEFAULT_FORWARD_MAX_FRAME_BYTES, RelayForwardTransport } from './forward-transport.ts'
export { LOOKUP_RETRY_MS, MemberLookup } from './member-lookup.ts'
export { NodeRotation } from './node-rotation.ts'
export { MAX_OUTBOX, MemoryOutboxStore, type OutboxEntry, type OutboxStore, outboxKey } from './outbox.ts'
export {
  type ConnectionState,
  LOGIN_TIMEOUT_MS,
  type MemberPage,
  QUERY_TIMEOUT_MS,
  RelayClient,
  type RelayClientEvents,
  type RelayClientOptions,
  type SignalingToken,
  type WebSocketCtor,
  type WebSocketLike,
} from './relay-client.ts'
