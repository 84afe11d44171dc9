/**
 * `@peerchat/store-file`: the peerchat engine's storage ports on local files, for Node peers
 * (virtual clients, bots, tests that restart from disk). Formats: docs/protocol/storage.md.
 */
export { FileBlobStore, FileBlobStoreDefaults, type FileBlobStoreOptions } from './file-blob-store.ts'
export { FileOutboxStore, FileOutboxStoreDefaults, type FileOutboxStoreOptions } from './file-outbox-store.ts'
export { type EventHeader, FileStore, FileStoreDefaults, type FileStoreOptions } from './file-store.ts'
