/**
 * The browser's channel-log `Store`: one IndexedDB database per community, events keyed by
 * [channel, id], and in memory one `RankedIndex` of (id, digest) per channel, so `count`,
 * `fingerprint`, `idsAtRanks` and `has` never touch the disk; only `getRange` reads events.
 *
 * The index is rebuilt from a key-only cursor over the `digests` index (whose keys are
 * [channel, id, digest]), without reading any event, when first needed: `open` returns at once,
 * and a reload shows the newest page before the index of a long history is built (one cursor
 * step per event, which would hold up every other request meanwhile). Until it is, `channels`
 * skips through the keys one channel at a time and the newest page is found by skipping back
 * from the end of its range; everything else waits for the index. Each `putMany`/`deleteMany` is one
 * transaction and resolves when it has committed: written entirely, or (on a quota error, a
 * LimitError) not at all. The wire layout is in docs/protocol/storage-indexeddb.md.
 *
 * Several tabs may open the same database: each posts its committed writes on a
 * BroadcastChannel so the others' indexes follow, and an `add` that collides with another
 * tab's copy keeps that copy and indexes it.
 */
import {
  checkBatch,
  DecodeError,
  DIGEST_BYTES,
  decodeEvent,
  encodeEvent,
  type Fingerprint,
  type GetRangeOptions,
  type IdRange,
  isValidChannel,
  parseUlid,
  RankedIndex,
  type Store,
  type StoreChange,
  type StoredEvent,
  type Ulid,
} from '@peerchat/engine'
import { deleteDatabase, tolerate, transact, type WriteMode } from './idb.ts'
import {
  type DatabaseOptions,
  DIGESTS_INDEX,
  EVENTS,
  factoryOf,
  logDatabaseName,
  openCommunityDatabase,
} from './schema.ts'

/** One stored event: its key parts, its digest (for the index) and its canonical bytes. */
export interface EventRow {
  c: string
  i: Ulid
  d: Uint8Array
  e: Uint8Array
}

export interface IndexedDbStoreOptions extends DatabaseOptions {
  /** Defaults to `globalThis.IDBKeyRange`. */
  keyRange?: typeof IDBKeyRange
  /**
   * Of write transactions. 'strict' (default): `putMany` resolves once the browser has flushed
   * the batch to disk, so an acknowledged event survives a crash or power loss. 'relaxed' is
   * faster (bench/README.md, ## indexeddb) but may lose the last writes of a crashing browser.
   */
  durability?: Durability
  /** Keep other tabs' instances in step over a BroadcastChannel (default: when the API exists). */
  broadcast?: boolean
}

export type Durability = 'strict' | 'relaxed'

/**
 * A committed write, posted on a BroadcastChannel named like the database so the other tabs'
 * instances update their in-memory indexes (same origin only).
 */
interface Change {
  channel: string
  added: { i: Ulid; d: Uint8Array }[]
  deleted: Ulid[]
}

/**
 * Most ids in one change message (a larger write is posted in parts): a message above it, from
 * a hostile page of the origin, is ignored before any id is looked at.
 */
export const BROADCAST_IDS_MAX = 4096

function isChange(data: unknown): data is Change {
  const c = data as Change | null
  return (
    typeof c?.channel === 'string' &&
    Array.isArray(c.added) &&
    Array.isArray(c.deleted) &&
    c.added.length + c.deleted.length <= BROADCAST_IDS_MAX &&
    isValidChannel(c.channel) &&
    Array.isArray(c.added) &&
    c.added.every((a) => isUlid(a?.i) && a.d instanceof Uint8Array && a.d.length === DIGEST_BYTES) &&
    Array.isArray(c.deleted) &&
    c.deleted.every(isUlid)
  )
}

function isUlid(id: unknown): boolean {
  try {
    return typeof id === 'string' && parseUlid(id) === id
  } catch {
    return false
  }
}

/** Deletes a community's database (leaving a community; tests). */
export function deleteIndexedDbStore(opts: DatabaseOptions): Promise<void> {
  return deleteDatabase(factoryOf(opts), logDatabaseName(opts.relayKey))
}

