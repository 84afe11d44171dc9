export * from './fingerprint.ts'
export { MemoryStore } from './memory.ts'
export { BLOCK_MAX, RankedIndex } from './ranked-index.ts'
export * from './store.ts'
