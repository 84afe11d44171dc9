/**
 * The IndexedDB store's essential conformance checks, run in the page (real Chromium) and
 * exposed on `window.idbCheck` for tests/e2e/indexeddb.test.ts: every answer of the
 * IndexedDbStore is compared with MemoryStore's on the same events.
 */

import { fromHex, MemoryStore, type Store, type StoredEvent, toHex } from '@peerchat/engine'
import { type BlobStore, describeBlob, MemoryBlobStore } from '@peerchat/engine/blobs'
// The events module only: the testing barrel also exports the vitest suite.
import { fakeStoredEvent } from '../../../engine/src/testing/events.ts'
import {
  type Durability,
  deleteIndexedDbStore,
  openIndexedDbBlobStore,
  openIndexedDbStore,
} from '../../../stores/indexeddb/src/index.ts'

const pool = (channel: string, n: number): StoredEvent[] =>
  Array.from({ length: n }, (_, i) => fakeStoredEvent(channel, i))
const idsOf = (items: readonly StoredEvent[]): string => items.map((s) => s.event.id).join(',')

/** Every store answer on `channels`, as comparable strings. */
async function answers(
  store: Store,
  channels: string[],
  pools: Map<string, StoredEvent[]>,
): Promise<string[]> {
  const out = [`channels ${(await store.channels()).join(',')}`]
  for (const ch of channels) {
    const events = pools.get(ch)!
    const bounds = [undefined, ...events.filter((_, i) => i % 397 === 0).map((s) => s.event.id)]
    for (const gte of bounds)
      for (const lt of bounds) {
        const range = { gte, lt }
        const fp = await store.fingerprint(ch, range)
        const n = await store.count(ch, range)
        out.push(`${ch} ${gte}..${lt} count ${n} fp ${fp.count}:${toHex(fp.hash)}`)
        out.push(`page ${idsOf(await store.getRange(ch, range, { reverse: true, limit: 7 }))}`)
        if (n > 0) out.push(`ranks ${(await store.idsAtRanks(ch, range, [0, n >> 1, n - 1])).join(',')}`)
      }
    out.push(`all ${idsOf(await store.getRange(ch, {}))}`)
    out.push(`has ${await store.has(ch, events[3]!.event.id)} ${await store.has(ch, events[4]!.event.id)}`)
  }
  return out
}

async function compareWithMemory(): Promise<{ checks: number; mismatches: string[] }> {
  const relayKey = crypto.getRandomValues(new Uint8Array(32))
  const idb = await openIndexedDbStore({ relayKey })
  const memory = new MemoryStore()
  const pools = new Map([
    ['general', pool('general', 2000)],
    ['random', pool('random', 300)],
  ])
  for (const [ch, events] of pools) {
    // Out of order, in batches, with repeats: the same calls on both stores.
    const shuffled = events.map((_, i) => events[(i * 7919) % events.length]!)
    for (let i = 0; i < shuffled.length; i += 250) {
      const batch = shuffled.slice(i, i + 250)
      const [a, b] = [await idb.putMany(ch, batch), await memory.putMany(ch, batch)]
      if (a !== b) return { checks: 0, mismatches: [`putMany returned ${a}, memory ${b}`] }
    }
    if ((await idb.putMany(ch, events.slice(0, 10))) !== 0) return { checks: 0, mismatches: ['re-put added'] }
    const gone = events.filter((_, i) => i % 4 === 0).map((s) => s.event.id)
    const [a, b] = [await idb.deleteMany(ch, gone), await memory.deleteMany(ch, gone)]
    if (a !== b) return { checks: 0, mismatches: [`deleteMany returned ${a}, memory ${b}`] }
  }
  const channels = [...pools.keys()]
  const fromMemory = await answers(memory, channels, pools)
  const live = await answers(idb, channels, pools)
  await idb.close()
  // The same answers again from an index rebuilt off the disk.
  const reopened = await openIndexedDbStore({ relayKey })
  const rebuilt = await answers(reopened, channels, pools)
  await reopened.close()
  await deleteIndexedDbStore({ relayKey })
  const mismatches: string[] = []
  fromMemory.forEach((want, i) => {
    if (live[i] !== want) mismatches.push(`live: ${live[i]} != ${want}`)
    if (rebuilt[i] !== want) mismatches.push(`reopened: ${rebuilt[i]} != ${want}`)
  })
  return { checks: fromMemory.length * 2, mismatches: mismatches.slice(0, 10) }
}