const describe = (n: number, channel: string): string => `${n} event${n === 1 ? '' : 's'} of #${channel}`

/** A view's own bytes: structured clone would otherwise store the view's whole buffer. */
const own = (bytes: Uint8Array): Uint8Array =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice()

function toRow(item: StoredEvent): EventRow {
  return { c: item.event.channel, i: item.event.id, d: own(item.digest), e: own(encodeEvent(item.event)) }
}

function fromRow(row: EventRow): StoredEvent {
  const event = decodeEvent(new Uint8Array(row.e))
  if (event.id !== row.i || event.channel !== row.c)
    throw new DecodeError(`stored event ${row.c}/${row.i} decodes as ${event.channel}/${event.id}`)
  return { event, digest: new Uint8Array(row.d) }
}

export class IndexedDbStore implements Store {
  private closedBecause: string | undefined
  /** The in-memory indexes, once loaded. */
  private logs: Map<string, RankedIndex<true>> | undefined
  private loading: Promise<Map<string, RankedIndex<true>>> | undefined
  /** Other tabs' writes posted while the indexes load: applied right after. */
  private readonly early: Change[] = []
  /** Told of the changes other tabs commit (`Store.watch`). */
  private readonly watchers = new Set<(change: StoreChange) => void>()

  private constructor(
    private readonly db: IDBDatabase,
    private readonly keyRange: typeof IDBKeyRange,
    /** Every write transaction's options (its durability). */
    private readonly write: WriteMode,
    private readonly peers: BroadcastChannel | undefined,
  ) {
    // Listening before the indexes load: a write another tab commits meanwhile is not missed.
    if (peers)
      peers.onmessage = (message: MessageEvent) => {
        if (this.closedBecause !== undefined || !isChange(message.data)) return
        const { channel, added, deleted } = message.data
        if (this.logs) this.apply(channel, added, deleted)
        else this.early.push(message.data)
        const change: StoreChange = { channel, added: added.map((a) => a.i), deleted }
        for (const listener of [...this.watchers]) listener(change)
      }
    // Another tab upgrading or deleting the database: step aside rather than block it.
    db.onversionchange = () => this.shut('the database was upgraded or deleted by another tab: reload')
    db.onclose = () => this.shut('the browser closed the database (site data cleared?): reload')
  }

  /** Opens the database; the indexes load when first needed (see the file's comment). */
  static async open(opts: IndexedDbStoreOptions): Promise<IndexedDbStore> {
    const keyRange = opts.keyRange ?? globalThis.IDBKeyRange
    if (!keyRange) throw new Error('IndexedDB is not available in this environment')
    const name = logDatabaseName(opts.relayKey)
    const db = await openCommunityDatabase(opts)
    const broadcast = (opts.broadcast ?? true) && typeof BroadcastChannel === 'function'
    const peers = broadcast ? new BroadcastChannel(name) : undefined
    return new IndexedDbStore(db, keyRange, { durability: opts.durability ?? 'strict' }, peers)
  }

  /** The indexes, loaded on the first call. */
  private indexes(): Promise<Map<string, RankedIndex<true>>> {
    if (this.logs) return Promise.resolve(this.logs)
    this.loading ??= loadIndexes(this.db).then((logs) => {
      this.logs = logs
      for (const change of this.early.splice(0)) this.apply(change.channel, change.added, change.deleted)
      return logs
    })
    return this.loading
  }

