/** Browser persistence in IndexedDB (docs/protocol/storage-indexeddb.md). */

export {
  BLOB_CHUNKS,
  BLOB_INFO,
  blobDatabaseName,
  deleteIndexedDbBlobStore,
  IndexedDbBlobStore,
  type IndexedDbBlobStoreOptions,
  openIndexedDbBlobStore,
} from './blob-store.ts'
export { DocSnapshotCache } from './doc-cache.ts'
export { isQuotaError, QUOTA_LIMIT } from './idb.ts'
export {
  type Durability,
  deleteIndexedDbStore,
  IndexedDbStore,
  type IndexedDbStoreOptions,
  openIndexedDbStore,
} from './indexeddb-store.ts'
export { type IndexedDbOutboxOptions, IndexedDbOutboxStore, openIndexedDbOutbox } from './outbox-store.ts'
export { type DatabaseOptions, logDatabaseName } from './schema.ts'
