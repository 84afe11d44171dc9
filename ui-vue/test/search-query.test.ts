/** The search box's language (lib/search-query.ts). */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_QUERY_CHARS, parseSearchQuery } from '../src/lib/search-query.ts'

describe('search query', () => {
  it('reads words, quoted phrases and every filter', () => {
    expect(
      parseSearchQuery(
        'Budget from:@Ann in:#General has:IMAGE mentions:ben after:2026-11-01 before:2026-12-01 "the Venue"',
      ),
    ).toEqual({
      words: ['budget'],
      phrases: ['the venue'],
      from: 'ann',
      in: 'general',
      has: 'image',
      mentions: 'ben',
      after: new Date(2026, 10, 1).getTime(),
      before: new Date(2026, 11, 1).getTime(),
      problems: [],
    })
  })

  it('keeps unknown or empty filters as words, and says which filters it could not read', () => {
    const q = parseSearchQuery('http://x.org from: has:video before:2026-02-30 after:yesterday')
    expect(q.words).toEqual(['http://x.org', 'from:'])
    expect(q.has).toBeUndefined()
    expect(q.before).toBeUndefined()
    expect(q.problems).toEqual([
      'has:video — try has:image, has:file or has:link',
      'before:2026-02-30 — dates are written 2026-12-31',
      'after:yesterday — dates are written 2026-12-31',
    ])
  })

  it('takes an unclosed quote to the end, and any input without throwing', () => {
    expect(parseSearchQuery('"half open').phrases).toEqual(['half open'])
    fc.assert(
      fc.property(fc.string({ maxLength: 2 * MAX_QUERY_CHARS }), (s) => {
        const q = parseSearchQuery(s)
        expect(q.words.join(' ').length).toBeLessThanOrEqual(MAX_QUERY_CHARS)
      }),
      { numRuns: 1_000 },
    )
  })
})
