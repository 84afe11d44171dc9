/**
 * bench/canvas.ts's page (real Chromium, built by Vite so the guard's Web Worker is bundled as in
 * the app): `seed` fills this origin's IndexedDB with a channel whose canvas was built by
 * `EDITS` signed, relay-stamped `yjs` events, and caches its snapshot the way the app does (the
 * app's `openCanvas`, closed: it saves on close); `open` then opens that canvas with the app's
 * `openCanvas` over a fresh store handle and Replica, with or without the snapshot cache.
 */
import { fromHex, Identity, Replica, seededUniform, signRequest, stamp, toHex } from '@peerchat/engine'
import { encodeYjs } from '@peerchat/engine/docs'
import * as Y from 'yjs'
// The events module only: the testing barrel also exports the vitest suites.
import { fixtureUlid, toStored } from '../../engine/src/testing/events.ts'
import { DocSnapshotCache, openIndexedDbStore } from '../../stores/indexeddb/src/index.ts'
import { CANVAS_DOC, CANVAS_TEXT, openCanvas } from '../../ui-vue/src/client/canvas.ts'

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
async function seed(edits: number, chars: number): Promise<{ relayKey: string; length: number; seedMs: number }> {
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
  const cache = cached ? await DocSnapshotCache.open({ relayKey }) : undefined
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
    session,
    close: async () => {
      await session.close()
      await replica.stop()
      await store.close()
    },
  }
}

/** ms from the open to the text shown (openCanvas resolved) and to the log pass done. */
async function open(relayKeyHex: string, cached: boolean) {
  const { t0, session, close } = await openWith(fromHex(relayKeyHex), cached)
  const shown = performance.now() - t0
  const shownLength = session.text.length
  await session.complete
  const complete = performance.now() - t0
  const length = session.text.length
  await close()
  return { shown, shownLength, complete, length }
}

Object.assign(window, { canvasBench: { seed, open } })
