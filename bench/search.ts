/**
 * Issue #17: local full-text search over every stored message. "Measure index size, build time and
 * query time on the same 100,000 messages and choose": MiniSearch (A, the baseline) vs FlexSearch,
 * Orama and the index the web app ships (ui-vue/src/lib/search-index.ts: MiniSearch split by month
 * of relay time, newest first, stopping at the first page), each printed as a ratio of A.
 *
 * Corpus: seeded synthetic chat messages (3-40 words, Zipf-like over a ~20,000-word vocabulary,
 * @mentions, URLs, 50 authors, 20 channels, a year of timestamps, ULID-like ids), 10,000 and
 * 100,000 of them. Per library and size:
 *   build      add every message (one by one, as each library's loop does anyway)
 *   size       the serialized form (JSON.stringify / export API), and the heap delta after gc
 *   load       rebuilding the index from the serialized form (what a page reload would pay)
 *   edits      add 1,000 new messages one by one; remove 1,000 (redactions); replace 1,000 (edits)
 *   queries    QUERIES queries of 1-3 words, AND semantics, top 50, the last word a prefix
 *              (as-you-type); the same with a channel or author filter; 1-2 whole words with a
 *              one-letter typo and fuzzy distance 1. Libraries interleave query by query.
 *
 * The shipped index folds stamped events, as the app does: each message becomes an unsigned
 * `message` event (its id, ts, channel and text; the author a 32-byte key hashed from the name),
 * a removal a `redact` and a replacement an `edit` by the author, made before the clock starts.
 * Its queries go through `parseSearchQuery` with `in:`/`from:` for the filters.
 *
 *   pnpm bench:search          (SIZES=10000,100000 QUERIES=500 SEED=17 by default;
 *                               LIBS lists the libraries to run by their full names, e.g.
 *                               LIBS='MiniSearch,FlexSearch,peerchat (MiniSearch by month)')
 */
import { createHash } from 'node:crypto'
import { loadavg } from 'node:os'
import { create, insert, load, type Orama, remove, save, search, update } from '@orama/orama'
import { parseUlid, publicKeyToText, type StampedEvent, type Ulid } from '@peerchat/engine'
import { Kind, noRoles } from '@peerchat/engine/chat'
import { fixtureUlid } from '@peerchat/engine/testing'
import FlexSearch, { type DocumentOptions, type Document as FlexDocument } from 'flexsearch'
import MiniSearch from 'minisearch'
import { type ChatBody, encodeBody } from '../ui-vue/src/client/bodies.ts'
import { SEARCH_BUDGET_MS, SearchIndex, type SearchNames } from '../ui-vue/src/lib/search-index.ts'
import { parseSearchQuery } from '../ui-vue/src/lib/search-query.ts'

const SIZES = (process.env.SIZES ?? '10000,100000').split(',').map(Number)
const QUERIES = Number(process.env.QUERIES ?? 500)
const SEED = Number(process.env.SEED ?? 17)
const EDITS = 1_000
const WARMUP = 50
const LIMIT = 50
const VOCABULARY = 20_000
const AUTHORS = 50
const CHANNELS = 20
const YEAR_MS = 365 * 24 * 3600 * 1000
const START = Date.UTC(2026, 0, 1)

type Message = { id: string; text: string; author: string; channel: string; ts: number; hasImage: boolean }
type Filter = { field: 'channel' | 'author'; value: string }
interface Query {
  text: string
  prefix: boolean // the last word is a prefix (as-you-type)
  fuzzy: boolean // edit distance 1
  filter?: Filter
}
/** Work to time; a library's input (the shipped index: stamped events) is made before the clock starts. */
type Step = () => void
/** A serialized index: its size, and the way back (what a page reload pays). */
interface Saved {
  bytes: number
  load(): Engine | Promise<Engine>
}
/** One library behind the same five calls; `search` returns the number of hits (at most LIMIT). */
interface Engine {
  add(ms: Message[]): Step
  /** A redaction. */
  remove(m: Message): Step
  /** An edit: `m` with its new text. */
  replace(m: Message): Step
  search(q: Query): number
  save(): Saved
}
interface Library {
  name: string
  make(): Engine
  /** Why a query kind cannot be run (undefined: it can). */
  unsupported?(q: Query): string | undefined
}

