/**
 * Local search (issue #17): keeps a `SearchIndex` (lib/search-index.ts) of every channel this
 * device holds, and persists it, so a reload searches at once instead of reading everything again.
 *
 * - On start it loads the saved months, folds what changed meanwhile, and compares each
 *   channel's count with what the index saw: a channel the index has not seen whole (new, or
 *   changed while the page was closed) is read again from the log, oldest first, in slices
 *   that yield to the page, with progress.
 * - Every change of a log is folded as it comes (live, synced from peers, other tabs').
 * - Changed months are written `persistMs` after the last change, and when the page is hidden.
 *
 * The index (MiniSearch) is its own chunk, loaded after `after`: the chat's first page does not
 * wait for it; changes meanwhile are kept.
 */
import { type Change, type IdRange, type StampedEvent, type Ulid, ulidSuccessor } from '@peerchat/engine'
import type { Roles } from '@peerchat/engine/chat'
import type { SearchIndex, SearchNames } from '../lib/search-index.ts'
import { parseSearchQuery } from '../lib/search-query.ts'
import type { SearchProgress, SearchResults } from './types.ts'

/** Where the index is kept: one string per key (a month, or `meta`); `undefined` deletes. */
export interface SearchStorage {
  readAll(): Promise<Map<string, string>>
  write(changes: Map<string, string | undefined>): Promise<void>
  close?(): Promise<void>
}

/** The part of a channel's log the index reads. */
export interface SearchLog {
  count(): Promise<number>
  range(range: IdRange, opts: { limit: number }): Promise<StampedEvent[]>
}

export interface LocalSearchOptions {
  roles: Roles
  names: SearchNames
  /** The channels to index, read when the search starts (later ones come by `changed`). */
  channels(): readonly string[]
  log(channel: string): SearchLog
  /** Opens where the index is kept (none: built again on each start). */
  storage?: () => Promise<SearchStorage | undefined>
  /** Loading starts once this resolves (the chat's first page is shown first). */
  after?: Promise<unknown>
  /** Writes wait this long after the last change (default 2 s). */
  persistMs?: number
  onProgress?(p: SearchProgress): void
}

/** Events read per slice when a channel is read again (default 500). */
export const READ_SLICE = 500
/** Changes kept while the saved index loads (default 100,000 events); past that, channels are read again. */
export const BACKLOG_MAX = 100_000

const yieldNow = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

export class LocalSearch {
  private index: SearchIndex | undefined
  private backlog: Change[] = []
  private backlogEvents = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private writing: Promise<void> = Promise.resolve()
  private stopped = false
  private storage: SearchStorage | undefined
  private reading: { done: number; total: number } | undefined
  private readonly started: Promise<void>

  constructor(private readonly o: LocalSearchOptions) {
    this.started = this.start().catch((e: Error) => {
      if (!this.stopped) console.warn(`search index not built: ${e.message}`)
    })
  }

  /** Resolves once every channel held at start is indexed. */
  get ready(): Promise<void> {
    return this.started
  }

  progress(): SearchProgress {
    return {
      indexed: this.index?.size ?? 0,
      busy: !this.index || this.reading !== undefined,
      ...(this.reading ? { read: { ...this.reading } } : {}),
    }
  }

  /** A change of a log (kept until the saved index is loaded). */
  changed(change: Change): void {
    if (this.stopped) return
    if (!this.index) {
      this.backlogEvents += change.added.length + change.replaced.length
      // Too much to keep: dropped, the counts will not match and those channels are read again.
      if (this.backlogEvents > BACKLOG_MAX) this.backlog = []
      else this.backlog.push(change)
      return
    }
    this.fold(change)
    this.persistSoon()
  }

  search(text: string, opts: { before?: Ulid; limit?: number } = {}): SearchResults {
    const query = parseSearchQuery(text)
    const page = this.index?.search(query, this.o.names, opts) ?? { hits: [], more: false }
    return { ...page, query, progress: this.progress() }
  }

  /** Writes what changed now. */
  flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const index = this.index
    const storage = this.storage
    if (!index || !storage) return this.writing
    const changes = index.changes()
    if (changes.size === 0) return this.writing
    this.writing = this.writing.then(() =>
      storage.write(changes).catch((e: Error) => {
        // Not kept (quota, closed): the next start reads the channels again.
        console.warn(`search index not saved: ${e.message}`)
      }),
    )
    return this.writing
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    await this.flush()
    this.stopped = true
    await this.storage?.close?.()
  }

  // ---- internals ----------------------------------------------------------------------------

  private async start(): Promise<void> {
    await this.o.after
    if (this.stopped) return
    const [{ SearchIndex }, storage] = await Promise.all([
      import('../lib/search-index.ts'),
      this.o.storage?.().catch(() => undefined),
    ])
    this.storage = storage
    const saved = await storage?.readAll().catch(() => undefined)
    if (this.stopped) return
    const index = await SearchIndex.load(saved ?? new Map(), this.o.roles, yieldNow)
    if (this.stopped) return
    this.index = index
    for (const change of this.backlog) this.fold(change)
    this.backlog = []
    this.report()
    // Channels the index has not seen whole.
    const stale: { channel: string; count: number }[] = []
    for (const channel of this.o.channels()) {
      const count = await this.o.log(channel).count()
      if (count !== index.seen(channel)) stale.push({ channel, count })
    }
    if (stale.length > 0) {
      this.reading = { done: 0, total: stale.reduce((n, s) => n + s.count, 0) }
      for (const { channel } of stale) await this.read(channel)
      this.reading = undefined
    }
    this.report()
    await this.flush()
  }

  /** Reads a channel's whole log into the index, oldest first, yielding between slices. */
  private async read(channel: string): Promise<void> {
    const log = this.o.log(channel)
    const index = this.index!
    let from: Ulid | undefined
    for (;;) {
      if (this.stopped) return
      const events = await log.range(from ? { gte: from } : {}, { limit: READ_SLICE })
      index.take(events, false)
      if (this.reading) this.reading.done += events.length
      this.report()
      const next = events.length === READ_SLICE ? ulidSuccessor(events[events.length - 1]!.id) : undefined
      if (!next) break
      from = next
      await yieldNow()
    }
    index.setSeen(channel, await log.count())
    this.persistSoon()
  }

  private fold(change: Change): void {
    const index = this.index!
    if (change.added.length > 0) index.take(change.added)
    if (change.replaced.length > 0) index.drop(change.channel, change.replaced)
  }

  private persistSoon(): void {
    if (this.timer !== undefined || !this.storage || this.stopped) return
    this.timer = setTimeout(() => void this.flush(), this.o.persistMs ?? 2_000)
  }

  private report(): void {
    this.o.onProgress?.(this.progress())
  }
}
