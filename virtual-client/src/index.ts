// The file stores moved to @peerchat/store-file; re-exported for the code that took them from here.
export {
  FileBlobStore,
  FileBlobStoreDefaults,
  type FileBlobStoreOptions,
  FileStore,
  FileStoreDefaults,
  type FileStoreOptions,
} from '@peerchat/store-file'
export {
  ANNOUNCE_FIELD,
  type AwarenessLike,
  announceVirtual,
  isAnnouncedVirtual,
} from '@peerchat/transports/announce'
export { HELP, parseVcConfig, type VcConfig } from './config.ts'
export { loadOrCreateIdentity } from './key-file.ts'
export { renderMetrics, serveMetrics, type VcCounters } from './metrics.ts'
export {
  fetchWellKnown,
  relayUrls,
  VirtualClient,
  VirtualClientDefaults,
  type VirtualClientOptions,
} from './virtual-client.ts'