/** Writes `n` events of #general to the community `relayKeyHex` (persistence across reloads; bench). */
async function write(
  relayKeyHex: string,
  n: number,
  batch: number,
  durability: Durability = 'strict',
): Promise<{ added: number; writeMs: number }> {
  const store = await openIndexedDbStore({ relayKey: fromHex(relayKeyHex), durability })
  const events = pool('general', n)
  const started = performance.now()
  let added = 0
  for (let i = 0; i < n; i += batch) added += await store.putMany('general', events.slice(i, i + batch))
  const writeMs = performance.now() - started
  await store.close()
  return { added, writeMs }
}

async function read(
  relayKeyHex: string,
): Promise<{ count: number; fingerprint: string; openMs: number; ids: string }> {
  const started = performance.now()
  const store = await openIndexedDbStore({ relayKey: fromHex(relayKeyHex) })
  // The index loads on first need: the time until it answers a fingerprint is the reopen's cost.
  const fp = await store.fingerprint('general', {})
  const openMs = performance.now() - started
  const newest = await store.getRange('general', {}, { reverse: true, limit: 3 })
  const result = {
    count: await store.count('general'),
    fingerprint: toHex(fp.hash),
    openMs,
    ids: idsOf(newest),
  }
  await store.close()
  return result
}

/**
 * Writes batches of #general until the browser refuses one (the test lowers this origin's
 * quota), then reports what was acknowledged and what a fresh open finds on disk.
 */
async function fillUntilFull(relayKeyHex: string, batch: number, maxEvents: number) {
  const relayKey = fromHex(relayKeyHex)
  const store = await openIndexedDbStore({ relayKey })
  const events = pool('general', maxEvents)
  let acked = 0
  let error: { name: string; limit?: string; message: string } | undefined
  for (let i = 0; i < maxEvents && !error; i += batch) {
    try {
      acked += await store.putMany('general', events.slice(i, i + batch))
    } catch (e) {
      const err = e as Error & { limit?: string }
      error = { name: err.name, limit: err.limit, message: err.message }
    }
  }
  const count = await store.count('general')
  await store.close()
  const reopened = await openIndexedDbStore({ relayKey })
  const expected = new MemoryStore()
  await expected.putMany('general', events.slice(0, acked))
  const result = {
    acked,
    error,
    count,
    reopenedCount: await reopened.count('general'),
    sameFingerprint:
      toHex((await reopened.fingerprint('general', {})).hash) ===
      toHex((await expected.fingerprint('general', {})).hash),
  }
  await reopened.close()
  return result
}

/** Seeded bytes of blob `i` (sizes around the 64 KiB chunk boundary and beyond). */
function blobBytes(i: number, size: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = (i + 1) * 2654435761
  for (let j = 0; j < size; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    out[j] = x >>> 24
  }
  return out
}

/** Every answer of a blob store about `digests`, as comparable strings (bytes as SHA-256 hex). */
async function blobAnswers(store: BlobStore, digests: Uint8Array[]): Promise<string[]> {
  const hex = (b: Uint8Array | undefined) => (b ? `${b.length}:${toHex(describeBlob(b).digest)}` : 'absent')
  const out = [`usage ${JSON.stringify(await store.usage())}`]
  for (const info of await store.list())
    out.push(`info ${toHex(info.digest)} ${info.size} ${info.pinned} ${info.usedAt}`)
  for (const d of digests) {
    out.push(`has ${await store.has(d)} get ${hex(await store.get(d))}`)
    for (const [offset, length] of [
      [0, 10],
      [65_530, 20],
      [65_536, 65_536],
      [100_000, 500_000],
      [3_000_000, 1],
    ] as const)
      out.push(`read ${offset}+${length} ${hex(await store.read(d, offset, length))}`)
  }
  return out
}

