/**
 * A channel's canvas: one Markdown text per channel, co-edited live. It is the engine's signed
 * Yjs document `canvas` of the channel (`@peerchat/engine/docs`): every change is a stamped
 * `yjs` event in the channel's log, refused before `Y.applyUpdate` when its author may not edit
 * (the channel's roles) or the update fails the guard (checked in a Web Worker).
 *
 * Loaded with `import()` when a canvas first opens, so the chat's first load carries no Yjs.
 * It opens from this device alone: the cached snapshot (IndexedDB) shows at once, then the
 * stored log is read through; peers' edits arrive as the channel syncs.
 */
import { type MeshPort, publicKeyToText, type Replica, type StampedEvent, type Ulid } from '@peerchat/engine'
import {
  createWebWorkerGuard,
  type DocHandle,
  type DocOptions,
  DocPresence,
  DocRegistry,
  decodeYjs,
  inlineGuard,
  LIVE_DOC_OPTIONS,
  openDoc,
  type UpdateGuard,
  YJS_KIND,
} from '@peerchat/engine/docs'
import type * as Y from 'yjs'
import type { CanvasSession, CanvasVersion } from './types.ts'

/** The document of a channel that is its canvas, and its text. */
export const CANVAS_DOC = 'canvas'
export const CANVAS_TEXT = 'markdown'
/** Edits by one author this close in time are one entry of the history. */
export const SESSION_GAP_MS = 5 * 60_000
/** Characters of one local transaction: a change above it would not fit one event (40 KiB). */
export const MAX_CHANGE_CHARS = 8_000
/** Characters a canvas may hold. */
export const MAX_CANVAS_CHARS = 250_000
/** Milliseconds after the last change before the snapshot cache is rewritten. */
export const SNAPSHOT_DELAY_MS = 2_000
/** How long an opened canvas waits for a first peer to ask for the channel's older history. */
export const PEER_WAIT_MS = 5_000

/** Where built documents are cached on this device (the IndexedDB store's `DocSnapshotCache`). */
export interface DocCache {
  load(handle: DocHandle): Promise<unknown>
  save(handle: DocHandle): Promise<void>
  /** Drops a document's cached snapshot (after a refused edit of mine it holds). */
  forget?(channel: string, doc: string): Promise<void>
  close(): Promise<void>
}

export interface CanvasDeps {
  replica: Pick<Replica, 'subscribe' | 'write' | 'open' | 'writes' | 'discard'> &
    Partial<Pick<Replica, 'backfill'>>
  channel: string
  /** Whether the event's author could edit this channel's canvas at its relay time. */
  authorize: (event: StampedEvent) => boolean
  /** Why I may not edit now (read-only), or null. */
  whyNotEdit: () => string | null
  /** Names shown at others' cursors and in the history. */
  nameOf: (key: Uint8Array) => string
  /** The colour of a key's cursor (the app's colour for that person). */
  colorOf?: (key: Uint8Array) => { color: string; colorLight: string }
  /** Where cursors travel: the WebRTC mesh first, the relay's forwarding for the rest. */
  ports: readonly MeshPort[]
  cache?: DocCache
}

/** A Web Worker guard in the browser, the inline one where there are no workers (tests). */
function defaultGuard(): UpdateGuard {
  return typeof Worker === 'function' ? createWebWorkerGuard() : inlineGuard
}

/** Groups edits into sessions: one author, no pause longer than `SESSION_GAP_MS`. */
export function sessionsOf(edits: readonly { id: Ulid; ts: number; author: string }[]): CanvasVersion[] {
  const out: CanvasVersion[] = []
  for (const e of edits) {
    const last = out.at(-1)
    if (last && last.author === e.author && e.ts - last.to <= SESSION_GAP_MS) {
      last.id = e.id
      last.to = e.ts
      last.edits++
    } else out.push({ id: e.id, from: e.ts, to: e.ts, author: e.author, edits: 1 })
  }
  return out
}

/** The smallest single replacement turning `from` into `to`: common prefix and suffix kept. */
export function replacement(from: string, to: string): { at: number; remove: number; insert: string } {
  let p = 0
  const max = Math.min(from.length, to.length)
  while (p < max && from.charCodeAt(p) === to.charCodeAt(p)) p++
  let s = 0
  while (s < max - p && from.charCodeAt(from.length - 1 - s) === to.charCodeAt(to.length - 1 - s)) s++
  return { at: p, remove: from.length - p - s, insert: to.slice(p, to.length - s) }
}

