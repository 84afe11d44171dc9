/**
 * The local full-text index of the messages this device holds (issue #17): a pure, incremental
 * fold over stamped events, with no IO (client/search.ts feeds it and persists it).
 *
 * - MiniSearch (chosen by `pnpm bench:search`: a tenth of FlexSearch's size, cheap edits and
 *   removals), one index per month of relay time. Results are newest first, so a query reads
 *   the newest month, then older ones, and stops once it has a page: its cost follows the
 *   matches of a month, not of the whole history (a single MiniSearch over 100,000 messages
 *   scores every match of a common prefix). Only the month an event falls in is rewritten.
 * - A message or attachment is a document: its current text (an attachment's file name), the
 *   channel, author, mentioned keys and what it has (`image`, `file`, `link`).
 * - The chat's rules (engine ChannelView): an edit counts when its author wrote the message, the
 *   latest edit (by id) wins; a redaction counts when its author wrote the message or could
 *   moderate at its relay time, and the message leaves the index. Edits and redactions that
 *   arrive before their message wait for it (bounded).
 * - Every event is counted per channel, so a persisted index can tell a channel it has not seen
 *   whole (client/search.ts reads those again).
 */

import { publicKeyToText, type StampedEvent, type Ulid, ulidAtTime, ulidTime } from '@peerchat/engine'
import {
  type AttachmentBody,
  canModerate,
  decodeChatBody,
  type EditBody,
  Kind,
  type MessageBody,
  type RedactBody,
  type Roles,
} from '@peerchat/engine/chat'
import MiniSearch, { type Options, type SearchResult } from 'minisearch'
import { SEARCH_LIMIT, type SearchHas, type SearchQuery } from './search-query.ts'

/** What a search result carries (the index's stored fields). */
export interface SearchDoc {
  id: Ulid
  channel: string
  /** Author key (text). */
  author: string
  ts: number
  /** Current text (an attachment's file name). */
  text: string
  /** Keys (text) the message mentions. */
  mentions: string[]
  has: SearchHas[]
  /** The edit that set `text` (absent: the original). */
  v?: Ulid
}

export interface SearchHit {
  doc: SearchDoc
  /** Index terms that matched (for highlights). */
  terms: string[]
}

export interface SearchPage {
  hits: SearchHit[]
  /** More matches may exist past this page (older): ask again with `before: next`. */
  more: boolean
  /** Where the next page starts (exclusive), when `more`. */
  next?: Ulid
}

/** How `from:` and `mentions:` names become keys (names change, so they are read at query time). */
export interface SearchNames {
  /** Keys (text) whose name or key starts with `name` (lower case, no `@`; `me`: mine). */
  keysOf(name: string): ReadonlySet<string>
  /** The name shown for a key (text), if known. */
  nameOf(key: string): string | undefined
}

export interface SearchOptions {
  limit?: number
  /** Only results strictly older than this id (the next page). */
  before?: Ulid
  /**
   * Stop after the month that passes this many ms, with what was found and `more` (default 20):
   * a query with few matches reads every month, and the page must not freeze meanwhile; the
   * caller asks again from `next`, between frames.
   */
  budgetMs?: number
}

/** Default time a search call may take before it returns what it has (ms). */
export const SEARCH_BUDGET_MS = 20

/** Edits and redactions kept while their message has not arrived (default 10,000; oldest dropped). */
export const EARLY_MAX = 10_000

const URL_PATTERN = /\bhttps?:\/\/\S/i
/** MiniSearch's default tokenizer: words split at spaces and punctuation, then lower-cased. */
const SPLIT = /[\n\r\p{Z}\p{P}]+/u
export const tokensOf = (text: string): string[] => text.toLowerCase().split(SPLIT).filter(Boolean)

/**
 * Whether a text holds every term (the last one as a prefix when `prefixLast`): the text's
 * tokens that matched (for highlights), or null.
 */
