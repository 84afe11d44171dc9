/**
 * Shared pieces of the body codecs (chat bodies, `yjs` bodies, the projection kit): every body
 * starts with a version byte, optional fields follow a flags byte whose unknown bits are
 * refused, ids are binary ULIDs. Decoders read through the bounded `Reader` (codec.ts).
 */
import { createWriter, type Reader, type Writer, writeBytes, writeU8 } from './codec.ts'
import { DecodeError } from './errors.ts'
import { type Ulid, ulidFromBytes, ulidToBytes } from './ulid.ts'

export const BODY_VERSION = 1

export const utf8Length = (s: string): number => new TextEncoder().encode(s).length

/** Throws TypeError for a non-string, RangeError past `max` UTF-8 bytes. */
export function checkText(value: string, max: number, what: string): void {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`)
  if (utf8Length(value) > max) throw new RangeError(`${what} exceeds ${max} UTF-8 bytes`)
}

/** A writer with the body version byte already written. */
export function begin(): Writer {
  const w = createWriter()
  writeU8(w, BODY_VERSION)
  return w
}

export function readVersion(r: Reader, what: string): void {
  const v = r.u8(`${what} version`)
  if (v !== BODY_VERSION) throw new DecodeError(`unsupported ${what} version ${v}`)
}

export function readFlags(r: Reader, allowed: number, what: string): number {
  const flags = r.u8(`${what} flags`)
  if (flags & ~allowed) throw new DecodeError(`unknown ${what} flags ${flags}`)
  return flags
}

export const writeId = (w: Writer, id: Ulid): void => writeBytes(w, ulidToBytes(id))
export const readId = (r: Reader, what: string): Ulid => ulidFromBytes(r.bytes(16, what))

export function readNonEmpty(r: Reader, max: number, what: string): string {
  const s = r.varString(max, what)
  if (s.length === 0) throw new DecodeError(`empty ${what}`)
  return s
}
