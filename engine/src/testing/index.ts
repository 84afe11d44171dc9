/** Test support shipped with the engine (`@peerchat/engine/testing`): conformance suites and fixtures. */

export { type BlobStoreFixture, runBlobStoreConformance } from './blob-store-conformance.ts'
export { seededBytes } from './bytes.ts'
export {
  fakeStoredEvent,
  fixtureUlid,
  type PoolOptions,
  signedPool,
  toStored,
  withCheckpoints,
} from './events.ts'
export { runStoreConformance, type StoreFixture } from './store-conformance.ts'
