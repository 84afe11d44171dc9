/**
 * The per-community database: its name and object stores (docs/protocol/storage-indexeddb.md).
 * Shared by the log store, the outbox, the document snapshot cache, the search index and the
 * encrypted groups' vault, which open the same database.
 */
import { abytes, toHex } from '@peerchat/engine'
import { openDatabase } from './idb.ts'

export const SCHEMA_VERSION = 4
/** Stamped events, keyPath [c, i]. */
export const EVENTS = 'events'
/** Index of EVENTS on [c, i, d]: its keys alone rebuild the in-memory index. */
export const DIGESTS_INDEX = 'digests'
/** Cached document snapshots, keyPath [c, doc]. */
export const DOC_SNAPSHOTS = 'doc-snapshots'
/** Local writes not stamped yet (the Replica's outbox), out-of-line keys `<author hex>:<nonce hex>` (version 2). */
export const OUTBOX = 'outbox'
/** The web app's search index: strings under out-of-line keys (a month, or `meta`) (version 3). */
export const SEARCH_INDEX = 'search-index'
/** Encrypted groups: the device's MLS secrets and each group's state, out-of-line keys (version 4). */
export const MLS_SECRETS = 'mls-secrets'
/** Encrypted groups: the plaintexts this device decrypted or sent, keyPath [c, i] (version 4). */
export const MLS_PLAIN = 'mls-plain'

export interface DatabaseOptions {
  /** The community's relay public key: one database per community. */
  relayKey: Uint8Array
  /** Defaults to `globalThis.indexedDB` (tests pass fake-indexeddb's). */
  factory?: IDBFactory
}

/** `peerchat-log-<relay key hex>`: the relay key names the community. */
export function logDatabaseName(relayKey: Uint8Array): string {
  return `peerchat-log-${toHex(abytes(relayKey, 32, 'relayKey'))}`
}

export function factoryOf(opts: DatabaseOptions): IDBFactory {
  const factory = opts.factory ?? globalThis.indexedDB
  if (!factory) throw new Error('IndexedDB is not available in this environment')
  return factory
}

function upgrade(db: IDBDatabase, oldVersion: number): void {
  if (oldVersion < 1) {
    const events = db.createObjectStore(EVENTS, { keyPath: ['c', 'i'] })
    events.createIndex(DIGESTS_INDEX, ['c', 'i', 'd'])
    db.createObjectStore(DOC_SNAPSHOTS, { keyPath: ['c', 'doc'] })
  }
  if (oldVersion < 2) db.createObjectStore(OUTBOX)
  if (oldVersion < 3) db.createObjectStore(SEARCH_INDEX)
  if (oldVersion < 4) {
    db.createObjectStore(MLS_SECRETS)
    db.createObjectStore(MLS_PLAIN, { keyPath: ['c', 'i'] })
  }
}

export function openCommunityDatabase(opts: DatabaseOptions): Promise<IDBDatabase> {
  return openDatabase(factoryOf(opts), logDatabaseName(opts.relayKey), SCHEMA_VERSION, upgrade)
}