function matcher(terms: readonly string[], prefixLast: boolean): (text: string) => string[] | null {
  if (terms.length === 0) return () => []
  const last = terms.length - 1
  const hit = (token: string, i: number) =>
    token === terms[i] || (prefixLast && i === last && token.startsWith(terms[i]!))
  return (text) => {
    const tokens = tokensOf(text)
    const matched = new Set<string>()
    for (let i = 0; i < terms.length; i++) {
      let found = false
      for (const t of tokens)
        if (hit(t, i)) {
          matched.add(t)
          found = true
        }
      if (!found) return null
    }
    return [...matched]
  }
}

const MINI_OPTIONS: Options<SearchDoc> = {
  idField: 'id',
  fields: ['text'],
  storeFields: ['channel', 'author', 'ts', 'text', 'mentions', 'has', 'v'],
  // Removals leave dirt. MiniSearch 7.2's background vacuum throws when documents are added
  // between its batches (lucaong/minisearch#306): a month is rebuilt instead (`compact`).
  autoVacuum: false,
}
/** A month is rebuilt when this many of its entries are removed ones (default 200)... */
export const COMPACT_MIN_DIRT = 200
/** ...and they are at least this share of its documents (default 0.1). */
export const COMPACT_MIN_FACTOR = 0.1

/** The month (UTC) a relay time falls in: `2026-12`. */
export const monthOf = (ts: number): string => new Date(ts).toISOString().slice(0, 7)

interface Early {
  edits: { id: Ulid; author: string; text: string }[]
  redactions: { id: Ulid; author: string; ts: number; key: Uint8Array }[]
}

/** The serialized index: one JSON string per month plus `meta`. */
export type SerializedIndex = Map<string, string>
const META = 'meta'

interface Meta {
  version: 1
  counts: Record<string, number>
  gone: Ulid[]
}

export class SearchIndex {
  private readonly months = new Map<string, MiniSearch<SearchDoc>>()
  /** Month of each indexed id. */
  private readonly monthOfId = new Map<Ulid, string>()
  private readonly early = new Map<Ulid, Early>()
  /** Redacted ids: a message read again (a channel re-read) stays out. */
  private readonly gone = new Set<Ulid>()
  private readonly counts = new Map<string, number>()
  private readonly dirty = new Set<string>()

  constructor(private readonly roles: Roles) {}

  /** Documents indexed. */
  get size(): number {
    return this.monthOfId.size
  }

  /** Events taken per channel (every kind), to tell whether a channel was seen whole. */
  seen(channel: string): number {
    return this.counts.get(channel) ?? 0
  }

  /** Sets what was seen of a channel (after it was read whole). */
  setSeen(channel: string, n: number): void {
    if (this.counts.get(channel) === n) return
    this.counts.set(channel, n)
    this.dirty.add(META)
  }

  has(id: Ulid): boolean {
    return this.monthOfId.has(id)
  }

  get(id: Ulid): SearchDoc | undefined {
    const month = this.monthOfId.get(id)
    return month ? this.docIn(month, id) : undefined
  }

  /**
   * Folds events in (any kind, any order; one seen before changes nothing when `count` is false).
   * `count`: add them to the channel's seen count (new to the log, not a re-read).
   */
  take(events: readonly StampedEvent[], count = true): void {
    for (const e of events) {
      if (count) this.bump(e.channel, 1)
      let body: ReturnType<typeof decodeChatBody>
      try {
        body = decodeChatBody(e.kind, e.body)
      } catch {
        continue // the log verified signatures, not bodies: an undecodable one shows nowhere
      }
      if (body?.kind === Kind.message) this.addMessage(e, body.body)
      else if (body?.kind === Kind.attachment) this.addAttachment(e, body.body)
      else if (body?.kind === Kind.edit) this.edit(e, body.body)
      else if (body?.kind === Kind.redact) this.redact(e, body.body)
    }
  }

  /** Events the log replaced (a retried send stamped twice keeps its smaller id). */
  drop(channel: string, ids: readonly Ulid[]): void {
    this.bump(channel, -ids.length)
    for (const id of ids) this.remove(id)
  }

