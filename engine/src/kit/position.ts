/**
 * Fractional positions: string keys that sort (plain string order, every character ASCII)
 * and between any two of which another can be made, so an item is placed or moved by writing
 * one key and nothing else is renumbered. Pure, no IO.
 *
 * A key is an integer part and a fraction (docs/protocol/kit.md), in base-62 digits
 * `0-9A-Za-z`:
 *
 * - the integer part is a head letter giving its length, then that many digits: `a0`..`az`,
 *   `b00`..`bzz`, ... up to `z` + 26 digits above; `Zz`..`Z0`, `Yzz`..`Y00`, ... down to `A` +
 *   26 digits below. Appending (or prepending) increments (decrements) it, so n appends cost
 *   O(log n) characters: 10,000 appends stay under 4 characters plus the tie-break.
 * - the fraction is digits not ending in `0`. Between two neighbours, `between` takes one of
 *   the shortest keys that fit, close to the longer neighbour (the likely newest insert: it
 *   went deeper), or at the middle digit when both are as long. So runs of inserts at one spot
 *   in one direction (always after the previous insert, or always right after one anchor) use
 *   up a level's digits before going deeper: 1,000 such inserts stay under 100 characters
 *   (about 35-75). The price is a zigzag (alternately right after and right before the newest
 *   insert), which grows a key by about one character per 3 inserts (midpoint splitting
 *   would give one per 5 for every pattern, runs included).
 *
 * `between` appends a random tie-break of `tieBreak` digits (default 6, the last never `0`)
 * to the key it computes: two replicas inserting at the same spot at the same time get two
 * distinct keys (equal only with probability 62^-6 per pair), and a later insert between them
 * is still possible. Keys longer than `MAX_POSITION_LENGTH` are refused (`LimitError`).
 */
import { LimitError } from '../errors.ts'

export const POSITION_DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const BASE = 62
/** Characters of a position; longer keys are refused by `between` and by decoders. */
export const MAX_POSITION_LENGTH = 1024
/** Random digits appended by `between` unless told otherwise. */
export const DEFAULT_TIE_BREAK = 6
/** The smallest integer part, refused as a whole key so that a key below any valid key exists. */
const MIN_INTEGER = `A${'0'.repeat(26)}`

const VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < BASE; i++) VALUE[POSITION_DIGITS.charCodeAt(i)] = i
const value = (s: string, i: number): number => VALUE[s.charCodeAt(i)]!

/** Digits after a head letter, or 0 for a character that is not a head. */
function integerLength(head: number): number {
  if (head >= 97 && head <= 122) return head - 96 // 'a' -> 1 ... 'z' -> 26
  if (head >= 65 && head <= 90) return 91 - head // 'Z' -> 1 ... 'A' -> 26
  return 0
}

export function isValidPosition(key: string): boolean {
  if (typeof key !== 'string' || key.length < 2 || key.length > MAX_POSITION_LENGTH) return false
  const n = integerLength(key.charCodeAt(0))
  if (n === 0 || key.length < n + 1) return false
  for (let i = 1; i < key.length; i++) {
    const c = key.charCodeAt(i)
    if (c >= 128 || VALUE[c]! < 0) return false
  }
  if (key.length > n + 1 && key.charCodeAt(key.length - 1) === 48) return false // fraction ends in '0'
  return key !== MIN_INTEGER
}

/** Plain string order: the order of positions (every character is ASCII). */
export const comparePositions = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

function split(key: string): [integer: string, fraction: string] {
  const n = integerLength(key.charCodeAt(0)) + 1
  return [key.slice(0, n), key.slice(n)]
}