  async putMany(channel: string, items: readonly StoredEvent[]): Promise<number> {
    this.checkOpen()
    checkBatch(channel, items)
    const index = (await this.indexes()).get(channel)
    const fresh = new Map<Ulid, StoredEvent>()
    for (const item of items)
      if (index?.get(item.event.id) === undefined && !fresh.has(item.event.id)) fresh.set(item.event.id, item)
    if (fresh.size === 0) return 0
    // Encode before the transaction opens: a malformed event throws here and nothing is written.
    const rows = [...fresh.values()].map(toRow)
    const { added, found } = await transact(
      this.db,
      EVENTS,
      this.write,
      describe(rows.length, channel),
      (store) => {
        const added: EventRow[] = []
        // Ids on disk that this instance did not index (another tab wrote them): the stored copy
        // wins, and its digest joins the index so fingerprints keep matching the disk.
        const found: EventRow[] = []
        for (const row of rows)
          tolerate(
            store.add(row),
            'ConstraintError',
            () => added.push(row),
            () => {
              const stored = store.get([row.c, row.i])
              stored.onsuccess = () => stored.result && found.push(stored.result as EventRow)
            },
          )
        return () => ({ added, found })
      },
    )
    this.apply(channel, [...added, ...found], [])
    for (let at = 0; at < added.length; at += BROADCAST_IDS_MAX)
      this.peers?.postMessage({
        channel,
        added: added.slice(at, at + BROADCAST_IDS_MAX).map(({ i, d }) => ({ i, d })),
        deleted: [],
      } satisfies Change)
    return added.length
  }

