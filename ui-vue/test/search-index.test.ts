/** The local search index (lib/search-index.ts): the chat's edit and redaction rules, filters, pages, persistence, order independence. */
import { publicKeyToText, type StampedEvent, type Ulid } from '@peerchat/engine'
import { encodeAttachment, encodeMessage, Kind, noRoles, Role, type Roles } from '@peerchat/engine/chat'
import { fixtureUlid } from '@peerchat/engine/testing'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type ChatBody, encodeBody } from '../src/client/bodies.ts'
import { COMPACT_MIN_DIRT, SearchIndex, type SearchNames } from '../src/lib/search-index.ts'
import { parseSearchQuery } from '../src/lib/search-query.ts'

const ANN = new Uint8Array(32).fill(2)
const BEN = new Uint8Array(32).fill(3)
const MOD = new Uint8Array(32).fill(4)
const T0 = Date.UTC(2026, 9, 30, 12) // 30 October 2026: events a few days apart cross into November

const NAMES: Record<string, string> = {
  [publicKeyToText(ANN)]: 'Ann',
  [publicKeyToText(BEN)]: 'Ben',
  [publicKeyToText(MOD)]: 'Mo',
}
const names: SearchNames = {
  keysOf: (name) =>
    new Set(
      Object.keys(NAMES).filter(
        (k) => NAMES[k]!.toLowerCase().startsWith(name) || (name === 'me' && NAMES[k] === 'Ann'),
      ),
    ),
  nameOf: (key) => NAMES[key],
}
const moderators: Roles = (key) =>
  new Set(publicKeyToText(key) === publicKeyToText(MOD) ? [Role.moderator] : [])

function stamped(
  n: number,
  author: Uint8Array,
  kind: string,
  body: Uint8Array,
  channel = 'general',
): StampedEvent {
  const ts = T0 + n * 3_600_000
  return {
    id: fixtureUlid(ts, n),
    ts,
    channel,
    kind,
    author,
    clientNonce: new Uint8Array(16).fill(n & 0xff),
    body,
    authorSig: new Uint8Array(64),
    relaySig: new Uint8Array(64),
  }
}
const ev = (n: number, author: Uint8Array, body: ChatBody, channel?: string) =>
  stamped(n, author, body.kind, encodeBody(body), channel)
const say = (n: number, author: Uint8Array, text: string, channel?: string) =>
  ev(n, author, { kind: Kind.message, text }, channel)
const idOf = (n: number) => fixtureUlid(T0 + n * 3_600_000, n)

let numbers: Map<string, number> | undefined
const fixtureNumber = () => {
  numbers ??= new Map(Array.from({ length: 6_000 }, (_, n) => [idOf(n), n]))
  return numbers
}

function find(index: SearchIndex, text: string, opts?: { before?: Ulid; limit?: number }): number[] {
  // No time budget: these check the answers, not this machine's speed (a busy one would stop
  // early with `next`; the budget's chain has a test of its own).
  const ids = index
    .search(parseSearchQuery(text), names, { ...opts, budgetMs: Number.POSITIVE_INFINITY })
    .hits.map((h) => h.doc.id)
  // Back to the fixture numbers, for readable expectations.
  return ids.map((id) => {
    const n = fixtureNumber().get(id)
    if (n === undefined) throw new Error(`unknown id ${id}`)
    return n
  })
}

