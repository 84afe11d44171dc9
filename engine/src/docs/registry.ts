/**
 * DocRegistry: the one subscription per channel that routes `yjs` events to documents by
 * name. A document (`openDoc` -> `DocHandle`) is opened lazily on the first `get(name)` and fed
 * its history, then every later update of that name; updates of documents nobody asked for
 * are buffered (bounded) or ignored, per `unopened`. Everything a document does with an
 * event (skipping other kinds and names, the update guard, dedup by id, history) stays in
 * `DocHandle.apply`: the registry only decides which handle gets which events.
 *
 * - `unopened: 'buffer'` (default): updates of unopened documents wait in memory, up to
 *   `maxBufferedBytes`; `get` then opens at once. Past the budget the oldest documents'
 *   buffers are dropped, and those documents are read from the log when opened.
 * - `unopened: 'ignore'`: nothing is kept; `get` reads the document's events from the log
 *   (one pass over the channel's stored events).
 * - At most `maxOpen` documents are open: opening one more closes the least recently used
 *   (`get` counts as use), after flushing its pending changes, and calls `onEvict` so the
 *   application unbinds it (edits to a closed handle's Y.Doc are no longer published).
 *   A later `get` opens it again from the log.
 *
 * Local changes are published through `host` (default: `replica.write`, local-first: the
 * write is queued at once and sent when a relay is connected); the stamped echo comes back
 * through the subscription and is recorded in the document's history.
 */
import type { StampedEvent } from '../event.ts'
import type { Change, Replica } from '../replica/replica.ts'
import type { Ulid } from '../ulid.ts'
import { decodeYjs, isValidDocName, YJS_KIND } from './body.ts'
import { type DocApplyResult, type DocHandle, type DocHost, type DocOptions, openDoc } from './doc-handle.ts'
import { TRANSIENT_REFUSALS } from './guard.ts'

/** What a registry needs of a Replica (a Replica fits; without `writes`, pending edits are not shown on open). */
export type DocRegistryPort = Pick<Replica, 'subscribe' | 'write' | 'open'> & Partial<Pick<Replica, 'writes'>>

export const DocRegistryDefaults = {
  maxOpen: 16,
  maxBufferedBytes: 8 * 1024 * 1024,
  /** Distinct document names remembered by `known()`. */
  maxKnownNames: 4096,
  /** Events per page when a document is read from the log. */
  logPage: 512,
  /** Events refused for a transient reason kept per document, applied again with its next events. */
  maxRetries: 64,
} as const

export interface DocRegistryOptions {
  /** Updates of documents that are not open: kept in memory (default) or dropped. */
  unopened?: 'buffer' | 'ignore'
  /** Bytes of buffered update bodies across documents (default 8 MiB). */
  maxBufferedBytes?: number
  /** Documents open at once (default 16); the least recently used is closed past it. */
  maxOpen?: number
  /** Options for every document (batching, guard, ...), or per name. */
  doc?: DocOptions | ((name: string) => DocOptions)
  /** Where documents publish (default: the replica's local-first `write`). */
  host?: DocHost
  /**
   * Runs when a document opens, before any buffered or logged event is fed to it: apply a cached
   * snapshot here (e.g. the IndexedDB store's `DocSnapshotCache.load`), so the covered events
   * are skipped. A failure is reported to `onError` and the document is read from the log.
   */
  prepare?: (name: string, handle: DocHandle) => Promise<unknown>
  /** A document was closed to make room (before its pending changes are flushed). */
  onEvict?: (name: string, handle: DocHandle) => void
  /** Events a document refused (malformed, guard verdicts). */
  onRejected?: (name: string, rejected: DocApplyResult['rejected']) => void
  /** A background apply, flush or log read failed (default: rethrown in a microtask). */
  onError?: (error: unknown) => void
}

interface Open {
  handle: DocHandle
  ready: Promise<DocHandle>
}

export class DocRegistry {
  readonly stats = { routed: 0, buffered: 0, malformed: 0, evicted: 0, logReads: 0 }
  private readonly open = new Map<string, Open>() // insertion order = least recently used first
  private readonly buffers = new Map<string, StampedEvent[]>() // insertion order = oldest first
  private bufferedBytes = 0
  /** Names whose updates were not all kept (dropped buffers, closed documents): read from the log on open. */
  private readonly spilled = new Set<string>()
  private readonly names = new Set<string>()
  private readonly retries = new Map<string, StampedEvent[]>()
  private readonly work = new Set<Promise<unknown>>()
  private readonly mode: 'buffer' | 'ignore'
  private readonly maxOpen: number
  private readonly maxBufferedBytes: number
  private readonly host: DocHost
  private readonly onError: (e: unknown) => void
  private unsubscribe: (() => void) | undefined
  private closed = false