  /** Newest first; `names` resolves `from:` and `mentions:`. */
  search(q: SearchQuery, names: SearchNames, opts: SearchOptions = {}): SearchPage {
    const limit = opts.limit ?? SEARCH_LIMIT
    const filter = this.filterOf(q, names, opts.before)
    if (!filter) return { hits: [], more: false }
    // Every word is required; phrases' words too (phrases first: the last word is the one being
    // typed, a prefix from 2 letters). Only the anchor's matches are read from the index (the
    // longest word: in chat text a long word is usually a rare one); the other words are checked
    // in each match's text, so a query with a common word does not score all of its messages.
    const terms = tokensOf([...q.phrases, ...q.words].join(' '))
    const prefixLast = q.words.length > 0 && (terms.at(-1)?.length ?? 0) >= 2
    const matches = matcher(terms, prefixLast)
    let anchor = terms.length - 1
    terms.forEach((t, i) => {
      if (t.length > (terms[anchor]?.length ?? 0)) anchor = i
    })
    const query = terms.length > 0 ? terms[anchor]! : MiniSearch.wildcard
    const anchorPrefix = prefixLast && anchor === terms.length - 1
    const hits: SearchHit[] = []
    const months = [...this.months.keys()].sort().reverse()
    const started = performance.now()
    const budget = opts.budgetMs ?? SEARCH_BUDGET_MS
    let scanned: string | undefined
    for (const month of months) {
      if (q.after !== undefined && month < monthOf(q.after)) break
      if (q.before !== undefined && month > monthOf(q.before - 1)) continue
      // (-1: a `next` at a month's first instant leaves that month out.)
      if (opts.before && month > monthOf(ulidTime(opts.before) - 1)) continue
      // Out of time with older months left: what was found, and where to go on.
      if (scanned && performance.now() - started > budget)
        return { hits, more: true, next: ulidAtTime(Date.parse(`${scanned}-01T00:00:00Z`)) }
      scanned = month
      const found: SearchHit[] = []
      this.months.get(month)!.search(query, {
        prefix: anchorPrefix,
        filter: (r) => {
          const doc = docOf(r)
          if (!filter(doc)) return false
          const matched = matches(doc.text)
          if (matched) found.push({ doc, terms: matched })
          return false // collected here: MiniSearch need not sort them by score
        },
      })
      found.sort((a, b) => (a.doc.id < b.doc.id ? 1 : a.doc.id > b.doc.id ? -1 : 0))
      for (const hit of found) {
        if (hits.length === limit) return { hits, more: true, next: hits[hits.length - 1]!.doc.id }
        hits.push(hit)
      }
    }
    return { hits, more: false }
  }

  /** The months changed since the last call (and `meta`), serialized; `undefined`: a month emptied. */
  changes(): Map<string, string | undefined> {
    const out = new Map<string, string | undefined>()
    for (const key of this.dirty) {
      this.compact(key)
      if (key === META) {
        const meta: Meta = { version: 1, counts: Object.fromEntries(this.counts), gone: [...this.gone] }
        out.set(META, JSON.stringify(meta))
        continue
      }
      const month = this.months.get(key)
      out.set(key, month && month.documentCount > 0 ? JSON.stringify(month) : undefined)
    }
    this.dirty.clear()
    return out
  }

  /** Everything, serialized (as `changes` after a load would be). */
  serialize(): SerializedIndex {
    for (const month of this.months.keys()) this.dirty.add(month)
    this.dirty.add(META)
    const out = new Map<string, string>()
    for (const [k, v] of this.changes()) if (v !== undefined) out.set(k, v)
    return out
  }