// ---------- corpus ----------

function rng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
type Rand = ReturnType<typeof rng>
const pick = <T>(r: Rand, xs: ArrayLike<T>): T => xs[Math.floor(r() * xs.length)]!

const COMMON = `the to i a and you it is that of in for on we this be have my so but not with are
just do can at if was what all like me get it's will about now up from out one know or how there
your think yeah ok no time good go when should see would then they make some need here yes also
more did got maybe thanks right still new going back today sure work want look let because only
been really way which them use try something could people tomorrow fix test build review merge
release branch issue meeting call deploy server client bug change update idea week lunch`.split(/\s+/)
const SYLLABLES = 'ka,lo,mi,ne,ru,ta,shi,po,ve,da,gri,bel,mon,sta,tor,fen,qui,zar,lin,dro,pa,se,tu,wi,ch'
  .split(',')
  .concat(['ex', 'or', 'an', 'is', 'um', 'el'])

function makeWords(r: Rand, n: number, min: number, max: number, taken = new Set<string>()): string[] {
  const out: string[] = []
  while (out.length < n) {
    let w = ''
    const k = min + Math.floor(r() * (max - min + 1))
    for (let i = 0; i < k; i++) w += pick(r, SYLLABLES)
    if (taken.has(w)) continue
    taken.add(w)
    out.push(w)
  }
  return out
}

/** Zipf-like (s = 1) sampler over `n` ranks. */
function zipf(r: Rand, n: number): () => number {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1)
  return () => {
    const x = r() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cdf[mid]! < x) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const ulid = (r: Rand, ts: number) => {
  let s = ''
  for (let i = 9, t = ts; i >= 0; i--, t = Math.floor(t / 32)) s = CROCKFORD[t % 32]! + s
  for (let i = 0; i < 16; i++) s += pick(r, CROCKFORD)
  return s
}

function corpus(seed: number) {
  const r = rng(seed)
  const taken = new Set(COMMON)
  const vocabulary = COMMON.concat(makeWords(r, VOCABULARY - COMMON.length, 1, 4, taken))
  const authors = makeWords(r, AUTHORS, 2, 3, taken)
  const channels = makeWords(r, CHANNELS, 2, 3, taken)
  const rank = zipf(r, vocabulary.length)
  const text = () => {
    const words = Array.from({ length: 3 + Math.floor(37 * r() ** 2.5) }, () => vocabulary[rank()]!)
    const at = () => Math.floor(r() * words.length)
    if (r() < 0.15) words.splice(at(), 0, '@' + pick(r, authors))
    if (r() < 0.05) words.splice(at(), 0, `https://${vocabulary[rank()]}.example.com/${vocabulary[rank()]}`)
    return words.join(' ')
  }
  const messages = (n: number, from = 0, total = n): Message[] =>
    Array.from({ length: n }, (_, i) => {
      const ts = START + Math.floor(((from + i + r()) * YEAR_MS) / total)
      const m = { id: ulid(r, ts), text: text(), author: pick(r, authors), channel: pick(r, channels) }
      return { ...m, ts, hasImage: r() < 0.1 }
    })
  return { r, messages, text }
}