  private constructor(
    private readonly replica: DocRegistryPort,
    readonly channel: string,
    private readonly options: DocRegistryOptions,
  ) {
    this.mode = options.unopened ?? 'buffer'
    if (this.mode !== 'buffer' && this.mode !== 'ignore')
      throw new RangeError(`unknown unopened mode ${this.mode}`)
    this.maxOpen = options.maxOpen ?? DocRegistryDefaults.maxOpen
    if (!Number.isSafeInteger(this.maxOpen) || this.maxOpen < 1)
      throw new RangeError('maxOpen must be at least 1')
    this.maxBufferedBytes = options.maxBufferedBytes ?? DocRegistryDefaults.maxBufferedBytes
    this.host = options.host ?? {
      publish: async (channel, kind, body) => {
        await replica.write(channel, kind, body)
      },
    }
    this.onError =
      options.onError ??
      ((e) =>
        queueMicrotask(() => {
          throw e
        }))
  }

  /** Subscribes to the channel (replaying stored events when buffering) and routes from then on. */
  static async open(
    replica: DocRegistryPort,
    channel: string,
    options: DocRegistryOptions = {},
  ): Promise<DocRegistry> {
    const registry = new DocRegistry(replica, channel, options)
    registry.unsubscribe = await replica.subscribe(channel, (c) => registry.route(c), {
      replay: registry.mode === 'buffer',
    })
    return registry
  }

  /**
   * The document `name`, opened on first use and resolved once it holds every update the
   * registry kept or the log holds; the same handle until it is released or evicted.
   */
  get(name: string): Promise<DocHandle> {
    if (this.closed) return Promise.reject(new Error('registry closed'))
    if (!isValidDocName(name))
      return Promise.reject(new RangeError(`invalid document name ${JSON.stringify(name)}`))
    const known = this.open.get(name)
    if (known) {
      this.open.delete(name)
      this.open.set(name, known)
      return known.ready
    }
    const doc = typeof this.options.doc === 'function' ? this.options.doc(name) : this.options.doc
    const handle = openDoc(this.channel, name, this.host, doc)
    const entry: Open = { handle, ready: this.load(name, handle) }
    this.open.set(name, entry)
    this.remember(name)
    while (this.open.size > this.maxOpen) this.evict(this.open.keys().next().value!)
    return entry.ready
  }

  /** The open handle of `name`, without opening it or counting as use. */
  peek(name: string): DocHandle | undefined {
    return this.open.get(name)?.handle
  }

  /** Names of the open documents, least recently used first. */
  opened(): string[] {
    return [...this.open.keys()]
  }

  /** Names of documents seen in the channel (events or `get`), up to `maxKnownNames`, sorted. */
  known(): string[] {
    return [...this.names].sort()
  }

  /** Closes one document (flushing its pending changes); a later `get` opens it again. */
  async release(name: string): Promise<void> {
    const entry = this.open.get(name)
    if (!entry) return
    this.open.delete(name)
    this.spilled.add(name)
    await entry.handle.close()
  }

