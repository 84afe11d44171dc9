/**
 * A search result's text as the results list shows it: cut around the first match, with the
 * matched words and phrases marked. Pure; the component renders `<mark>` for marked parts
 * (text, never HTML).
 */

export interface SnippetPart {
  text: string
  mark: boolean
}

/** Characters shown of a result's text (default 180); longer texts are cut around the first match. */
export const SNIPPET_CHARS = 180

/** Words as MiniSearch's default tokenizer splits them (spaces and punctuation). */
const WORD = /[^\s\p{P}\p{Z}]+/gu

/**
 * `terms`: index terms that matched (whole words, lower case); `phrases`: quoted phrases (lower case).
 */
export function snippet(
  text: string,
  terms: readonly string[],
  phrases: readonly string[] = [],
  max = SNIPPET_CHARS,
): SnippetPart[] {
  const spans: [number, number][] = []
  const wanted = new Set(terms.map((t) => t.toLowerCase()))
  for (const m of text.matchAll(WORD)) {
    if (wanted.has(m[0].toLowerCase())) spans.push([m.index, m.index + m[0].length])
  }
  const lower = text.toLowerCase()
  for (const p of phrases) {
    if (!p) continue
    for (let at = lower.indexOf(p); at >= 0; at = lower.indexOf(p, at + p.length))
      spans.push([at, at + p.length])
  }
  const marks = merge(spans)
  // The window: from a little before the first match, `max` characters.
  const first = marks[0]?.[0] ?? 0
  const start = text.length <= max || first < max / 3 ? 0 : wordStart(text, first - Math.floor(max / 3))
  const end = Math.min(text.length, start + max)
  const parts: SnippetPart[] = []
  const push = (from: number, to: number, mark: boolean) => {
    if (to > from) parts.push({ text: text.slice(from, to), mark })
  }
  let at = start
  for (const [a, b] of marks) {
    if (b <= start) continue
    if (a >= end) break
    push(at, Math.max(at, a), false)
    push(Math.max(at, a), Math.min(b, end), true)
    at = Math.min(b, end)
  }
  push(at, end, false)
  if (start > 0) parts.unshift({ text: '…', mark: false })
  if (end < text.length) parts.push({ text: '…', mark: false })
  return parts
}

function merge(spans: [number, number][]): [number, number][] {
  spans.sort((x, y) => x[0] - y[0])
  const out: [number, number][] = []
  for (const s of spans) {
    const last = out[out.length - 1]
    if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1])
    else out.push([s[0], s[1]])
  }
  return out
}

/** The start of the word at or after `i` (a cut never splits a word). */
function wordStart(text: string, i: number): number {
  const space = text.indexOf(' ', Math.max(0, i))
  return space < 0 ? Math.max(0, i) : space + 1
}
