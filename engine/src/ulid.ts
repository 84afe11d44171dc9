/**
 * ULIDs in binary (16 bytes: 48-bit big-endian ms time, 80 random bits) and text (26
 * Crockford base32 characters). Both sort by time; the text form is the key in stores.
 */
import { DecodeError, LimitError } from './errors.ts'

export type Ulid = string & { readonly __ulid: true }

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const INDEX = new Int8Array(128).fill(-1)
for (let i = 0; i < 32; i++) INDEX[ALPHABET.charCodeAt(i)] = i
export const ULID_BYTES = 16
export const ULID_CHARS = 26
export const MAX_TIME = 2 ** 48 - 1

/** The smallest and a larger-than-every ULID, as range bounds. */
export const ULID_MIN = '00000000000000000000000000' as Ulid
export const ULID_MAX = '7ZZZZZZZZZZZZZZZZZZZZZZZZZ' as Ulid

/** Binary form of a ULID; throws RangeError for text that is not a canonical ULID (a programming error). */
export function ulidToBytes(id: Ulid): Uint8Array {
  if (typeof id !== 'string' || id.length !== ULID_CHARS) throw new RangeError('a ULID is 26 characters')
  const out = new Uint8Array(16)
  // 26 chars * 5 bits = 130 bits; the first char carries only 3 significant bits.
  let acc = 0
  let bits = 0
  let o = 0
  for (let i = 0; i < ULID_CHARS; i++) {
    const c = id.charCodeAt(i)
    const v = c < 128 ? INDEX[c]! : -1
    if (v < 0 || (i === 0 && v > 7)) throw new RangeError(`not a canonical ULID: ${JSON.stringify(id)}`)
    acc = ((acc << 5) | v) & 0xffff
    bits += 5
    if (i === 0) bits -= 2 // drop the two high padding bits
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  return out
}

export function ulidFromBytes(b: Uint8Array): Ulid {
  if (b.length !== 16) throw new DecodeError('ULID must be 16 bytes')
  let s = ''
  let acc = 0
  let bits = 2 // two zero padding bits in front of 128 bits
  for (let i = 0; i < 16; i++) {
    acc = ((acc << 8) | b[i]!) & 0x3fff
    bits += 8
    while (bits >= 5) {
      bits -= 5
      s += ALPHABET[(acc >> bits) & 31]
    }
  }
  return s as Ulid
}

/** Validates text from outside; throws DecodeError. */
export function parseUlid(text: string): Ulid {
  if (typeof text !== 'string' || text.length !== ULID_CHARS)
    throw new DecodeError('ULID must be 26 characters')
  for (let i = 0; i < ULID_CHARS; i++) {
    const c = text.charCodeAt(i)
    if (c >= 128 || INDEX[c]! < 0) throw new DecodeError(`invalid ULID character at ${i}`)
  }
  if (INDEX[text.charCodeAt(0)]! > 7) throw new DecodeError('ULID overflows 128 bits')
  return text as Ulid
}

export function ulidTime(id: Ulid): number {
  let t = 0
  for (let i = 0; i < 10; i++) t = t * 32 + INDEX[id.charCodeAt(i)]!
  return t
}

/** The smallest ULID with time `ms` (a range bound for "events at or after ms"). */
export function ulidAtTime(ms: number): Ulid {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_TIME) throw new RangeError('time out of ULID range')
  const b = new Uint8Array(16)
  let t = ms
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256
    t = Math.floor(t / 256)
  }
  return ulidFromBytes(b)
}

/**
 * A monotonic ULID factory: ids strictly increase even if the clock steps back or many
 * ids are made in one millisecond (the random part is then incremented).
 */
export function monotonicUlid(
  now: () => number = Date.now,
  random: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
): () => Ulid {
  let lastTime = -1
  const last = new Uint8Array(16)
  return () => {
    // Whole ms within the ULID range: a fractional or out-of-range clock must not make a new
    // "millisecond" (and a fresh random part) that sorts below the previous id.
    const raw = now()
    const t = Number.isFinite(raw) ? Math.min(Math.max(Math.floor(raw), 0), MAX_TIME) : Math.max(lastTime, 0)
    if (t > lastTime) {
      lastTime = t
      let x = lastTime
      for (let i = 5; i >= 0; i--) {
        last[i] = x % 256
        x = Math.floor(x / 256)
      }
      last.set(random(10), 6)
      // Keep headroom so increments within this millisecond cannot overflow.
      last[6]! &= 0x7f
    } else {
      let i = 15
      while (i >= 6 && last[i] === 0xff) last[i--] = 0
      if (i < 6) throw new LimitError('ULID random part exhausted within one millisecond', 'ulid.random')
      last[i]!++
    }
    return ulidFromBytes(last)
  }
}

/** The next ULID in byte order (id + 1 as a 128-bit number); undefined after the largest. */
export function ulidSuccessor(id: Ulid): Ulid | undefined {
  const b = ulidToBytes(id)
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] !== 0xff) {
      b[i]!++
      return ulidFromBytes(b)
    }
    b[i] = 0
  }
  return undefined
}