  /**
   * Loads what `serialize`/`changes` wrote. A month that does not parse is left out and every
   * `seen` count is dropped (a month spans channels), so the caller reads the channels again.
   * `yieldNow` runs between months, to keep the page responsive.
   */
  static async load(
    saved: SerializedIndex,
    roles: Roles,
    yieldNow: () => Promise<void> = () => Promise.resolve(),
  ): Promise<SearchIndex> {
    const index = new SearchIndex(roles)
    let intact = true
    for (const [key, json] of saved) {
      if (key === META) continue
      try {
        const month = await MiniSearch.loadJSONAsync<SearchDoc>(json, MINI_OPTIONS)
        index.months.set(key, month)
        for (const id of idsOf(month)) index.monthOfId.set(id, key)
      } catch {
        intact = false
        index.dirty.add(key)
      }
      await yieldNow()
    }
    const meta = parseMeta(saved.get(META))
    if (meta && intact) for (const [c, n] of Object.entries(meta.counts)) index.counts.set(c, n)
    for (const id of meta?.gone ?? []) if (typeof id === 'string') index.gone.add(id as Ulid)
    return index
  }

  // ---- the fold --------------------------------------------------------------------------

  private addMessage(e: StampedEvent, body: MessageBody): void {
    const has: SearchHas[] = URL_PATTERN.test(body.text) ? ['link'] : []
    this.add({
      id: e.id,
      channel: e.channel,
      author: publicKeyToText(e.author),
      ts: e.ts,
      text: body.text,
      mentions: body.mentions.map(publicKeyToText),
      has,
    })
  }

  private addAttachment(e: StampedEvent, body: AttachmentBody): void {
    this.add({
      id: e.id,
      channel: e.channel,
      author: publicKeyToText(e.author),
      ts: e.ts,
      text: body.name,
      mentions: [],
      has: body.mime.startsWith('image/') ? ['image', 'file'] : ['file'],
    })
  }

  private add(doc: SearchDoc): void {
    if (this.monthOfId.has(doc.id) || this.gone.has(doc.id)) return
    const early = this.early.get(doc.id)
    this.early.delete(doc.id)
    if (early) {
      if (early.redactions.some((r) => this.mayRedact(r, doc.author))) {
        this.tombstone(doc.id)
        return
      }
      for (const edit of early.edits) if (edit.author === doc.author) applyEdit(doc, edit)
    }
    const month = monthOf(doc.ts)
    let index = this.months.get(month)
    if (!index) {
      index = new MiniSearch<SearchDoc>(MINI_OPTIONS)
      this.months.set(month, index)
    }
    index.add(doc)
    this.monthOfId.set(doc.id, month)
    this.dirty.add(month)
  }

  private edit(e: StampedEvent, body: EditBody): void {
    const edit = { id: e.id, author: publicKeyToText(e.author), text: body.text }
    const doc = this.get(body.target)
    if (!doc) {
      this.wait(body.target, (w) => w.edits.push(edit))
      return
    }
    if (edit.author !== doc.author || (doc.v ?? doc.id) >= edit.id) return
    applyEdit(doc, edit)
    const month = this.monthOfId.get(doc.id)!
    this.months.get(month)!.replace(doc)
    this.dirty.add(month)
  }

  private redact(e: StampedEvent, body: RedactBody): void {
    const redaction = { id: e.id, author: publicKeyToText(e.author), ts: e.ts, key: e.author }
    const doc = this.get(body.target)
    if (!doc) {
      this.wait(body.target, (w) => w.redactions.push(redaction))
      return
    }
    if (!this.mayRedact(redaction, doc.author)) return
    this.remove(doc.id)
    this.tombstone(doc.id)
  }

  /** Rebuilds a month that holds much dirt (removed documents), at once (nothing interleaves). */
  private compact(key: string): void {
    const month = this.months.get(key)
    if (
      !month ||
      month.dirtCount < COMPACT_MIN_DIRT ||
      month.dirtCount < month.documentCount * COMPACT_MIN_FACTOR
    )
      return
    const fresh = new MiniSearch<SearchDoc>(MINI_OPTIONS)
    fresh.addAll(month.search(MiniSearch.wildcard).map(docOf))
    this.months.set(key, fresh)
  }

  /** Entries of removed documents still in the months (for tests and the bench). */
  get dirt(): number {
    let n = 0
    for (const m of this.months.values()) n += m.dirtCount
    return n
  }

