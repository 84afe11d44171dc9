import 'fake-indexeddb/auto'
import {
  eventDigest,
  fingerprintOfDigests,
  LimitError,
  MemoryStore,
  randomBytes,
  type Store,
  type StoredEvent,
} from '@peerchat/engine'
import { openDoc } from '@peerchat/engine/docs'
import { fakeStoredEvent, runStoreConformance } from '@peerchat/engine/testing'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  DOC_SNAPSHOTS,
  DocSnapshotCache,
  deleteIndexedDbStore,
  EVENTS,
  type IndexedDbStore,
  logDatabaseName,
  openIndexedDbStore,
  QUOTA_LIMIT,
} from '../src/index.ts'
import { BROADCAST_IDS_MAX } from '../src/indexeddb-store.ts'

async function freshStore(): Promise<{ store: IndexedDbStore; reopen: () => Promise<IndexedDbStore> }> {
  const relayKey = randomBytes(32)
  return { store: await openIndexedDbStore({ relayKey }), reopen: () => openIndexedDbStore({ relayKey }) }
}

runStoreConformance(
  'indexeddb (fake-indexeddb)',
  async () => {
    const relayKey = randomBytes(32)
    return {
      store: await openIndexedDbStore({ relayKey }),
      reopen: () => openIndexedDbStore({ relayKey }),
      teardown: () => deleteIndexedDbStore({ relayKey }),
    }
  },
  { durable: true },
)

const CH = 'general'
const pool = (n: number, channel = CH): StoredEvent[] =>
  Array.from({ length: n }, (_, i) => fakeStoredEvent(channel, i))
const ids = (items: readonly StoredEvent[]) => items.map((s) => s.event.id)

const open: Store[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.close()
})
const track = <T extends Store>(s: T): T => {
  open.push(s)
  return s
}