  async getRange(channel: string, range: IdRange, opts: GetRangeOptions = {}): Promise<StoredEvent[]> {
    this.checkOpen()
    const { limit, reverse = false } = opts
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0))
      throw new RangeError(`limit must be a non-negative integer, got ${limit}`)
    if (limit === 0 || (range.gte !== undefined && range.lt !== undefined && range.lt <= range.gte)) return []
    // The newest page before the indexes are loaded (a reload).
    if (reverse && limit !== undefined && !this.logs) return this.newest(channel, range, limit)
    let from = range
    if (reverse && limit !== undefined) {
      // The newest `limit`: find where they start in the index, then read only those.
      const index = this.logs?.get(channel)
      const n = index?.count(range) ?? 0
      if (n > limit) from = { ...range, gte: index!.idsAtRanks(range, [n - limit])[0]! }
    }
    const rows = await transact(this.db, EVENTS, 'readonly', `reading #${channel}`, (store) => {
      const request = store.getAll(this.keys(channel, from), reverse ? undefined : limit)
      return () => request.result as EventRow[]
    })
    const picked = reverse ? rows.slice(limit === undefined ? 0 : -limit).reverse() : rows
    return picked.map(fromRow)
  }

  async has(channel: string, id: Ulid): Promise<boolean> {
    this.checkOpen()
    return (await this.indexes()).get(channel)?.get(id) !== undefined
  }

  async count(channel: string, range: IdRange = {}): Promise<number> {
    this.checkOpen()
    return (await this.indexes()).get(channel)?.count(range) ?? 0
  }

  async fingerprint(channel: string, range: IdRange): Promise<Fingerprint> {
    this.checkOpen()
    return ((await this.indexes()).get(channel) ?? EMPTY).fingerprint(range)
  }

  async idsAtRanks(channel: string, range: IdRange, ranks: readonly number[]): Promise<Ulid[]> {
    this.checkOpen()
    return ((await this.indexes()).get(channel) ?? EMPTY).idsAtRanks(range, ranks)
  }

  async deleteMany(channel: string, ids: readonly Ulid[]): Promise<number> {
    this.checkOpen()
    const unique = [...new Set(ids)]
    if (unique.length === 0) return 0
    await this.indexes()
    // Delete every id asked for, even ones this instance does not index (another tab's).
    await transact(
      this.db,
      EVENTS,
      this.write,
      `the deletion of ${describe(unique.length, channel)}`,
      (store) => {
        for (const id of unique) store.delete([channel, id])
        return () => undefined
      },
    )
    const removed = this.apply(channel, [], unique)
    for (let at = 0; at < unique.length; at += BROADCAST_IDS_MAX)
      this.peers?.postMessage({
        channel,
        added: [],
        deleted: unique.slice(at, at + BROADCAST_IDS_MAX),
      } satisfies Change)
    return removed
  }

  async channels(): Promise<string[]> {
    this.checkOpen()
    if (this.logs) return [...this.logs.keys()].sort()
    // Before the indexes: one step per channel ([channel, []] sorts after all of its ids).
    return transact(this.db, EVENTS, 'readonly', 'listing the channels', (store) => {
      const found: string[] = []
      const cursor = store.openKeyCursor()
      cursor.onsuccess = () => {
        const at = cursor.result
        if (!at) return
        const channel = (at.key as [string, Ulid])[0]
        found.push(channel)
        at.continue([channel, []])
      }
      return () => found
    })
  }

  /**
   * The newest `limit` events of a range, newest first, without the in-memory index: a key
   * cursor from the end of the range skips back `limit - 1` keys in one step (`advance`), then
   * only the events from there on are read. Three requests, however long the history.
   */
  private async newest(channel: string, range: IdRange, limit: number): Promise<StoredEvent[]> {
    const keys = this.keys(channel, range)
    const rows = await transact(this.db, EVENTS, 'readonly', `reading #${channel}`, (store) => {
      let rows: EventRow[] = []
      const read = (from: IDBKeyRange) => {
        const page = store.getAll(from)
        page.onsuccess = () => {
          rows = page.result as EventRow[]
        }
      }
      const cursor = store.openKeyCursor(keys, 'prev')
      let skipped = false
      cursor.onsuccess = () => {
        const at = cursor.result
        // Fewer than `limit`: all of the range.
        if (!at) return skipped ? read(keys) : undefined
        if (!skipped && limit > 1) {
          skipped = true
          return at.advance(limit - 1)
        }
        read(this.keys(channel, { ...range, gte: (at.key as [string, Ulid])[1] }))
      }
      return () => rows
    })
    return rows.reverse().map(fromRow)
  }

  watch(listener: (change: StoreChange) => void): () => void {
    this.watchers.add(listener)
    return () => void this.watchers.delete(listener)
  }

  async close(): Promise<void> {
    this.watchers.clear()
    this.shut('store is closed')
  }

  private shut(reason: string): void {
    if (this.closedBecause !== undefined) return
    this.closedBecause = reason
    this.peers?.close()
    this.db.close()
  }

  private checkOpen(): void {
    if (this.closedBecause !== undefined) throw new Error(this.closedBecause)
  }

  /** Applies committed changes to the in-memory index; returns how many ids were removed. */
  private apply(
    channel: string,
    added: readonly { i: Ulid; d: Uint8Array }[],
    deleted: readonly Ulid[],
  ): number {
    const logs = this.logs
    if (!logs) return 0 // only called once they are loaded
    let index = logs.get(channel)
    if (!index && added.length > 0) {
      index = new RankedIndex<true>()
      logs.set(channel, index)
    }
    if (!index) return 0
    for (const { i, d } of added) index.insert(i, d, true)
    let removed = 0
    for (const id of deleted) if (index.delete(id)) removed++
    if (index.size === 0) logs.delete(channel)
    return removed
  }

  /**
   * The keys [channel, id] of a range. IndexedDB orders a shorter array first and any array
   * after every string, so [channel] and [channel, []] bracket all of a channel's ids.
   */
  private keys(channel: string, range: IdRange): IDBKeyRange {
    const lower = range.gte === undefined ? [channel] : [channel, range.gte]
    const upper = range.lt === undefined ? [channel, []] : [channel, range.lt]
    return this.keyRange.bound(lower, upper, false, true)
  }
}

/** One pass of a key-only cursor over [channel, id, digest]: no event is read or decoded. */
function loadIndexes(db: IDBDatabase): Promise<Map<string, RankedIndex<true>>> {
  return transact(db, EVENTS, 'readonly', 'loading the log index', (store) => {
    const logs = new Map<string, RankedIndex<true>>()
    const cursor = store.index(DIGESTS_INDEX).openKeyCursor()
    cursor.onsuccess = () => {
      const at = cursor.result
      if (!at) return
      const [channel, id, digest] = at.key as [string, Ulid, ArrayBuffer]
      let index = logs.get(channel)
      if (!index) {
        index = new RankedIndex<true>()
        logs.set(channel, index)
      }
      index.insert(id, new Uint8Array(digest), true)
      at.continue()
    }
    return () => logs
  })
}

const EMPTY = new RankedIndex<true>()

export const openIndexedDbStore = (opts: IndexedDbStoreOptions): Promise<IndexedDbStore> =>
  IndexedDbStore.open(opts)
