/**
 * The IndexedDB store's essential conformance checks, run in the page (real Chromium) and
 * exposed on `window.idbCheck` for tests/e2e/indexeddb.test.ts: every answer of the
 * IndexedDbStore is compared with MemoryStore's on the same events.
 */
import { fromHex, MemoryStore, type Store, type StoredEvent, toHex } from '@peerchat/engine'
// The events module only: the testing barrel also exports the vitest suite.
import { fakeStoredEvent } from '../../../engine/src/testing/events.ts'
import {
  type Durability,
  deleteIndexedDbStore,
  openIndexedDbStore,
} from '../../../ui-vue/src/storage/index.ts'

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
  const openMs = performance.now() - started
  const fp = await store.fingerprint('general', {})
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

declare global {
  interface Window {
    idbCheck: {
      compareWithMemory: typeof compareWithMemory
      write: typeof write
      read: typeof read
      fillUntilFull: typeof fillUntilFull
    }
  }
}
window.idbCheck = { compareWithMemory, write, read, fillUntilFull }