/** The next integer part, or undefined above the largest. */
function increment(int: string): string | undefined {
  const head = int[0]!
  const d = [...int.slice(1)].map((c) => VALUE[c.charCodeAt(0)]!)
  let i = d.length - 1
  while (i >= 0 && d[i] === BASE - 1) d[i--] = 0
  if (i >= 0) {
    d[i]!++
    return head + d.map((v) => POSITION_DIGITS[v]).join('')
  }
  if (head === 'Z') return 'a0'
  if (head === 'z') return undefined
  const next = String.fromCharCode(head.charCodeAt(0) + 1)
  // Lowercase heads grow by one digit, uppercase ones shrink by one ('Yzz' + 1 = 'Z0').
  return next + '0'.repeat(head >= 'a' ? d.length + 1 : d.length - 1)
}

/** The previous integer part, or undefined below the smallest. */
function decrement(int: string): string | undefined {
  const head = int[0]!
  const d = [...int.slice(1)].map((c) => VALUE[c.charCodeAt(0)]!)
  let i = d.length - 1
  while (i >= 0 && d[i] === 0) d[i--] = BASE - 1
  if (i >= 0) {
    d[i]!--
    return head + d.map((v) => POSITION_DIGITS[v]).join('')
  }
  if (head === 'a') return 'Zz'
  if (head === 'A') return undefined
  const prev = String.fromCharCode(head.charCodeAt(0) - 1)
  return prev + 'z'.repeat(head >= 'a' ? d.length - 1 : d.length + 1)
}

/** Which neighbour a new key stays close to: the deeper (longer) one is most likely the newest. */
type Bias = 'low' | 'high' | 'mid'

/**
 * How far from the neighbour it stays next to a new digit goes, in a gap of `width` digits:
 * two (one free digit left between them) when there is room. Right next to it (one) would
 * make runs in one direction longest-lived, but an insert into the gap just made (a zigzag:
 * after the newest, then before it) would then always go one digit deeper.
 */
const hug = (width: number): number => Math.max(1, Math.min(2, width >> 1))

/** Digit `i` of a fraction, 0 past its end (a fraction is padded with zeros). */
const digit = (s: string, i: number): number => (i < s.length ? value(s, i) : 0)
const padded = (s: string, n: number): string =>
  s.length >= n ? s.slice(0, n) : s + '0'.repeat(n - s.length)

/**
 * A fraction m with lo < m < hi (hi undefined: no upper bound), not ending in '0' and not a
 * prefix of hi, so anything appended to m still sorts below hi. lo and hi are fractions
 * (digits, no trailing '0'), lo < hi. m is one of the shortest such fractions: with bias
 * `low` the one closest to lo, `high` closest to hi, `mid` the middle digit.
 */
function fractionBetween(lo: string, hi: string | undefined, bias: Bias): string {
  let i = 0
  if (hi !== undefined) {
    while (i < hi.length && digit(lo, i) === value(hi, i)) i++
    if (i === hi.length) throw new RangeError('fractionBetween needs lo < hi')
  }
  const dl = digit(lo, i)
  const dh = hi === undefined ? BASE : value(hi, i)
  if (dh - dl >= 2) {
    const step = hug(dh - dl)
    const d = bias === 'low' ? dl + step : bias === 'high' ? dh - step : (dl + dh) >> 1
    return padded(lo, i) + POSITION_DIGITS[d]
  }
  // Adjacent digits: nothing fits at depth i + 1. Go above lo's digits, or below hi's.
  const above = aboveFrom(lo, i + 1, bias)
  const below = hi === undefined ? undefined : belowFrom(hi, i + 1, bias)
  if (below === undefined || above.length < below.length) return above
  if (below.length < above.length || bias === 'high') return below
  return above
}

/** The shortest fraction above lo sharing lo's first `from` digits (no upper bound there). */
function aboveFrom(lo: string, from: number, bias: Bias): string {
  let j = from
  while (digit(lo, j) === BASE - 1) j++
  const dl = digit(lo, j)
  const step = hug(BASE - dl)
  const d = bias === 'low' ? dl + step : bias === 'high' ? BASE - step : (dl + BASE) >> 1
  return padded(lo, j) + POSITION_DIGITS[d]
}

