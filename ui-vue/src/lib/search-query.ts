/**
 * The search box's language (issue #17): words to find, and the filters people know from other
 * chats. Pure; the index (to come) applies it.
 *
 *   budget from:ann in:general has:image mentions:ben after:2026-11-01 before:2026-12-01 "exact words"
 *
 * Unknown `name:value` pairs are words; a filter given twice keeps the last; dates are the
 * viewer's local days (`after:` from the start of that day, `before:` up to its start).
 */

export type SearchHas = 'image' | 'file' | 'link'

export interface SearchQuery {
  /** Words (lower case) every result contains, prefix-matched on the last one as one types. */
  words: string[]
  /** Phrases in quotes, matched as written (case-insensitive). */
  phrases: string[]
  from?: string
  in?: string
  has?: SearchHas
  mentions?: string
  /** Relay times (ms): results at or after `after`, before `before`. */
  after?: number
  before?: number
  /** Filters that could not be read, with why: shown under the box. */
  problems: string[]
}

/** Results per page (default 50). */
export const SEARCH_LIMIT = 50

/** Longest query read, in characters (a pasted novel is cut). */
export const MAX_QUERY_CHARS = 500

const HAS = new Set<SearchHas>(['image', 'file', 'link'])
const TOKEN = /"([^"]*)"?|(\S+)/g

/** Midnight at the start of a `YYYY-MM-DD` local day, or undefined. */
function localDay(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text)
  if (!m) return undefined
  const [y, mo, d] = [Number(m[1]), Number(m[2]) - 1, Number(m[3])]
  const t = new Date(y, mo, d)
  return t.getFullYear() === y && t.getMonth() === mo && t.getDate() === d ? t.getTime() : undefined
}

const name = (value: string) => value.replace(/^[@#]/, '').toLowerCase()

export function parseSearchQuery(input: string): SearchQuery {
  const q: SearchQuery = { words: [], phrases: [], problems: [] }
  for (const m of input.slice(0, MAX_QUERY_CHARS).matchAll(TOKEN)) {
    if (m[1] !== undefined) {
      const phrase = m[1].trim().toLowerCase()
      if (phrase) q.phrases.push(phrase)
      continue
    }
    const token = m[2]!
    const colon = token.indexOf(':')
    const key = colon > 0 ? token.slice(0, colon).toLowerCase() : ''
    const value = colon > 0 ? token.slice(colon + 1) : ''
    if (!value || !['from', 'in', 'has', 'mentions', 'before', 'after'].includes(key)) {
      q.words.push(token.toLowerCase())
      continue
    }
    switch (key) {
      case 'from':
      case 'in':
      case 'mentions':
        q[key] = name(value)
        break
      case 'has': {
        const has = value.toLowerCase() as SearchHas
        if (HAS.has(has)) q.has = has
        else q.problems.push(`has:${value} — try has:image, has:file or has:link`)
        break
      }
      case 'before':
      case 'after': {
        const day = localDay(value)
        if (day === undefined) q.problems.push(`${key}:${value} — dates are written 2026-12-31`)
        else q[key] = day
        break
      }
    }
  }
  return q
}