/** The BlobStore conformance essentials in Chromium: the same calls on IndexedDB and memory. */
async function compareBlobsWithMemory(): Promise<{ checks: number; mismatches: string[] }> {
  const relayKey = crypto.getRandomValues(new Uint8Array(32))
  let idb: BlobStore = await openIndexedDbBlobStore({ relayKey })
  const memory = new MemoryBlobStore()
  const sizes = [0, 1, 65_535, 65_536, 65_537, 200_000, 1_048_576 + 3]
  const blobs = sizes.map((size, i) => ({
    bytes: blobBytes(i, size),
    digest: describeBlob(blobBytes(i, size)).digest,
  }))
  const mismatches: string[] = []
  let checks = 0
  const compare = async (step: string) => {
    const [a, b] = [
      await blobAnswers(
        idb,
        blobs.map((x) => x.digest),
      ),
      await blobAnswers(
        memory,
        blobs.map((x) => x.digest),
      ),
    ]
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      checks++
      if (a[i] !== b[i]) mismatches.push(`${step}: ${a[i]} vs memory ${b[i]}`)
    }
  }
  const both = async (call: (s: BlobStore) => Promise<unknown>, what: string) => {
    const [a, b] = [await call(idb), await call(memory)]
    checks++
    if (a !== b) mismatches.push(`${what}: ${a} vs memory ${b}`)
  }
  for (const [i, b] of blobs.entries())
    await both((s) => s.put(b.digest, b.bytes, { pinned: i % 3 === 0, usedAt: 10 + i }), `put ${i}`)
  await both((s) => s.put(blobs[1]!.digest, blobs[1]!.bytes, { usedAt: 5 }), 're-put')
  await compare('after puts')
  await both((s) => s.delete(blobs[2]!.digest), 'delete')
  await both((s) => s.delete(blobs[2]!.digest), 'delete again')
  await both((s) => s.pin(blobs[4]!.digest, true), 'pin')
  await both((s) => s.touch(blobs[5]!.digest, 99), 'touch')
  await compare('after changes')
  await idb.close()
  idb = await openIndexedDbBlobStore({ relayKey })
  await compare('after reopen')
  await idb.close()
  return { checks, mismatches }
}

/**
 * Fills the blob store until the (lowered) quota refuses a write: the store evicts unpinned
 * blobs and retries; pinned blobs alone filling it end in a LimitError. The log store of the
 * same community still takes events (separate database).
 */
async function fillBlobsUntilFull(relayKeyHex: string, size: number, max: number) {
  const relayKey = fromHex(relayKeyHex)
  const evicted: string[] = []
  const store = await openIndexedDbBlobStore({ relayKey })
  store.onEvict((d) => evicted.push(toHex(d)))
  const stored: string[] = []
  let error: { name: string; limit?: string; message: string } | undefined
  // Unpinned blobs first (others' attachments), then pinned ones (mine) until it fails.
  for (let i = 0; i < max && !error; i++) {
    const bytes = blobBytes(1000 + i, size)
    const digest = describeBlob(bytes).digest
    try {
      await store.put(digest, bytes, { pinned: i >= max / 4, usedAt: i })
      stored.push(toHex(digest))
    } catch (e) {
      const err = e as Error & { limit?: string }
      error = { name: err.name, limit: err.limit, message: err.message }
    }
  }
  const left = (await store.list()).map((b) => ({ digest: toHex(b.digest), pinned: b.pinned }))
  await store.close()
  const log = await openIndexedDbStore({ relayKey })
  const logAdded = await log.putMany('general', pool('general', 20))
  await log.close()
  return { stored: stored.length, evicted, left, error, logAdded }
}

declare global {
  interface Window {
    idbCheck: {
      compareWithMemory: typeof compareWithMemory
      write: typeof write
      read: typeof read
      fillUntilFull: typeof fillUntilFull
      compareBlobsWithMemory: typeof compareBlobsWithMemory
      fillBlobsUntilFull: typeof fillBlobsUntilFull
    }
  }
}
window.idbCheck = {
  compareWithMemory,
  write,
  read,
  fillUntilFull,
  compareBlobsWithMemory,
  fillBlobsUntilFull,
}
