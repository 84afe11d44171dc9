/**
 * The canonical binary codec: lib0 encoding with a bounds-checking reader.
 *
 * lib0's decoder trusts lengths and reads past the end silently (returning `undefined`).
 * `Reader` checks every length against both the remaining input and an explicit maximum
 * before it allocates, rejects non-minimal varints (so one value has one encoding), and
 * throws only `DecodeError`.
 */
import * as encoding from 'lib0/encoding'
import { DecodeError } from './errors.ts'

export type Writer = encoding.Encoder
export const createWriter = (): Writer => encoding.createEncoder()
export const finish = (w: Writer): Uint8Array => encoding.toUint8Array(w)
export const writeU8 = (w: Writer, n: number): void => encoding.writeUint8(w, n)
export function writeVarUint(w: Writer, n: number): void {
  // lib0 would silently write garbage for these; the reader refuses them anyway.
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`varuint must be a safe non-negative integer, got ${n}`)
  encoding.writeVarUint(w, n)
}
export const writeBytes = (w: Writer, b: Uint8Array): void => encoding.writeUint8Array(w, b)
export const writeVarBytes = (w: Writer, b: Uint8Array): void => encoding.writeVarUint8Array(w, b)
export const writeVarString = (w: Writer, s: string): void => encoding.writeVarString(w, s)

const textDecoder = new TextDecoder('utf-8', { fatal: true })

export class Reader {
  pos = 0
  constructor(readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos
  }

  private need(n: number, what: string): void {
    if (n > this.remaining)
      throw new DecodeError(`truncated ${what}: need ${n} bytes, have ${this.remaining}`)
  }

  u8(what = 'byte'): number {
    this.need(1, what)
    return this.buf[this.pos++]!
  }

  /** Minimal LEB128 unsigned varint, at most `max` (and never above 2^53 - 1). */
  varUint(max: number, what = 'varuint'): number {
    const limit = Math.min(max, Number.MAX_SAFE_INTEGER)
    let n = 0
    let mult = 1
    for (let i = 0; i < 8; i++) {
      const b = this.u8(what)
      n += (b & 0x7f) * mult
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new DecodeError(`non-minimal ${what}`)
        if (n > limit) throw new DecodeError(`${what} ${n} exceeds limit ${limit}`)
        return n
      }
      mult *= 128
    }
    throw new DecodeError(`${what} too long`)
  }

  /** Exactly `len` bytes (a copy, so the caller may keep it after the input is reused). */
  bytes(len: number, what = 'bytes'): Uint8Array {
    this.need(len, what)
    const out = this.buf.slice(this.pos, this.pos + len)
    this.pos += len
    return out
  }

  /** A length-prefixed byte string of at most `max` bytes. */
  varBytes(max: number, what = 'bytes'): Uint8Array {
    const len = this.varUint(max, `${what} length`)
    return this.bytes(len, what)
  }

  /** A length-prefixed UTF-8 string of at most `maxBytes` bytes; invalid UTF-8 is refused. */
  varString(maxBytes: number, what = 'string'): string {
    const raw = this.varBytes(maxBytes, what)
    try {
      return textDecoder.decode(raw)
    } catch {
      throw new DecodeError(`${what} is not valid UTF-8`)
    }
  }

  /** A bounded count of items that each take at least `minItemBytes`: refuses counts the input cannot hold. */
  count(max: number, minItemBytes: number, what = 'count'): number {
    const n = this.varUint(max, what)
    if (minItemBytes > 0 && n * minItemBytes > this.remaining)
      throw new DecodeError(`${what} ${n} cannot fit in ${this.remaining} remaining bytes`)
    return n
  }

  end(what = 'frame'): void {
    if (this.remaining !== 0) throw new DecodeError(`${this.remaining} trailing bytes after ${what}`)
  }
}

/**
 * Runs a decoder over untrusted bytes; any non-DecodeError thrown inside (a bug) is
 * converted so callers only ever see a value or a DecodeError.
 */
export function decodeWith<T>(bytes: Uint8Array, read: (r: Reader) => T, what = 'frame'): T {
  if (!(bytes instanceof Uint8Array)) throw new DecodeError(`${what} must be bytes`)
  const r = new Reader(bytes)
  try {
    const value = read(r)
    r.end(what)
    return value
  } catch (e) {
    if (e instanceof DecodeError) throw e
    throw new DecodeError(`malformed ${what}: ${(e as Error)?.message ?? String(e)}`)
  }
}

/** Bytes of a varuint (LEB128, as `writeVarUint` writes it) for n < 2^53: for exact-size buffers. */
export function varUintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

/** Writes n as a varuint at `o` of a buffer sized with `varUintSize`; returns the next offset. */
export function putVarUint(out: Uint8Array, o: number, n: number): number {
  while (n >= 0x80) {
    out[o++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  out[o++] = n
  return o
}