/** Queries cut from random stored messages, so most have hits. */
function queries(r: Rand, from: Message[], n: number) {
  const plain = (m: Message) => m.text.split(' ').filter((w) => /^[a-z']+$/.test(w))
  const source = () => {
    const m = pick(r, from)
    const words = plain(m)
    const k = Math.min(words.length, r() < 0.5 ? 1 : r() < 0.7 ? 2 : 3)
    const at = Math.floor(r() * (words.length - k + 1))
    return { m, words: words.slice(at, at + k) }
  }
  const filter = (m: Message, i: number): Filter =>
    i % 2 ? { field: 'author', value: m.author } : { field: 'channel', value: m.channel }
  const prefix: Query[] = []
  const filtered: Query[] = []
  const fuzzy: Query[] = []
  for (let i = 0; i < n; i++) {
    const { m, words } = source()
    const last = words.pop()!
    const cut = last.length <= 3 ? last : last.slice(0, 3 + Math.floor(r() * (last.length - 2)))
    const text = [...words, cut].join(' ')
    prefix.push({ text, prefix: true, fuzzy: false })
    filtered.push({ text, prefix: true, fuzzy: false, filter: filter(m, i) })
    let typo = source().words.slice(0, 2)
    const j = typo.findIndex((w) => w.length >= 4)
    if (j >= 0) {
      const w = typo[j]!
      const k = 1 + Math.floor(r() * (w.length - 1))
      typo[j] = w.slice(0, k) + (w[k] === 'e' ? 'a' : 'e') + w.slice(k + 1)
    } else typo = [pick(r, ['mesage', 'tomorow', 'reveiw', 'relase', 'meting'])]
    fuzzy.push({ text: typo.join(' '), prefix: false, fuzzy: true })
  }
  return { prefix, filtered, fuzzy }
}

// ---------- the libraries ----------

const each =
  (docs: Message[], add: (m: Message) => unknown): Step =>
  () => {
    for (const m of docs) add(m)
  }
const saved = (s: string, load: (s: string) => Engine): Saved => ({
  bytes: Buffer.byteLength(s),
  load: () => load(s),
})

const MINI_OPTIONS = { idField: 'id', fields: ['text'], storeFields: ['channel', 'author'] }
const miniEngine = (ms: MiniSearch<Message>): Engine => ({
  add: (docs) => each(docs, (m) => ms.add(m)),
  remove: (m) => () => ms.discard(m.id), // remove(doc) needs the original text; discard needs the id
  replace: (m) => () => ms.replace(m),
  search: (q) =>
    ms
      .search(q.text, {
        combineWith: 'AND',
        prefix: (_t, i, terms) => q.prefix && i === terms.length - 1,
        fuzzy: q.fuzzy ? 1 : false,
        ...(q.filter && { filter: (hit) => hit[q.filter!.field] === q.filter!.value }),
      })
      .slice(0, LIMIT).length,
  save: () => saved(JSON.stringify(ms), (s) => miniEngine(MiniSearch.loadJSON<Message>(s, MINI_OPTIONS))),
})
const minisearch: Library = {
  name: 'MiniSearch',
  make: () => miniEngine(new MiniSearch<Message>(MINI_OPTIONS)),
}

// `forward` indexes every prefix of each word (needed for as-you-type); `fastupdate` keeps the
// register that makes remove/update cheap (without it, a removal walks the whole index). 0.8.212's
// import cannot fill that register (it throws) and turns fastupdate off, so a reloaded index has none.
// Filters: 0.8.212's `tag` option intersects the tag with only the top 100 text matches (an inner
// search with limit 0 means 100) and throws with `resolve: false`, so filtered queries fetch every
// text match and check the stored channel/author, which is what a correct filter costs here.
const ALL = 1_000_000
const flexOptions = (fastupdate: boolean): DocumentOptions<Message> => ({
  document: {
    id: 'id',
    index: [{ field: 'text', tokenize: 'forward' }],
    store: ['channel', 'author'],
  },
  fastupdate,
})
const flexEngine = (ix: FlexDocument<Message>): Engine => ({
  add: (docs) => each(docs, (m) => ix.add(m)),
  remove: (m) => () => void ix.remove(m.id),
  replace: (m) => () => void ix.update(m),
  search: (q) => {
    const f = q.filter
    const res = ix.search(q.text, { limit: f ? ALL : LIMIT })[0]?.result ?? []
    return f ? res.filter((id) => ix.get(id)?.[f.field] === f.value).slice(0, LIMIT).length : res.length
  },
  save: () => {
    const chunks: [string, string][] = []
    ix.export((key: string, data: string) => void chunks.push([key, data]))
    return saved(JSON.stringify(chunks), (s) => {
      const loaded = newFlex(false)
      for (const [key, data] of JSON.parse(s) as [string, string][]) loaded.import(key, data)
      return flexEngine(loaded)
    })
  },
})
const newFlex = (fastupdate = true) => new FlexSearch.Document<Message>(flexOptions(fastupdate))
const flexsearch: Library = {
  name: 'FlexSearch',
  make: () => flexEngine(newFlex()),
  unsupported: (q) => (q.fuzzy ? 'no edit distance' : undefined),
}

const ORAMA_SCHEMA = { text: 'string', author: 'enum', channel: 'enum' } as const
type OramaDb = Orama<typeof ORAMA_SCHEMA>
/** Orama returns a promise only when a hook or component is async; none is here. */
const now = <T>(v: T | Promise<T>): T => {
  if (v instanceof Promise) throw new TypeError('Orama went async')
  return v
}
const oramaEngine = (db: OramaDb): Engine => ({
  add: (docs) => each(docs, (m) => now(insert(db, m))),
  remove: (m) => () => void now(remove(db, m.id)),
  replace: (m) => () => void now(update(db, m.id, m)),
  search: (q) =>
    now(
      search(db, {
        term: q.text,
        properties: ['text'],
        limit: LIMIT,
        threshold: 0, // documents holding every term (AND)
        tolerance: q.fuzzy ? 1 : 0,
        ...(q.filter && { where: { [q.filter.field]: { eq: q.filter.value } } }),
      }),
    ).hits.length,
  save: () =>
    saved(JSON.stringify(save(db)), (s) => {
      const loaded = create({ schema: ORAMA_SCHEMA })
      load(loaded, JSON.parse(s))
      return oramaEngine(loaded)
    }),
})
const orama: Library = {
  name: 'Orama',
  make: () => oramaEngine(create({ schema: ORAMA_SCHEMA })),
}

// The shipped index takes what the app's log holds: stamped events, here unsigned (a fold checks no
// signature). Each author is a 32-byte key hashed from the name; `from:` resolves a name to it.
const authors = new Map<string, { key: Uint8Array; text: string }>()
const author = (name: string) => {
  let a = authors.get(name)
  if (!a) {
    const key = new Uint8Array(createHash('sha256').update(name).digest())
    a = { key, text: publicKeyToText(key) }
    authors.set(name, a)
  }
  return a
}
const NAMES: SearchNames = { keysOf: (name) => new Set([author(name).text]), nameOf: () => undefined }
const NO_NONCE = new Uint8Array(16)
const NO_SIG = new Uint8Array(64)
const stamped = (id: Ulid, ts: number, m: Message, body: ChatBody): StampedEvent => ({
  id,
  ts,
  channel: m.channel,
  kind: body.kind,
  author: author(m.author).key,
  clientNonce: NO_NONCE,
  body: encodeBody(body),
  authorSig: NO_SIG,
  relaySig: NO_SIG,
})
let later = 0
/** An edit or redaction of `m` by its author, stamped after every message of the corpus. */
const amend = (m: Message, body: ChatBody) => {
  const ts = START + YEAR_MS + ++later
  return stamped(fixtureUlid(ts, later), ts, m, body)
}
const filterWords = (f: Filter | undefined) =>
  f ? ` ${f.field === 'channel' ? 'in' : 'from'}:${f.value}` : ''
/** Durations of single `SearchIndex.search` calls (each stops after its budget), ms. */
const peerchatCalls: number[] = []
const peerchatEngine = (ix: SearchIndex): Engine => {
  const take = (events: StampedEvent[]) => () => ix.take(events)
  return {
    add: (docs) =>
      take(docs.map((m) => stamped(parseUlid(m.id), m.ts, m, { kind: Kind.message, text: m.text }))),
    remove: (m) => take([amend(m, { kind: Kind.redact, target: parseUlid(m.id) })]),
    replace: (m) => take([amend(m, { kind: Kind.edit, target: parseUlid(m.id), text: m.text })]),
    // The whole top 50, as the app gets it: calls that stop at their time budget are chained
    // (the app yields a frame between them); each call's time is kept for the per-call figures.
    search: (q) => {
      const query = parseSearchQuery(q.text + filterWords(q.filter))
      let hits = 0
      let before: Ulid | undefined
      for (;;) {
        const t = performance.now()
        const page = ix.search(query, NAMES, { limit: LIMIT - hits, ...(before ? { before } : {}) })
        peerchatCalls.push(performance.now() - t)
        hits += page.hits.length
        if (!page.more || hits >= LIMIT || !page.next) return hits
        before = page.next
      }
    },
    save: () => {
      const months = ix.serialize()
      return {
        bytes: [...months.values()].reduce((sum, s) => sum + Buffer.byteLength(s), 0),
        load: async () => peerchatEngine(await SearchIndex.load(months, noRoles)),
      }
    },
  }
}
const peerchat: Library = {
  name: 'peerchat (MiniSearch by month)',
  make: () => peerchatEngine(new SearchIndex(noRoles)),
  unsupported: (q) => (q.fuzzy ? 'no fuzzy' : undefined),
}

const LIBRARIES = [minisearch, flexsearch, orama, peerchat].filter(
  (l) => !process.env.LIBS || process.env.LIBS.split(',').includes(l.name),
)

// ---------- measuring ----------

const gc = () => (globalThis as { gc?: () => void }).gc?.()
const heap = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
const time = (fn: () => void) => {
  const t = performance.now()
  fn()
  return performance.now() - t
}
const perOpUs = (steps: Step[]) => {
  const ms = time(() => {
    for (const step of steps) step()
  })
  return (ms * 1000) / steps.length
}
const progress = (what: string) =>
  process.stderr.write(`  ${new Date().toISOString().slice(11, 19)} ${what}\n`)
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!

type Row = [metric: string, values: (number | string)[], digits: number, lowerIsBetter?: boolean]

async function runSize(n: number): Promise<Row[]> {
  if (n < 2 * EDITS) throw new RangeError(`each size needs at least ${2 * EDITS} messages to redact and edit`)
  const c = corpus(SEED)
  const docs = c.messages(n)
  const more = c.messages(EDITS, n, n + EDITS)
  const qs = queries(rng(SEED + 1), docs, QUERIES)
  const engines: Engine[] = []
  const build: number[] = []
  const bytes: number[] = []
  const heapMb: number[] = []
  const loadMs: number[] = []
  for (const lib of LIBRARIES) {
    progress(`${n}: ${lib.name} build`)
    const before = heap()
    const e = lib.make()
    build.push(time(e.add(docs)))
    heapMb.push((heap() - before) / 2 ** 20)
    const s = e.save()
    bytes.push(s.bytes / 2 ** 20)
    const t = performance.now()
    await s.load()
    loadMs.push(performance.now() - t)
    engines.push(e)
  }
  const rows: Row[] = [
    ['build (add all), ms', build, 0],
    ['serialized index, MB', bytes, 1],
    ['heap delta after gc, MB', heapMb, 1],
    ['load from serialized, ms', loadMs, 0],
  ]
  for (const [kind, list] of Object.entries(qs)) {
    progress(`${n}: queries ${kind}`)
    const times: number[][] = LIBRARIES.map(() => [])
    const hits: number[][] = LIBRARIES.map(() => [])
    list.forEach((q, i) => {
      LIBRARIES.forEach((lib, j) => {
        if (lib.unsupported?.(q)) return
        let h = 0
        const t = time(() => {
          h = engines[j]!.search(q)
        })
        if (i < WARMUP) return
        times[j]!.push(t)
        hits[j]!.push(h)
      })
    })
    const per = (f: (t: number[], j: number) => number) =>
      times.map((t, j) => (t.length ? f(t, j) : (LIBRARIES[j]!.unsupported?.(list[0]!) ?? 'n/a')))
    rows.push([`query ${kind} p50, ms`, per((t) => quantile(t, 0.5)), 2])
    rows.push([`query ${kind} p99, ms`, per((t) => quantile(t, 0.99)), 2])
    rows.push([`query ${kind} hits (mean, top ${LIMIT})`, per((_t, j) => mean(hits[j]!)), 1, false])
  }
  progress(`${n}: edits`)
  const r = rng(SEED + 2)
  const chosen = new Set<Message>()
  while (chosen.size < 2 * EDITS) chosen.add(pick(r, docs))
  const removed = [...chosen].slice(0, EDITS)
  const edited = [...chosen].slice(EDITS).map((m) => ({ ...m, text: c.text() }))
  rows.push(['add 1,000 one by one, µs/op', engines.map((e) => perOpUs(more.map((m) => e.add([m])))), 0])
  rows.push(['remove (redact), µs/op', engines.map((e) => perOpUs(removed.map(e.remove))), 0])
  rows.push(['replace (edit), µs/op', engines.map((e) => perOpUs(edited.map(e.replace))), 0])
  return rows
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / (xs.length || 1)

/** Two significant digits, never in exponent form (680, not 6.8e+2). */
const twoDigits = (x: number) => {
  const p = x.toPrecision(2)
  return p.includes('e') ? Number(p).toLocaleString('en-US') : p
}

function table(n: number, rows: Row[]): string {
  const head = [
    'metric',
    ...LIBRARIES.flatMap((l, j) => (j ? [l.name, `× ${LIBRARIES[0]!.name}`] : [l.name])),
  ]
  const fmt = (v: number | string, d: number) =>
    typeof v === 'string'
      ? v
      : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
  const body = rows.map(([metric, vs, d, ratio = true]) => {
    const a = vs[0]
    return [
      metric,
      ...vs.flatMap((v, j) => {
        if (!j) return [fmt(v, d)]
        const x =
          ratio && typeof v === 'number' && typeof a === 'number' && a > 0 ? `${twoDigits(v / a)}x` : ''
        return [fmt(v, d), x]
      }),
    ]
  })
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [
    `${n.toLocaleString('en-US')} messages`,
    '',
    line(head),
    line(head.map((_, i) => (i ? '---:' : '---'))),
    ...body.map(line),
  ].join('\n')
}

const load1 = () => loadavg()[0]!.toFixed(2)
console.log(
  `# search: ${new Date().toISOString()} Node ${process.version}, load ${load1()}, seed ${SEED}, ${QUERIES} queries` +
    ('gc' in globalThis ? '' : ' (no --expose-gc: heap deltas are rough)'),
)
for (const n of SIZES) {
  peerchatCalls.length = 0
  console.log(`\n${table(n, await runSize(n))}\n(load average after: ${load1()})`)
  if (peerchatCalls.length > 0)
    console.log(
      `peerchat single search calls (${SEARCH_BUDGET_MS} ms budget, chained for the rows above): ${peerchatCalls.length} calls, ` +
        `p50 ${quantile(peerchatCalls, 0.5).toFixed(2)} ms, p99 ${quantile(peerchatCalls, 0.99).toFixed(2)} ms, ` +
        `max ${Math.max(...peerchatCalls).toFixed(2)} ms`,
    )
}