describe('IndexedDbStore', () => {
  it('names one database per community after the relay key', () => {
    const key = new Uint8Array(32).fill(0xab)
    expect(logDatabaseName(key)).toBe(`peerchat-log-${'ab'.repeat(32)}`)
    expect(() => logDatabaseName(new Uint8Array(31))).toThrow(RangeError)
  })

  it('answers like MemoryStore after a reopen rebuilt its index from keys only', async () => {
    const { store, reopen } = await freshStore()
    const memory = new MemoryStore()
    const events = [...pool(700), ...pool(40, 'random')]
    for (const channel of [CH, 'random']) {
      const mine = events.filter((s) => s.event.channel === channel)
      await store.putMany(channel, mine)
      await memory.putMany(channel, mine)
    }
    await store.close()
    const again = track(await reopen())
    expect(await again.channels()).toEqual(await memory.channels())
    const range = { gte: events[123]!.event.id, lt: events[654]!.event.id }
    for (const channel of [CH, 'random']) {
      expect(await again.count(channel)).toBe(await memory.count(channel))
      expect(await again.fingerprint(channel, range)).toEqual(await memory.fingerprint(channel, range))
      expect(await again.fingerprint(channel, {})).toEqual(await memory.fingerprint(channel, {}))
    }
    expect(await again.idsAtRanks(CH, range, [0, 300, 530])).toEqual(
      await memory.idsAtRanks(CH, range, [0, 300, 530]),
    )
    expect(await again.has(CH, events[5]!.event.id)).toBe(true)
  })

  it('answers the channels and the newest page while its index still loads (a reload)', async () => {
    const { store, reopen } = await freshStore()
    const events = [...pool(600), ...pool(30, 'random'), ...pool(5, 'zeta')]
    for (const channel of [CH, 'random', 'zeta'])
      await store.putMany(
        channel,
        events.filter((s) => s.event.channel === channel),
      )
    await store.close()
    const again = track(await reopen())
    const loading = () => (again as unknown as { logs?: unknown }).logs === undefined
    expect(loading()).toBe(true)
    const [channels, newest, before] = await Promise.all([
      again.channels(),
      again.getRange(CH, {}, { reverse: true, limit: 50 }),
      again.getRange(CH, { lt: events[100]!.event.id }, { reverse: true, limit: 500 }),
    ])
    expect(channels).toEqual(['general', 'random', 'zeta'])
    expect(ids(newest)).toEqual(ids(events.slice(550, 600).reverse()))
    expect(ids(before)).toEqual(ids(events.slice(0, 100).reverse()))
    // The rest waits for the index, then answers from it.
    expect(await again.count(CH)).toBe(600)
    expect(loading()).toBe(false)
    expect(ids(await again.getRange(CH, {}, { reverse: true, limit: 50 }))).toEqual(ids(newest))
  })

  it('reads the newest page with reverse + limit, also across a reopen', async () => {
    const { store } = await freshStore()
    track(store)
    const events = pool(50)
    await store.putMany(CH, events)
    const page = await store.getRange(CH, { lt: events[40]!.event.id }, { reverse: true, limit: 5 })
    expect(ids(page)).toEqual(ids(events.slice(35, 40).reverse()))
    expect(page[0]!.digest).toEqual(events[39]!.digest)
    expect(page[0]!.event.body).toEqual(events[39]!.event.body)
    await expect(store.getRange(CH, {}, { limit: -1 })).rejects.toThrow(RangeError)
  })

  it('keeps the first copy of an id another tab wrote, and indexes that copy', async () => {
    const relayKey = randomBytes(32)
    // No broadcast: `store` learns of the other tab's write only when its own add collides.
    const store = track(await openIndexedDbStore({ relayKey, broadcast: false }))
    const other = track(await openIndexedDbStore({ relayKey, broadcast: false }))
    const [a, b] = pool(2)
    const forged = { ...a!.event, body: new TextEncoder().encode('another copy') }
    const first = { event: forged, digest: eventDigest(forged) }
    expect(await store.count(CH)).toBe(0) // its index is loaded (empty) before the other tab writes
    await other.putMany(CH, [first])
    expect(await store.has(CH, a!.event.id)).toBe(false)
    expect(await store.putMany(CH, [a!, b!])).toBe(1)
    expect(await store.has(CH, a!.event.id)).toBe(true)
    const [kept] = await store.getRange(CH, {}, { limit: 1 })
    expect(kept!.event.body).toEqual(forged.body)
    expect(await store.fingerprint(CH, {})).toEqual(fingerprintOfDigests([first.digest, b!.digest]))
  })

  it("sees another tab's writes and deletes through a BroadcastChannel", async () => {
    const { store, reopen } = await freshStore()
    track(store)
    const other = track(await reopen())
    const events = pool(20)
    await other.putMany(CH, events)
    await vi.waitFor(async () => expect(await store.count(CH)).toBe(20))
    expect(await store.fingerprint(CH, {})).toEqual(await other.fingerprint(CH, {}))
    await other.deleteMany(CH, ids(events.slice(0, 5)))
    await vi.waitFor(async () => expect(await store.count(CH)).toBe(15))
    expect(await store.has(CH, events[0]!.event.id)).toBe(false)
  })

  it('posts a large write in parts another tab takes whole, and ignores an oversized message', async () => {
    const relayKey = randomBytes(32)
    const store = track(await openIndexedDbStore({ relayKey }))
    const other = track(await openIndexedDbStore({ relayKey }))
    const heard: number[] = []
    store.watch((c) => heard.push(c.added.length))
    const events = pool(BROADCAST_IDS_MAX + 10)
    await other.putMany(CH, events)
    await vi.waitFor(() => expect(heard).toEqual([BROADCAST_IDS_MAX, 10]))
    expect(await store.count(CH)).toBe(events.length)
    // A hostile page of the origin: a message past the bound is dropped before its ids are read.
    const hostile = new BroadcastChannel(logDatabaseName(relayKey))
    const more = pool(BROADCAST_IDS_MAX + 1, 'elsewhere')
    hostile.postMessage({
      channel: 'elsewhere',
      added: more.map((e) => ({ i: e.event.id, d: e.digest })),
      deleted: [],
    })
    hostile.close()
    await new Promise((r) => setTimeout(r, 100))
    expect(heard).toEqual([BROADCAST_IDS_MAX, 10])
    expect(await store.count('elsewhere')).toBe(0)
  })

  it('surfaces a corrupt row as a DecodeError instead of skipping it', async () => {
    const { store, reopen } = await freshStore()
    await store.putMany(CH, pool(3))
    await store.close()
    const [first] = pool(1)
    const db = await rawOpen(store)
    await new Promise<void>((ok, fail) => {
      const tx = db.transaction(EVENTS, 'readwrite')
      tx.objectStore(EVENTS).put({ c: CH, i: first!.event.id, d: first!.digest, e: new Uint8Array([1, 2]) })
      tx.oncomplete = () => ok()
      tx.onerror = () => fail(tx.error)
    })
    db.close()
    const again = track(await reopen())
    await expect(again.getRange(CH, {})).rejects.toMatchObject({ name: 'DecodeError' })
  })

  it('closes itself when another tab deletes the database', async () => {
    const relayKey = randomBytes(32)
    const store = track(await openIndexedDbStore({ relayKey }))
    await store.putMany(CH, pool(1))
    await deleteIndexedDbStore({ relayKey })
    await expect(store.count(CH)).rejects.toThrow(/another tab/)
  })
})