describe('SearchIndex', () => {
  it('finds messages by word and by the prefix being typed, newest first, across months', () => {
    const index = new SearchIndex(noRoles)
    index.take([
      say(1, ANN, 'The budget meeting is on Monday'),
      say(2, BEN, 'I will bring the budget numbers'),
      say(90, ANN, 'Budgeting again next month'), // 3.75 days later: November
      say(91, BEN, 'nothing to see here'),
    ])
    expect(find(index, 'budg')).toEqual([90, 2, 1]) // the last word is a prefix
    expect(find(index, 'budget')).toEqual([90, 2, 1])
    expect(find(index, 'budgeting aga')).toEqual([90])
    expect(find(index, 'budget again')).toEqual([]) // 'budget' is a whole word there
    expect(find(index, 'budg meeting')).toEqual([]) // the others are whole words
    expect(find(index, 'meeting budg')).toEqual([1])
    expect(find(index, 'BUDGET Numbers')).toEqual([2])
    expect(index.size).toBe(4)
    expect(index.seen('general')).toBe(4)
  })

  it('pages: `limit` results, `more`, then `before` the last one', () => {
    const index = new SearchIndex(noRoles)
    index.take(Array.from({ length: 30 }, (_, i) => say(i * 10, i % 2 ? ANN : BEN, `report number ${i}`)))
    const first = index.search(parseSearchQuery('report'), names, { limit: 12 })
    expect(first.more).toBe(true)
    expect(first.hits).toHaveLength(12)
    const next = index.search(parseSearchQuery('report'), names, {
      limit: 12,
      before: first.hits[11]!.doc.id,
    })
    expect(next.hits[0]!.doc.id < first.hits[11]!.doc.id).toBe(true)
    const rest = index.search(parseSearchQuery('report'), names, { limit: 12, before: next.hits[11]!.doc.id })
    expect(rest.more).toBe(false)
    const all = [...first.hits, ...next.hits, ...rest.hits].map((h) => h.doc.id)
    expect(new Set(all).size).toBe(30)
    expect(all).toEqual([...all].sort().reverse())
  })

  it('a call out of time returns what it found and where to go on; the chain gives the same answer', () => {
    const index = new SearchIndex(noRoles)
    // A message every 20 hours: ~36 per month over 10 months, "rare" in few of them.
    index.take(
      Array.from({ length: 360 }, (_, i) => say(i * 20, ANN, i % 97 === 0 ? `rare ${i}` : `common ${i}`)),
    )
    const q = parseSearchQuery('rare')
    const whole = index.search(q, names, { budgetMs: 1_000 })
    expect(whole.more).toBe(false)
    expect(whole.hits).toHaveLength(4)
    // No time at all: one month per call.
    const ids: string[] = []
    let page = index.search(q, names, { budgetMs: 0 })
    let calls = 1
    ids.push(...page.hits.map((h) => h.doc.id))
    while (page.more) {
      page = index.search(q, names, { budgetMs: 0, before: page.next! })
      ids.push(...page.hits.map((h) => h.doc.id))
      calls++
    }
    expect(ids).toEqual(whole.hits.map((h) => h.doc.id))
    expect(calls).toBeGreaterThanOrEqual(8)
  })

  it("an author's edit replaces the text; someone else's edit is ignored; an early edit waits for its message", () => {
    const index = new SearchIndex(noRoles)
    index.take([
      ev(5, ANN, { kind: Kind.edit, target: idOf(4), text: 'pears instead' }), // before its message
      say(1, ANN, 'apples for lunch'),
      say(4, BEN, 'bananas'),
      ev(2, ANN, { kind: Kind.edit, target: idOf(1), text: 'oranges for lunch' }),
      ev(3, BEN, { kind: Kind.edit, target: idOf(1), text: 'hijacked' }),
      ev(6, BEN, { kind: Kind.edit, target: idOf(4), text: 'cherries' }),
    ])
    expect(find(index, 'apples')).toEqual([])
    expect(find(index, 'oranges')).toEqual([1])
    expect(find(index, 'hijacked')).toEqual([])
    expect(find(index, 'pears')).toEqual([]) // Ann's edit of Ben's message never counts
    expect(find(index, 'cherries')).toEqual([4])
    // An older edit arriving late does not win over the newer one.
    index.take([ev(3, ANN, { kind: Kind.edit, target: idOf(4), text: 'x' })])
    expect(find(index, 'cherries')).toEqual([4])
    expect(index.get(idOf(1))!.v).toBe(idOf(2))
  })

  it("a redaction by the author or a moderator takes the message out; anyone else's is ignored", () => {
    const index = new SearchIndex(moderators)
    index.take([
      ev(9, ANN, { kind: Kind.redact, target: idOf(8) }), // before its message
      say(1, ANN, 'secret plan one'),
      say(2, BEN, 'secret plan two'),
      say(3, BEN, 'secret plan three'),
      say(8, ANN, 'secret plan eight'),
      ev(4, ANN, { kind: Kind.redact, target: idOf(1) }),
      ev(5, ANN, { kind: Kind.redact, target: idOf(2) }), // not hers, not a moderator
      ev(6, MOD, { kind: Kind.redact, target: idOf(3) }),
    ])
    expect(find(index, 'secret')).toEqual([2])
    expect(index.has(idOf(1))).toBe(false)
  })

  it('filters: from:, in:, has:image/file/link, mentions:, before:/after:, "phrases"', () => {
    const index = new SearchIndex(noRoles)
    const photo = encodeAttachment({
      digest: new Uint8Array(32),
      size: 10,
      chunkRoot: new Uint8Array(32),
      mime: 'image/png',
      name: 'holiday-beach.png',
    })
    const pdf = encodeAttachment({
      digest: new Uint8Array(32),
      size: 10,
      chunkRoot: new Uint8Array(32),
      mime: 'application/pdf',
      name: 'beach-rules.pdf',
    })
    index.take([
      say(1, ANN, 'beach party on Saturday'),
      say(2, BEN, 'beach party, see https://example.org/map', 'random'),
      stamped(3, BEN, Kind.attachment, photo),
      stamped(4, ANN, Kind.attachment, pdf, 'random'),
      say(5, ANN, 'hey @Ben, the beach?'),
      stamped(6, ANN, Kind.message, encodeMessage({ text: 'beach with you', mentions: [BEN] })),
      say(30, BEN, 'party at the beach'),
    ])
    expect(find(index, 'beach from:ann')).toEqual([6, 5, 4, 1])
    expect(find(index, 'beach from:b')).toEqual([30, 3, 2])
    expect(find(index, 'from:zed')).toEqual([])
    expect(find(index, 'beach in:random')).toEqual([4, 2])
    expect(find(index, 'has:image')).toEqual([3])
    expect(find(index, 'beach has:file')).toEqual([4, 3])
    expect(find(index, 'has:link')).toEqual([2])
    expect(find(index, 'mentions:ben')).toEqual([6, 5])
    expect(find(index, '"beach party"')).toEqual([2, 1])
    expect(find(index, '"party at"')).toEqual([30])
    const day = (n: number) => T0 + n * 3_600_000
    const q = parseSearchQuery('beach')
    expect(index.search({ ...q, after: day(5) }, names).hits.map((h) => h.doc.id)).toEqual([
      idOf(30),
      idOf(6),
      idOf(5),
    ])
    expect(index.search({ ...q, before: day(2) }, names).hits.map((h) => h.doc.id)).toEqual([idOf(1)])
  })

  it('mentions:me is my name written with @', () => {
    const index = new SearchIndex(noRoles)
    index.take([say(1, BEN, 'ask @ann about it'), say(2, BEN, 'ask ben')])
    expect(find(index, 'mentions:me')).toEqual([1])
  })

  it('drops what the log replaced, and counts events per channel', () => {
    const index = new SearchIndex(noRoles)
    index.take([say(1, ANN, 'twice sent'), say(2, ANN, 'twice sent'), say(3, ANN, 'other', 'random')])
    index.drop('general', [idOf(2)])
    expect(find(index, 'twice')).toEqual([1])
    expect(index.seen('general')).toBe(1)
    expect(index.seen('random')).toBe(1)
    index.take([say(1, ANN, 'twice sent')], false) // read again: neither counted nor added twice
    expect(index.seen('general')).toBe(1)
    expect(index.size).toBe(2)
  })

  it('persists: `changes` holds only the touched months, `load` gives the same answers', async () => {
    const index = new SearchIndex(noRoles)
    index.take([say(1, ANN, 'october words'), say(90, BEN, 'november words')])
    const saved = new Map<string, string>()
    const write = () => {
      const changes = index.changes()
      for (const [k, v] of changes)
        if (v === undefined) saved.delete(k)
        else saved.set(k, v)
      return changes
    }
    write()
    expect([...saved.keys()].sort()).toEqual(['2026-10', '2026-11', 'meta'])
    index.take([ev(91, BEN, { kind: Kind.edit, target: idOf(90), text: 'december words?' })])
    expect([...write().keys()].sort()).toEqual(['2026-11', 'meta'])
    index.take([ev(92, ANN, { kind: Kind.redact, target: idOf(1) })])
    const changes = write()
    expect(changes.get('2026-10')).toBeUndefined() // emptied: deleted
    expect(changes.has('2026-10')).toBe(true)
    expect(saved.has('2026-10')).toBe(false)
    const loaded = await SearchIndex.load(saved, noRoles)
    expect(find(loaded, 'words')).toEqual([90])
    expect(find(loaded, 'december')).toEqual([90])
    expect(loaded.seen('general')).toBe(4)
    // Edits keep working on a loaded index.
    loaded.take([ev(93, BEN, { kind: Kind.edit, target: idOf(90), text: 'january' })])
    expect(find(loaded, 'january')).toEqual([90])
  })

  it('a month that does not load is left out and every count dropped (the channels are read again)', async () => {
    const index = new SearchIndex(noRoles)
    index.take([say(1, ANN, 'october'), say(90, BEN, 'november')])
    const saved = index.serialize()
    saved.set('2026-10', '{not json')
    const loaded = await SearchIndex.load(saved, noRoles)
    expect(find(loaded, 'november')).toEqual([90])
    expect(find(loaded, 'october')).toEqual([])
    expect(loaded.seen('general')).toBe(0)
  })

  it('gives the same results whatever the order and duplication of the events (property)', () => {
    const pool: StampedEvent[] = [
      say(1, ANN, 'alpha beta'),
      say(2, BEN, 'beta gamma'),
      say(3, ANN, 'gamma delta'),
      ev(4, ANN, { kind: Kind.edit, target: idOf(1), text: 'alpha omega' }),
      ev(5, ANN, { kind: Kind.edit, target: idOf(1), text: 'alpha sigma' }),
      ev(6, BEN, { kind: Kind.redact, target: idOf(2) }),
      ev(7, BEN, { kind: Kind.edit, target: idOf(3), text: 'stolen' }),
      ev(8, MOD, { kind: Kind.redact, target: idOf(3) }),
      say(60, BEN, 'beta in november'),
    ]
    const reference = new SearchIndex(moderators)
    reference.take(pool)
    const queries = ['alpha', 'beta', 'gamma', 'omega', 'sigma', 'stolen', 'be', 'from:ben']
    const answer = (ix: SearchIndex) => queries.map((q) => find(ix, q))
    expect(answer(reference)).toEqual([[1], [60], [], [], [1], [], [60], [60]])
    fc.assert(
      fc.property(
        fc.shuffledSubarray(pool, { minLength: pool.length }),
        fc.array(fc.nat(pool.length - 1)),
        (order, dups) => {
          const ix = new SearchIndex(moderators)
          ix.take(order)
          ix.take(
            dups.map((i) => pool[i]!),
            false,
          )
          expect(answer(ix)).toEqual(answer(reference))
        },
      ),
      { numRuns: 200 },
    )
  })

  it('takes thousands of redactions and edits at once, and compacts the dirt they leave', () => {
    // MiniSearch's background vacuum crashed on this (lucaong/minisearch#306): it is off, and a
    // month with much dirt is rebuilt when its changes are taken.
    const index = new SearchIndex(noRoles)
    const N = 4_000
    index.take(Array.from({ length: N }, (_, i) => say(i, ANN, `note ${i} alpha`)))
    const later = (i: number) => N + i
    index.take(
      Array.from({ length: 1_500 }, (_, i) =>
        i % 2
          ? ev(later(i), ANN, { kind: Kind.redact, target: idOf(i) })
          : ev(later(i), ANN, { kind: Kind.edit, target: idOf(i), text: `edited ${i} beta` }),
      ),
    )
    expect(index.size).toBe(N - 750)
    expect(index.dirt).toBeGreaterThanOrEqual(1_500)
    index.changes()
    expect(index.dirt).toBeLessThan(COMPACT_MIN_DIRT) // months under the thresholds keep theirs
    expect(find(index, 'beta', { limit: 2_000 })).toHaveLength(750)
    expect(find(index, 'alpha', { limit: 5_000 })).toHaveLength(N - 1_500)
  })

  it('skips bodies that do not decode, and kinds it does not index', () => {
    const index = new SearchIndex(noRoles)
    index.take([
      stamped(1, ANN, Kind.message, new Uint8Array([0xff, 1, 2])),
      ev(2, ANN, { kind: Kind.reaction, target: idOf(1), emoji: '👍', on: true }),
      stamped(3, ANN, 'whiteboard.stroke', new Uint8Array([1])),
    ])
    expect(index.size).toBe(0)
    expect(index.seen('general')).toBe(3)
  })
})
