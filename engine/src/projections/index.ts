export * from './bodies.ts'
export * from './channel-view.ts'
export * from './roles.ts'
export { SORTED_IDS_CHUNK, SortedIds } from './sorted-ids.ts'