/** Opens the store's database directly, by its name (the store's own connection is closed). */
async function rawOpen(store: IndexedDbStore): Promise<IDBDatabase> {
  const name = (store as unknown as { db: IDBDatabase }).db.name
  return new Promise((ok, fail) => {
    const r = indexedDB.open(name)
    r.onsuccess = () => ok(r.result)
    r.onerror = () => fail(r.error)
  })
}

describe('IndexedDbStore when the browser runs out of space', () => {
  type Exec = (this: IDBTransaction, req: { operation: () => unknown }) => IDBRequest
  const tx = IDBTransaction.prototype as unknown as { _execRequestAsync: Exec }
  const realExec = tx._execRequestAsync
  const realAdd = IDBObjectStore.prototype.add
  afterEach(() => {
    tx._execRequestAsync = realExec
    IDBObjectStore.prototype.add = realAdd
  })
  const quota = () => new DOMException('quota exceeded', 'QuotaExceededError')

  async function expectNothingWritten(
    store: IndexedDbStore,
    reopen: () => Promise<IndexedDbStore>,
    before: StoredEvent[],
    attempt: StoredEvent[],
  ) {
    const failure = store.putMany(CH, attempt)
    await expect(failure).rejects.toBeInstanceOf(LimitError)
    await expect(failure).rejects.toMatchObject({ limit: QUOTA_LIMIT, message: /storage is full.*retry/s })
    expect(await store.count(CH)).toBe(before.length)
    // Not half-applied on disk either: a fresh connection sees only what was there before.
    const again = track(await reopen())
    expect(ids(await again.getRange(CH, {}))).toEqual(ids(before))
    expect(await again.fingerprint(CH, {})).toEqual(fingerprintOfDigests(before.map((s) => s.digest)))
  }

  it('a write refused by the browser (request error, transaction aborted) is a LimitError and undone', async () => {
    const { store, reopen } = await freshStore()
    track(store)
    const events = pool(30)
    await store.putMany(CH, events.slice(0, 10))
    // The realistic path: the 5th add's request fails asynchronously and aborts the transaction,
    // as Chromium reports QuotaExceededError (fake-indexeddb internals, test only).
    let adds = 0
    tx._execRequestAsync = function (req) {
      if (++adds === 5)
        req.operation = () => {
          throw quota()
        }
      return realExec.call(this, req)
    }
    await expectNothingWritten(store, reopen, events.slice(0, 10), events.slice(10))
    tx._execRequestAsync = realExec
    expect(await store.putMany(CH, events.slice(10))).toBe(20)
  })

  it('a write that throws synchronously is a LimitError and undone', async () => {
    const { store, reopen } = await freshStore()
    track(store)
    const events = pool(30)
    await store.putMany(CH, events.slice(0, 10))
    let adds = 0
    IDBObjectStore.prototype.add = function (
      this: IDBObjectStore,
      ...args: Parameters<IDBObjectStore['add']>
    ) {
      if (++adds === 3) throw quota()
      return realAdd.apply(this, args)
    }
    await expectNothingWritten(store, reopen, events.slice(0, 10), events.slice(10))
  })
})

describe('DocSnapshotCache', () => {
  const host = { publish: async () => {} }

  it('restores a built document, drops a cached snapshot that no longer decodes', async () => {
    const relayKey = randomBytes(32)
    const cache = await DocSnapshotCache.open({ relayKey })
    const built = openDoc(CH, 'notes', host, { batchMs: 1 })
    built.doc.getText('t').insert(0, 'hello from the cache')
    await cache.save(built)
    await built.close()

    const fresh = openDoc(CH, 'notes', host)
    expect(await cache.load(fresh)).toEqual({ ok: true })
    expect(fresh.doc.getText('t').toString()).toBe('hello from the cache')
    expect(await cache.load(openDoc(CH, 'other', host))).toBeUndefined()
    await fresh.close()

    const db = (cache as unknown as { db: IDBDatabase }).db
    await new Promise<void>((ok) => {
      const tx = db.transaction(DOC_SNAPSHOTS, 'readwrite')
      tx.objectStore(DOC_SNAPSHOTS).put({ c: CH, doc: 'notes', s: new Uint8Array([9, 9, 9]) })
      tx.oncomplete = () => ok()
    })
    expect(await cache.load(openDoc(CH, 'notes', host))).toBeUndefined()
    const left = await new Promise((ok) => {
      const r = db.transaction(DOC_SNAPSHOTS).objectStore(DOC_SNAPSHOTS).count()
      r.onsuccess = () => ok(r.result)
    })
    expect(left).toBe(0)
    await cache.close()
    await expect(cache.load(fresh)).rejects.toThrow(/closed/)
    await deleteIndexedDbStore({ relayKey })
  })
})
