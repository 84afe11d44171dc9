/**
 * bench/canvas.ts's page (real Chromium, built by Vite so the guard's Web Worker is bundled as in
 * the app): `seed` fills this origin's IndexedDB with a channel whose canvas was built by
 * `EDITS` signed, relay-stamped `yjs` events, and caches its snapshot the way the app does (the
 * app's `openCanvas`, closed: it saves on close); `open` then opens that canvas with the app's
 * `openCanvas` over a fresh store handle and Replica, with or without the snapshot cache.
 */
import {
  fromHex,
  Identity,
  Replica,
  seededUniform,
  signRequest,
  stamp,
  toHex,
  type Ulid,
} from '@peerchat/engine'
import { createWebWorkerGuard, encodeYjs, SNAPSHOT_UPDATE_LIMITS } from '@peerchat/engine/docs'
import * as Y from 'yjs'
// The events module only: the testing barrel also exports the vitest suites.
import { fixtureUlid, toStored } from '../../engine/src/testing/events.ts'
import { DocSnapshotCache, openIndexedDbStore } from '../../stores/indexeddb/src/index.ts'
import { CANVAS_DOC, CANVAS_TEXT, type DocCache, openCanvas } from '../../ui-vue/src/client/canvas.ts'

const CHANNEL = 'general'
const AUTHORS = 3

/** `edits` updates of `chars` characters in all, typed by three authors at seeded random places. */
function updates(edits: number, chars: number): { author: number; update: Uint8Array }[] {
  const docs = Array.from({ length: AUTHORS }, (_, i) => {
    const d = new Y.Doc()
    d.clientID = i + 1
    return d
  })
  const random = seededUniform(15)
  const words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor '
  const per = Math.round(chars / edits)
  const out: { author: number; update: Uint8Array }[] = []
  for (let i = 0; i < edits; i++) {
    const author = i % AUTHORS
    const doc = docs[author]!
    const text = doc.getText(CANVAS_TEXT)
    const at = Math.floor(random() * (text.length + 1))
    const from = Math.floor(random() * (words.length - per))
    let update: Uint8Array | undefined
    const take = (u: Uint8Array) => (update = u)
    doc.once('update', take)
    text.insert(at, words.slice(from, from + per))
    for (const other of docs) if (other !== doc) Y.applyUpdate(other, update!)
    out.push({ author, update: update! })
  }
  return out
}

/** Seeds a new community (named by a fresh relay key); resolves with that key's hex. */
async function seed(
  edits: number,
  chars: number,
): Promise<{ relayKey: string; length: number; seedMs: number }> {
  const t0 = performance.now()
  const relay = await Identity.generate()
  const authors = await Promise.all(Array.from({ length: AUTHORS }, () => Identity.generate()))
  const list = updates(edits, chars)
  const start = Date.now() - edits * 1000
  const store = await openIndexedDbStore({ relayKey: relay.publicKey, durability: 'relaxed' })
  for (let from = 0; from < list.length; from += 500) {
    const events = await Promise.all(
      list.slice(from, from + 500).map(async ({ author, update }, k) => {
        const n = from + k
        const clientNonce = new Uint8Array(16)
        new DataView(clientNonce.buffer).setUint32(12, n + 1)
        const body = encodeYjs({ doc: CANVAS_DOC, update })
        const req = await signRequest(authors[author]!, { channel: CHANNEL, kind: 'yjs', clientNonce, body })
        return toStored(await stamp(relay, fixtureUlid(start + n * 1000, n), req))
      }),
    )
    await store.putMany(CHANNEL, events)
  }
  await store.close()
  // The snapshot, as the app writes it: opened without one (a full replay), saved on close.
  const { session, close } = await openWith(relay.publicKey, true)
  await session.complete
  const length = session.text.length
  await close()
  return { relayKey: toHex(relay.publicKey), length, seedMs: performance.now() - t0 }
}

/** The app's `openCanvas` on a fresh store handle and Replica of the community `relayKey`. */
async function openWith(relayKey: Uint8Array, cached: boolean) {
  const store = await openIndexedDbStore({ relayKey })
  const replica = await Replica.open({ store, relayKeys: [relayKey] })
  // What the running chat has done before a canvas opens: read the channel's newest page.
  await replica.open(CHANNEL).range({}, { limit: 50, reverse: true })
  const t0 = performance.now()
  const phases = { cacheOpen: 0, snapshotLoad: 0 }
  const cache = cached ? timed(await DocSnapshotCache.open({ relayKey }), phases) : undefined
  phases.cacheOpen = performance.now() - t0
  const session = await openCanvas({
    replica,
    channel: CHANNEL,
    authorize: () => true,
    whyNotEdit: () => null,
    nameOf: () => 'someone',
    ports: [],
    ...(cache ? { cache } : {}),
  })
  return {
    t0,
    phases,
    session,
    close: async () => {
      await session.close()
      await replica.stop()
      await store.close()
    },
  }
}

/** The cache, its `load` timed (the snapshot read, decoded, checked by the guard and applied). */
function timed(cache: DocSnapshotCache, phases: { snapshotLoad: number }): DocCache {
  return {
    load: async (h) => {
      const t = performance.now()
      const verdict = await cache.load(h)
      phases.snapshotLoad = performance.now() - t
      return verdict
    },
    save: (h) => cache.save(h),
    forget: (channel, doc) => cache.forget(channel, doc),
    close: () => cache.close(),
  }
}

/**
 * ms from the open to the text shown (openCanvas resolved) and to the log pass done, with the
 * phases of the first, and two floors measured after: reading the channel's events (every page,
 * as the log pass does) and applying the document's state to a fresh Y.Doc on this thread.
 */
async function open(relayKeyHex: string, cached: boolean) {
  const relayKey = fromHex(relayKeyHex)
  const { t0, phases, session, close } = await openWith(relayKey, cached)
  const shown = performance.now() - t0
  const shownLength = session.text.length
  await session.complete
  const complete = performance.now() - t0
  const length = session.text.length
  const state = Y.encodeStateAsUpdate(session.text.doc!)
  await close()
  let t = performance.now()
  Y.applyUpdate(new Y.Doc(), state)
  const applyState = performance.now() - t
  // The snapshot's check alone, on a new worker (started by its first check), then again.
  const guard = createWebWorkerGuard()
  t = performance.now()
  await guard.check(state, SNAPSHOT_UPDATE_LIMITS)
  const guardCold = performance.now() - t
  t = performance.now()
  await guard.check(state, SNAPSHOT_UPDATE_LIMITS)
  const guardWarm = performance.now() - t
  guard.close()
  const store = await openIndexedDbStore({ relayKey })
  t = performance.now()
  const replica = await Replica.open({ store, relayKeys: [relayKey] })
  const log = replica.open(CHANNEL)
  let read = 0
  // Pages of 512 as DocRegistry's log pass reads them (each from the last id, which repeats).
  for (let from: Ulid | undefined; ; ) {
    const page = await log.range(from === undefined ? {} : { gte: from }, { limit: 513 })
    read += from === undefined ? page.length : page.length - 1
    if (page.length <= 512) break
    from = page.at(-1)!.id
  }
  const readLog = performance.now() - t
  await replica.stop()
  await store.close()
  return {
    shown,
    shownLength,
    complete,
    length,
    ...phases,
    applyState,
    guardCold,
    guardWarm,
    readLog,
    read,
    stateBytes: state.length,
  }
}

Object.assign(window, { canvasBench: { seed, open } })
