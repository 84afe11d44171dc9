import 'fake-indexeddb/auto'
import { LimitError, randomBytes } from '@peerchat/engine'
import { CHUNK_BYTES, describeBlob } from '@peerchat/engine/blobs'
import { fakeStoredEvent, runBlobStoreConformance, seededBytes } from '@peerchat/engine/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BLOB_CHUNKS,
  blobDatabaseName,
  deleteIndexedDbBlobStore,
  type IndexedDbBlobStore,
  openIndexedDbBlobStore,
  openIndexedDbStore,
  QUOTA_LIMIT,
} from '../src/index.ts'

runBlobStoreConformance(
  'indexeddb (fake-indexeddb)',
  async () => {
    const relayKey = randomBytes(32)
    return {
      store: await openIndexedDbBlobStore({ relayKey }),
      reopen: () => openIndexedDbBlobStore({ relayKey }),
      teardown: () => deleteIndexedDbBlobStore({ relayKey }),
    }
  },
  { durable: true },
)

function blob(size: number, seed: number): { digest: Uint8Array; bytes: Uint8Array } {
  const bytes = seededBytes(size, seed)
  return { digest: describeBlob(bytes).digest, bytes }
}

const open: IndexedDbBlobStore[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.close()
})

describe('IndexedDbBlobStore', () => {
  it('names its database after the relay key, apart from the log database', () => {
    const key = new Uint8Array(32).fill(0xab)
    expect(blobDatabaseName(key)).toBe(`peerchat-blobs-${'ab'.repeat(32)}`)
  })

  it('stores a blob as chunk rows; a read across a chunk boundary reads only the chunks it covers', async () => {
    const store = await openIndexedDbBlobStore({ relayKey: randomBytes(32) })
    open.push(store)
    const a = blob(3 * CHUNK_BYTES + 100, 1)
    await store.put(a.digest, a.bytes)
    const db = (store as unknown as { db: IDBDatabase }).db
    const count = await new Promise<number>((ok) => {
      const r = db.transaction(BLOB_CHUNKS).objectStore(BLOB_CHUNKS).count()
      r.onsuccess = () => ok(r.result)
    })
    expect(count).toBe(4)
    // Count the chunk rows each read returns (getAll on the chunk store).
    const realGetAll = IDBObjectStore.prototype.getAll
    let rows = 0
    IDBObjectStore.prototype.getAll = function (
      this: IDBObjectStore,
      ...args: Parameters<IDBObjectStore['getAll']>
    ) {
      const req = realGetAll.apply(this, args)
      if (this.name === BLOB_CHUNKS)
        req.addEventListener('success', () => (rows += (req.result as unknown[]).length))
      return req
    }
    try {
      const from = CHUNK_BYTES - 10
      expect(await store.read(a.digest, from, 20)).toEqual(a.bytes.slice(from, from + 20))
      expect(rows).toBe(2)
      rows = 0
      expect(await store.read(a.digest, 3 * CHUNK_BYTES, CHUNK_BYTES)).toEqual(a.bytes.slice(3 * CHUNK_BYTES))
      expect(rows).toBe(1)
    } finally {
      IDBObjectStore.prototype.getAll = realGetAll
    }
  })

  describe('when the browser runs out of space', () => {
    const realAdd = IDBObjectStore.prototype.add
    afterEach(() => {
      IDBObjectStore.prototype.add = realAdd
    })
    const quota = () => new DOMException('quota exceeded', 'QuotaExceededError')
    it('evicts unpinned blobs, least recently used first, then retries; pinned ones stay', async () => {
      const evicted: number[] = []
      const store = await openIndexedDbBlobStore({ relayKey: randomBytes(32) })
      store.onEvict((_d, size) => evicted.push(size))
      open.push(store)
      const mine = blob(100_000, 1)
      const old = blob(90_000, 2)
      const recent = blob(80_000, 3)
      await store.put(mine.digest, mine.bytes, { pinned: true, usedAt: 1 })
      await store.put(old.digest, old.bytes, { usedAt: 2 })
      await store.put(recent.digest, recent.bytes, { usedAt: 3 })
      const incoming = blob(50_000, 4)
      // The first attempt is refused; the store evicts `old` (LRU, unpinned) and retries.
      let refusals = 0
      IDBObjectStore.prototype.add = function (
        this: IDBObjectStore,
        ...args: Parameters<IDBObjectStore['add']>
      ) {
        if (this.name === BLOB_CHUNKS && refusals === 0) {
          refusals++
          throw quota()
        }
        return realAdd.apply(this, args)
      }
      expect(await store.put(incoming.digest, incoming.bytes, { usedAt: 4 })).toBe(true)
      expect(evicted).toEqual([90_000])
      expect(await store.has(old.digest)).toBe(false)
      expect(await store.has(mine.digest)).toBe(true)
      expect(await store.has(recent.digest)).toBe(true)
      expect(await store.get(incoming.digest)).toEqual(incoming.bytes)
    })

    it('a retry refused again evicts the next unpinned blob (freed space counted late)', async () => {
      const evicted: number[] = []
      const store = await openIndexedDbBlobStore({ relayKey: randomBytes(32) })
      store.onEvict((_d, size) => evicted.push(size))
      open.push(store)
      const mine = blob(100_000, 7)
      const old = blob(90_000, 8)
      const recent = blob(80_000, 9)
      await store.put(mine.digest, mine.bytes, { pinned: true, usedAt: 1 })
      await store.put(old.digest, old.bytes, { usedAt: 2 })
      await store.put(recent.digest, recent.bytes, { usedAt: 3 })
      let refusals = 0
      IDBObjectStore.prototype.add = function (
        this: IDBObjectStore,
        ...args: Parameters<IDBObjectStore['add']>
      ) {
        if (this.name === BLOB_CHUNKS && refusals < 2) {
          refusals++
          throw quota()
        }
        return realAdd.apply(this, args)
      }
      const incoming = blob(50_000, 10)
      expect(await store.put(incoming.digest, incoming.bytes, { usedAt: 4 })).toBe(true)
      expect(evicted).toEqual([90_000, 80_000])
      expect((await store.list()).map((b) => b.pinned).sort()).toEqual([false, true]) // incoming + mine
    })

    it('a refusal that eviction cannot fix is a LimitError, and nothing of the blob is written', async () => {
      const store = await openIndexedDbBlobStore({ relayKey: randomBytes(32) })
      open.push(store)
      const mine = blob(70_000, 5)
      await store.put(mine.digest, mine.bytes, { pinned: true })
      IDBObjectStore.prototype.add = function (
        this: IDBObjectStore,
        ...args: Parameters<IDBObjectStore['add']>
      ) {
        if (this.name === BLOB_CHUNKS) throw quota()
        return realAdd.apply(this, args)
      }
      const big = blob(200_000, 6)
      const failure = store.put(big.digest, big.bytes)
      await expect(failure).rejects.toBeInstanceOf(LimitError)
      await expect(failure).rejects.toMatchObject({
        limit: QUOTA_LIMIT,
        message: /storage is full.*messages are safe/s,
      })
      expect(await store.has(big.digest)).toBe(false)
      expect(await store.list()).toHaveLength(1)
      expect(await store.get(mine.digest)).toEqual(mine.bytes)
    })

    it('a full blob database leaves the log store writable (separate databases)', async () => {
      const relayKey = randomBytes(32)
      const blobs = await openIndexedDbBlobStore({ relayKey })
      open.push(blobs)
      const log = await openIndexedDbStore({ relayKey })
      IDBObjectStore.prototype.add = function (
        this: IDBObjectStore,
        ...args: Parameters<IDBObjectStore['add']>
      ) {
        if (this.name === BLOB_CHUNKS) throw quota()
        return realAdd.apply(this, args)
      }
      const big = blob(100_000, 7)
      await expect(blobs.put(big.digest, big.bytes)).rejects.toBeInstanceOf(LimitError)
      const events = Array.from({ length: 5 }, (_, i) => fakeStoredEvent('general', i))
      expect(await log.putMany('general', events)).toBe(5)
      expect(await log.count('general')).toBe(5)
      await log.close()
    })
  })
})
