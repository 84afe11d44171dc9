/** Test support shipped with the engine (`@peerchat/engine/testing`): conformance suites and fixtures. */
export { fakeStoredEvent, fixtureUlid, type PoolOptions, signedPool, toStored } from './events.ts'
export { runStoreConformance, type StoreFixture } from './store-conformance.ts'
