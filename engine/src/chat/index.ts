/** `@peerchat/engine/chat`: the chat's kinds, body codecs and projections (no Yjs). */
export * from './bodies.ts'
export * from './channel-view.ts'
export { Kind } from './kinds.ts'
export * from './roles.ts'
export { SORTED_IDS_CHUNK, SortedIds } from './sorted-ids.ts'