/** The shortest fraction below hi sharing hi's first `from` digits (and a non-zero last digit), if any. */
function belowFrom(hi: string, from: number, bias: Bias): string | undefined {
  for (let j = from; j < hi.length; j++) {
    const dh = value(hi, j)
    if (dh < 2) continue
    const step = hug(dh)
    const d = bias === 'low' ? step : bias === 'high' ? dh - step : dh >> 1
    return hi.slice(0, j) + POSITION_DIGITS[d]
  }
  return undefined
}

/**
 * The key `between` extends with its tie-break: strictly between a and b, a prefix of
 * neither, as short as possible. Between two keys it stays next to the longer one (`bias`):
 * repeated inserts at one spot are made next to the previous insert, which is the longer key,
 * so they use up the digits of one level before going one deeper.
 */
function baseBetween(a: string | undefined, b: string | undefined): string {
  if (a === undefined && b === undefined) return 'a0'
  if (a === undefined) {
    const [ib, fb] = split(b!)
    return decrement(ib) ?? ib + fractionBetween('', fb, 'high') // at the smallest integer b has a fraction
  }
  const [ia, fa] = split(a)
  if (b === undefined) return increment(ia) ?? ia + fractionBetween(fa, undefined, 'low')
  const [ib, fb] = split(b)
  const bias: Bias = a.length > b.length ? 'low' : b.length > a.length ? 'high' : 'mid'
  if (ia === ib) return ia + fractionBetween(fa, fb, bias)
  const next = increment(ia)! // ia < ib, so a next integer exists
  if (next !== ib) return bias === 'high' ? decrement(ib)! : next
  const low = ia + fractionBetween(fa, undefined, bias)
  if (fb === '') return low
  const high = ib + fractionBetween('', fb, bias)
  if (high.length < low.length || (high.length === low.length && bias === 'high')) return high
  return low
}

export interface BetweenOptions {
  /** Uniform [0, 1) for the tie-break (default crypto). */
  random?: () => number
  /** Random digits appended (default `DEFAULT_TIE_BREAK`; 0 for none: then equal inputs give equal keys). */
  tieBreak?: number
}

const cryptoRandom = (): number => {
  const b = new Uint32Array(1)
  globalThis.crypto.getRandomValues(b)
  return b[0]! / 2 ** 32
}

/**
 * A position strictly between `a` and `b` (either may be undefined: the start or the end of
 * the list), ending with a random tie-break. Throws RangeError for an invalid key or a >= b,
 * LimitError when the key would exceed `MAX_POSITION_LENGTH`.
 */
export function between(a: string | undefined, b: string | undefined, options: BetweenOptions = {}): string {
  if (a !== undefined && !isValidPosition(a)) throw new RangeError(`invalid position ${JSON.stringify(a)}`)
  if (b !== undefined && !isValidPosition(b)) throw new RangeError(`invalid position ${JSON.stringify(b)}`)
  if (a !== undefined && b !== undefined && a >= b)
    throw new RangeError(`between(a, b) needs a < b, got ${JSON.stringify(a)} >= ${JSON.stringify(b)}`)
  const n = options.tieBreak ?? DEFAULT_TIE_BREAK
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('tieBreak must be a non-negative integer')
  const random = options.random ?? cryptoRandom
  let key = baseBetween(a, b)
  for (let i = 0; i < n; i++) {
    // The last digit is never '0', so the key stays a valid position.
    const d = i === n - 1 ? 1 + Math.floor(random() * (BASE - 1)) : Math.floor(random() * BASE)
    key += POSITION_DIGITS[Math.min(Math.max(d, 0), BASE - 1)]
  }
  if (key === MIN_INTEGER) key += POSITION_DIGITS[BASE >> 1]
  if (key.length > MAX_POSITION_LENGTH)
    throw new LimitError(
      `a position of ${key.length} characters exceeds ${MAX_POSITION_LENGTH}`,
      'MAX_POSITION_LENGTH',
    )
  return key
}
