/**
 * The browser's outbox (IndexedDbOutboxStore) on fake-indexeddb: entries round-trip and survive
 * a reopen, each author sees only its own, and a Replica holding it keeps a write made
 * offline across a restart. The upgrade from the first schema keeps the stored events.
 */
import 'fake-indexeddb/auto'
import {
  encodeEvent,
  Identity,
  MemoryStore,
  type OutboxEntry,
  outboxKey,
  Replica,
  randomBytes,
  signRequest,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { fakeStoredEvent } from '@peerchat/engine/testing'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, transact } from '../src/idb.ts'
import {
  EVENTS,
  type IndexedDbOutboxStore,
  logDatabaseName,
  OUTBOX,
  openIndexedDbOutbox,
  openIndexedDbStore,
  SCHEMA_VERSION,
} from '../src/index.ts'

beforeAll(() => useNodeCrypto())

const open: IndexedDbOutboxStore[] = []
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
})
const track = (o: IndexedDbOutboxStore): IndexedDbOutboxStore => {
  open.push(o)
  return o
}

async function entry(author: Identity, text: string): Promise<{ key: string; entry: OutboxEntry }> {
  const request = await signRequest(author, {
    channel: 'general',
    kind: 'message',
    clientNonce: randomBytes(16),
    body: new TextEncoder().encode(text),
  })
  return {
    key: outboxKey(request.author, request.clientNonce),
    entry: { request, queuedAt: 1_700_000_000_000 },
  }
}

describe('IndexedDbOutboxStore', () => {
  it('keeps entries across a reopen, with a refusal, until deleted', async () => {
    const relayKey = randomBytes(32)
    const ann = await Identity.generate()
    const a = await entry(ann, 'first')
    const b = await entry(ann, 'second')
    const outbox = track(await openIndexedDbOutbox({ relayKey, author: ann.publicKey }))
    await outbox.put(a.key, a.entry)
    await outbox.put(b.key, { ...b.entry, failed: { code: 'forbidden', message: 'may not post' } })
    await outbox.close()

    const again = track(await openIndexedDbOutbox({ relayKey, author: ann.publicKey }))
    const listed = await again.list()
    expect(listed.map((e) => new TextDecoder().decode(e.request.body)).sort()).toEqual(['first', 'second'])
    const first = listed.find((e) => outboxKey(e.request.author, e.request.clientNonce) === a.key)!
    expect(first).toEqual(a.entry)
    const refused = listed.find((e) => outboxKey(e.request.author, e.request.clientNonce) === b.key)!
    expect(refused.failed).toEqual({ code: 'forbidden', message: 'may not post' })
    await again.delete(a.key)
    expect((await again.list()).map((e) => outboxKey(e.request.author, e.request.clientNonce))).toEqual([
      b.key,
    ])
  })

  it("lists only its author's entries and refuses another author's key", async () => {
    const relayKey = randomBytes(32)
    const [ann, ben] = [await Identity.generate(), await Identity.generate()]
    const forAnn = track(await openIndexedDbOutbox({ relayKey, author: ann.publicKey }))
    const forBen = track(await openIndexedDbOutbox({ relayKey, author: ben.publicKey }))
    const a = await entry(ann, 'ann writes')
    const b = await entry(ben, 'ben writes')
    await forAnn.put(a.key, a.entry)
    await forBen.put(b.key, b.entry)
    expect((await forAnn.list()).map((e) => e.request.author)).toEqual([ann.publicKey])
    expect((await forBen.list()).map((e) => e.request.author)).toEqual([ben.publicKey])
    await expect(forAnn.put(b.key, b.entry)).rejects.toThrow(RangeError)
    await expect(openIndexedDbOutbox({ relayKey, author: new Uint8Array(31) })).rejects.toThrow(RangeError)
  })

  it('gives a Replica its writes back after a restart, still pending', async () => {
    const relayKey = randomBytes(32)
    const ann = await Identity.generate()
    const store = new MemoryStore()
    const outbox = track(await openIndexedDbOutbox({ relayKey, author: ann.publicKey }))
    const first = await Replica.open({ store, relayKeys: [relayKey], signer: ann, outbox })
    const w = await first.write('general', 'message', new TextEncoder().encode('written offline'))
    await first.stop()
    await outbox.close()

    const reopened = track(await openIndexedDbOutbox({ relayKey, author: ann.publicKey }))
    const second = await Replica.open({ store, relayKeys: [relayKey], signer: ann, outbox: reopened })
    expect(second.writes('general').map((x) => [x.key, x.state])).toEqual([[w.key, 'pending']])
    await second.stop()
  })

  it('upgrades a first-version database in place: the stored events stay', async () => {
    const relayKey = randomBytes(32)
    const name = logDatabaseName(relayKey)
    // The first schema (events and doc snapshots, no outbox) holding one event.
    const v1 = await openDatabase(indexedDB, name, 1, (db) => {
      db.createObjectStore(EVENTS, { keyPath: ['c', 'i'] }).createIndex('digests', ['c', 'i', 'd'])
      db.createObjectStore('doc-snapshots', { keyPath: ['c', 'doc'] })
    })
    const { event, digest } = fakeStoredEvent('general', 1)
    await transact(v1, EVENTS, { durability: 'strict' }, 'the v1 event', (events) => {
      events.add({ c: event.channel, i: event.id, d: digest, e: encodeEvent(event) })
      return () => undefined
    })
    v1.close()

    const ann = await Identity.generate()
    const outbox = track(await openIndexedDbOutbox({ relayKey, author: ann.publicKey }))
    expect(await outbox.list()).toEqual([])
    const store = await openIndexedDbStore({ relayKey })
    expect((await store.getRange('general', {})).map((s) => s.event.id)).toEqual([event.id])
    await store.close()
    const db = await openDatabase(indexedDB, name, SCHEMA_VERSION, () => {})
    expect([...db.objectStoreNames]).toContain(OUTBOX)
    db.close()
  })
})