  /** Resolves when no routed apply, log read or eviction is in flight. */
  async settled(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work])
  }

  /** Unsubscribes, closes every document (flushing), drops buffers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.unsubscribe?.()
    this.unsubscribe = undefined
    const handles = [...this.open.values()].map((e) => e.handle)
    this.open.clear()
    this.buffers.clear()
    this.bufferedBytes = 0
    this.retries.clear()
    await this.settled()
    const results = await Promise.allSettled(handles.map((h) => h.close()))
    for (const r of results) if (r.status === 'rejected') this.onError(r.reason)
  }

  // ---- internals -------------------------------------------------------------------------

  private route(change: Pick<Change, 'added'>): void {
    if (this.closed) return
    let batches: Map<string, StampedEvent[]> | undefined
    for (const ev of change.added) {
      if (ev.kind !== YJS_KIND) continue
      let name: string
      try {
        name = decodeYjs(ev.body).doc
      } catch {
        this.stats.malformed++ // unroutable; a handle would refuse it as malformed-body too
        continue
      }
      this.remember(name)
      if (this.open.has(name)) {
        batches ??= new Map()
        const list = batches.get(name)
        if (list) list.push(ev)
        else batches.set(name, [ev])
      } else if (this.mode === 'buffer' && !this.spilled.has(name)) {
        this.buffer(name, ev)
      }
    }
    for (const [name, events] of batches ?? []) {
      this.stats.routed += events.length
      this.feed(name, this.open.get(name)!.handle, events)
    }
  }

  private remember(name: string): void {
    if (this.names.size < DocRegistryDefaults.maxKnownNames) this.names.add(name)
  }

  private buffer(name: string, ev: StampedEvent): void {
    const list = this.buffers.get(name)
    if (list) list.push(ev)
    else this.buffers.set(name, [ev])
    this.bufferedBytes += ev.body.length
    this.stats.buffered++
    while (this.bufferedBytes > this.maxBufferedBytes && this.buffers.size > 0) {
      const [oldest, events] = this.buffers.entries().next().value!
      this.buffers.delete(oldest)
      for (const e of events) this.bufferedBytes -= e.body.length
      this.spilled.add(oldest)
    }
  }

  /** Applies events to a handle in the background; transient refusals are retried with its next events. */
  private feed(name: string, handle: DocHandle, events: StampedEvent[]): Promise<void> {
    const retry = this.retries.get(name)
    if (retry) this.retries.delete(name)
    const batch = retry ? [...retry, ...events] : events
    return this.track(
      handle.apply(batch).then((result) => {
        if (result.rejected.length === 0) return
        this.options.onRejected?.(name, result.rejected)
        const transient = new Set<Ulid>(
          result.rejected.filter((r) => TRANSIENT_REFUSALS.has(r.reason)).map((r) => r.id),
        )
        if (transient.size === 0 || this.open.get(name)?.handle !== handle) return
        const again = batch.filter((e) => transient.has(e.id)).slice(-DocRegistryDefaults.maxRetries)
        this.retries.set(
          name,
          [...(this.retries.get(name) ?? []), ...again].slice(-DocRegistryDefaults.maxRetries),
        )
      }),
    )
  }

  /** Feeds a newly opened handle what was buffered, then (if needed) its events from the log. */
  private async load(name: string, handle: DocHandle): Promise<DocHandle> {
    if (this.options.prepare) await this.options.prepare(name, handle).catch((e: unknown) => this.onError(e))
    // This person's edits still waiting for their stamp (written offline, before a reload).
    for (const w of this.replica.writes?.(this.channel) ?? []) {
      if (w.request.kind !== YJS_KIND) continue
      try {
        const body = decodeYjs(w.request.body)
        if (body.doc === name) handle.applyPending(body.update)
      } catch {
        // not a document update: the relay will refuse it
      }
    }
    const buffered = this.buffers.get(name)
    if (buffered) {
      this.buffers.delete(name)
      for (const e of buffered) this.bufferedBytes -= e.body.length
      await this.feed(name, handle, buffered)
    }
    if (this.mode === 'ignore' || this.spilled.has(name)) {
      await this.track(this.readLog(name, handle))
      if (this.open.get(name)?.handle === handle) this.spilled.delete(name)
    }
    return handle
  }

  /**
   * The stored `yjs` events of document `name`, page by page in ULID order (one pass over the
   * channel's log; `upTo` stops after that id). For history views and past versions.
   */
  async *logEvents(name: string, upTo?: Ulid): AsyncGenerator<StampedEvent[]> {
    const log = this.replica.open(this.channel)
    const page = DocRegistryDefaults.logPage
    let from: Ulid | undefined
    for (;;) {
      const events = await log.range(from === undefined ? {} : { gte: from }, { limit: page + 1 })
      const fresh = from === undefined ? events : events.filter((e) => e.id !== from)
      const mine = fresh.filter((e) => {
        if (e.kind !== YJS_KIND || (upTo !== undefined && e.id > upTo)) return false
        try {
          return decodeYjs(e.body).doc === name
        } catch {
          return false
        }
      })
      if (mine.length > 0) yield mine
      const last = events.at(-1)?.id
      if (events.length <= page || this.closed || (upTo !== undefined && last! > upTo)) return
      from = last
    }
  }

  /** One pass over the channel's stored events, feeding those of document `name`. */
  private async readLog(name: string, handle: DocHandle): Promise<void> {
    this.stats.logReads++
    for await (const mine of this.logEvents(name)) {
      await this.feed(name, handle, mine)
      if (this.open.get(name)?.handle !== handle) return
    }
  }

  private evict(name: string): void {
    const entry = this.open.get(name)
    if (!entry) return
    this.open.delete(name)
    this.spilled.add(name)
    this.retries.delete(name)
    this.stats.evicted++
    try {
      this.options.onEvict?.(name, entry.handle)
    } catch (e) {
      this.onError(e)
    }
    void this.track(entry.handle.close())
  }

  private track<T>(work: Promise<T>): Promise<T> {
    const p = work.then(
      () => {
        this.work.delete(p)
      },
      (e: unknown) => {
        this.work.delete(p)
        this.onError(e)
      },
    )
    this.work.add(p)
    return work
  }
}
