export {
  ANNOUNCE_FIELD,
  type AwarenessLike,
  announceVirtual,
  isAnnouncedVirtual,
} from '@peerchat/transports/announce'
export { HELP, parseVcConfig, type VcConfig } from './config.ts'
export { FileBlobStore, FileBlobStoreDefaults, type FileBlobStoreOptions } from './file-blob-store.ts'
export { FileStore, FileStoreDefaults, type FileStoreOptions } from './file-store.ts'
export { loadOrCreateIdentity } from './key-file.ts'
export { renderMetrics, serveMetrics, type VcCounters } from './metrics.ts'
export {
  fetchWellKnown,
  relayUrls,
  VirtualClient,
  VirtualClientDefaults,
  type VirtualClientOptions,
} from './virtual-client.ts'