export async function openCanvas(d: CanvasDeps): Promise<CanvasSession> {
  const guard = defaultGuard()
  const docOptions: DocOptions = { ...LIVE_DOC_OPTIONS, authorize: d.authorize, guard }
  let shown: Promise<unknown> = Promise.resolve()
  const registry = await DocRegistry.open(d.replica, d.channel, {
    unopened: 'ignore', // nothing buffered for a canvas nobody opened: it is read from the log
    doc: docOptions,
    ...(d.cache ? { prepare: (_: string, h: DocHandle) => (shown = d.cache!.load(h)) } : {}),
    onError: (e) => console.warn(`canvas of #${d.channel}: ${(e as Error).message}`),
  })
  const complete = registry.get(CANVAS_DOC)
  const handle = registry.peek(CANVAS_DOC)!
  await shown.catch(() => {})
  const text = handle.doc.getText(CANVAS_TEXT)
  const presence = new DocPresence(handle, { nameOf: d.nameOf, ...(d.colorOf ? { colorOf: d.colorOf } : {}) })
  const detach = d.ports.map((p) => presence.attach(p))

  let saveTimer: ReturnType<typeof setTimeout> | undefined
  const save = () =>
    d.cache?.save(handle).catch((e: Error) => console.warn(`canvas not cached: ${e.message}`))
  const onUpdate = () => {
    clearTimeout(saveTimer)
    saveTimer = setTimeout(save, SNAPSHOT_DELAY_MS)
  }
  handle.doc.on('update', onUpdate)
  // A canvas needs every update ever made, and catch-up brings only the recent window: the
  // channel's older history is asked from peers (reconciliation sends only what is missing).
  const older = new AbortController()
  void d.replica
    .backfill?.(d.channel, { want: Number.MAX_SAFE_INTEGER, waitMs: PEER_WAIT_MS, signal: older.signal })
    .catch(() => {}) // offline, closed or stopped: the next opening asks again
  // A page closed within the delay still leaves its canvas cached.
  const hide = () => void save()
  globalThis.addEventListener?.('pagehide', hide)
  let closed = false

  // An edit of mine the relay refused (my right to edit went while I was offline): others never
  // get it, yet this Y.Doc holds it and cannot take it back. It is dropped from the outbox and
  // the cache, and the canvas is rebuilt from the log (`onRefused`: the pane reopens it).
  const refusedListeners = new Set<(message: string) => void>()
  const isMineHere = (w: { request: { kind: string; body: Uint8Array } }) => {
    if (w.request.kind !== YJS_KIND) return false
    try {
      return decodeYjs(w.request.body).doc === CANVAS_DOC
    } catch {
      return false
    }
  }
  const offWrites = await d.replica.subscribe(
    d.channel,
    (change) => {
      const refused = change.writes.filter((w) => w.state === 'failed' && isMineHere(w))
      if (refused.length === 0 || closed) return
      void (async () => {
        for (const w of refused) await d.replica.discard(w.key)
        await shut(false)
        await d.cache?.forget?.(d.channel, CANVAS_DOC).catch(() => {})
        await d.cache?.close()
        const message = refused[0]!.error?.message ?? 'refused'
        for (const listener of [...refusedListeners]) listener(message)
      })()
    },
    { replay: false },
  )

  /** Stops everything; `keep`: cache the canvas as it is (not after a refusal). */
  async function shut(keep: boolean): Promise<void> {
    if (closed) return
    closed = true
    offWrites()
    clearTimeout(saveTimer)
    older.abort()
    handle.doc.off('update', onUpdate)
    globalThis.removeEventListener?.('pagehide', hide)
    for (const off of detach) off()
    presence.destroy()
    if (keep) await save()
    await registry.close()
    guard.close()
    if (keep) await d.cache?.close()
  }

  /** The canvas as it was once the event `id` was applied (through the same checks). */
  async function textAt(id: Ulid): Promise<string> {
    const past = openDoc(d.channel, CANVAS_DOC, { publish: async () => {} }, docOptions)
    try {
      for await (const page of registry.logEvents(CANVAS_DOC, id)) await past.apply(page)
      return past.doc.getText(CANVAS_TEXT).toString()
    } finally {
      await past.close()
      past.doc.destroy()
    }
  }

  return {
    channel: d.channel,
    text: text as Y.Text,
    awareness: presence.awareness,
    complete: complete.then(() => undefined),
    whyNotEdit: d.whyNotEdit,
    async history() {
      const names = new Map<string, Uint8Array>()
      const edits: { id: Ulid; ts: number; author: string }[] = []
      for await (const page of registry.logEvents(CANVAS_DOC))
        for (const e of page) {
          if (!d.authorize(e)) continue
          const author = publicKeyToText(e.author)
          names.set(author, e.author)
          edits.push({ id: e.id, ts: e.ts, author })
        }
      return sessionsOf(edits).map((v) => ({ ...v, name: d.nameOf(names.get(v.author)!) }))
    },
    textAt,
    async restore(id) {
      const why = d.whyNotEdit()
      if (why) throw new Error(why)
      const old = await textAt(id)
      const r = replacement(text.toString(), old)
      if (r.remove > 0) handle.doc.transact(() => text.delete(r.at, r.remove))
      // In pieces: one transaction must fit one signed event.
      for (let i = 0; i < r.insert.length; i += MAX_CHANGE_CHARS) {
        const piece = r.insert.slice(i, i + MAX_CHANGE_CHARS)
        handle.doc.transact(() => text.insert(r.at + i, piece))
      }
    },
    onRefused(listener) {
      refusedListeners.add(listener)
      return () => void refusedListeners.delete(listener)
    },
    close: () => shut(true),
  }
}