  private tombstone(id: Ulid): void {
    this.gone.add(id)
    this.dirty.add(META)
  }

  private mayRedact(r: Early['redactions'][number], author: string): boolean {
    return r.author === author || canModerate(this.roles(r.key, r.ts))
  }

  private remove(id: Ulid): void {
    const month = this.monthOfId.get(id)
    if (!month) return
    this.months.get(month)!.discard(id)
    this.monthOfId.delete(id)
    this.dirty.add(month)
  }

  private wait(target: Ulid, put: (w: Early) => void): void {
    let w = this.early.get(target)
    if (!w) {
      w = { edits: [], redactions: [] }
      this.early.set(target, w)
      if (this.early.size > EARLY_MAX) this.early.delete(this.early.keys().next().value!)
    }
    put(w)
  }

  private bump(channel: string, n: number): void {
    this.counts.set(channel, Math.max(0, (this.counts.get(channel) ?? 0) + n))
    this.dirty.add(META)
  }

  private docIn(month: string, id: Ulid): SearchDoc | undefined {
    const fields = this.months.get(month)?.getStoredFields(id)
    return fields ? docOf({ id, ...fields }) : undefined
  }

  /** The filters as one predicate over stored fields, or null when nothing can match. */
  private filterOf(
    q: SearchQuery,
    names: SearchNames,
    before: Ulid | undefined,
  ): ((d: SearchDoc) => boolean) | null {
    const from = q.from !== undefined ? names.keysOf(q.from) : undefined
    const mentions = q.mentions !== undefined ? names.keysOf(q.mentions) : undefined
    if (from?.size === 0) return null
    // A mention is a key in the body, or `@name` in the text (what the composer writes).
    const ats =
      q.mentions === undefined
        ? []
        : [q.mentions === 'me' ? undefined : q.mentions, ...[...mentions!].map((k) => names.nameOf(k))]
            .filter((n): n is string => !!n)
            .map((n) => `@${n.toLowerCase()}`)
    const mentioned = (d: SearchDoc) => {
      if (d.mentions.some((k) => mentions!.has(k))) return true
      const text = d.text.toLowerCase()
      return ats.some((at) => text.includes(at))
    }
    const phrases = q.phrases
    return (d) =>
      (q.in === undefined || d.channel.toLowerCase() === q.in) &&
      (from === undefined || from.has(d.author)) &&
      (mentions === undefined || mentioned(d)) &&
      (q.has === undefined || d.has.includes(q.has)) &&
      (q.after === undefined || d.ts >= q.after) &&
      (q.before === undefined || d.ts < q.before) &&
      (before === undefined || d.id < before) &&
      phrases.every((p) => d.text.toLowerCase().includes(p))
  }
}

function applyEdit(doc: SearchDoc, edit: { id: Ulid; text: string }): void {
  if ((doc.v ?? doc.id) >= edit.id) return
  doc.text = edit.text
  doc.v = edit.id
  doc.has = doc.has.filter((h) => h !== 'link')
  if (URL_PATTERN.test(edit.text)) doc.has.push('link')
}

function docOf(r: SearchResult | Record<string, unknown>): SearchDoc {
  const doc: SearchDoc = {
    id: r.id as Ulid,
    channel: r.channel as string,
    author: r.author as string,
    ts: r.ts as number,
    text: r.text as string,
    mentions: (r.mentions as string[]) ?? [],
    has: (r.has as SearchHas[]) ?? [],
  }
  if (r.v) doc.v = r.v as Ulid
  return doc
}

/** The ids a loaded month holds. */
function idsOf(month: MiniSearch<SearchDoc>): Ulid[] {
  return month.search(MiniSearch.wildcard).map((r) => r.id as Ulid)
}

function parseMeta(json: string | undefined): Meta | undefined {
  if (!json) return undefined
  try {
    const meta = JSON.parse(json) as Meta
    return meta?.version === 1 && typeof meta.counts === 'object' && Array.isArray(meta.gone)
      ? meta
      : undefined
  } catch {
    return undefined
  }
}
