/**
 * `@peerchat/store-indexeddb`: the engine's storage ports in the browser's IndexedDB
 * (layout: docs/protocol/storage-indexeddb.md). Per community (named by its relay key), one
 * database holds the channel logs (`IndexedDbStore`), the outbox (`IndexedDbOutboxStore`),
 * cached document snapshots (`DocSnapshotCache`), the web app's search index (`SearchIndexStore`)
 * and the encrypted groups' secrets and plaintexts (`MlsVault`); a second one holds the attachments
 * (`IndexedDbBlobStore`).
 */

export {
  BLOB_CHUNKS,
  BLOB_INFO,
  BLOB_SCHEMA_VERSION,
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
export { MlsVault } from './mls-vault.ts'
export { type IndexedDbOutboxOptions, IndexedDbOutboxStore, openIndexedDbOutbox } from './outbox-store.ts'
export {
  type DatabaseOptions,
  DOC_SNAPSHOTS,
  EVENTS,
  logDatabaseName,
  MLS_PLAIN,
  MLS_SECRETS,
  OUTBOX,
  SCHEMA_VERSION,
  SEARCH_INDEX,
} from './schema.ts'
export { SearchIndexStore } from './search-store.ts'
