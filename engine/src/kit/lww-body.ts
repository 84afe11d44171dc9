/**
 * The body of a last-writer-wins event (docs/protocol/kit.md): one or more keys of one named
 * map, set to a value or removed, under one author clock. Values are opaque bytes here; the
 * map's value codec gives them a type.
 *
 *   lww   = version:u8(=1) name:str time:varuint counter:varuint count:varuint entry{count}
 *   entry = key:str flags:u8 [value:bytes]        flags bit 0: set (1) or removed (0)
 *
 * Every length is bounded (`KitLimits`), keys are unique within a body, and only
 * `DecodeError` escapes the decoder.
 */
import { begin, checkText, readFlags, readVersion } from '../body-codec.ts'
import {
  decodeWith,
  finish,
  type Reader,
  writeU8,
  writeVarBytes,
  writeVarString,
  writeVarUint,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import { Limits } from '../event.ts'
import { MAX_TIME } from '../ulid.ts'

/** The default event kind of the kit's last-writer-wins maps (and so of ordered lists). */
export const LWW_KIND = 'kit.lww'

export const KitLimits = {
  /** UTF-8 bytes of a map name. */
  name: 64,
  /** UTF-8 bytes of a key. */
  key: 256,
  /** Keys written by one event. */
  entries: 256,
  /** Bytes of one value (the whole body must also fit one event, `Limits.body`). */
  value: Limits.body,
  /** Author time: milliseconds, within the ULID time range like relay time. */
  time: MAX_TIME,
  /** The author clock's counter (writers saturate here rather than fail). */
  counter: 2 ** 32 - 1,
} as const

export interface LwwEntryBody {
  key: string
  /** The encoded value; absent for a removal (a tombstone). */
  value?: Uint8Array
}

export interface LwwBody {
  /** The map's name: several maps share a channel and a kind. */
  name: string
  /** Author clock (docs/protocol/kit.md): milliseconds and a counter for ties. */
  time: number
  counter: number
  entries: LwwEntryBody[]
}

/** Map names: the grammar of document names, so they are printable and unambiguous. */
const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/
export const isValidMapName = (name: string): boolean =>
  typeof name === 'string' && name.length <= KitLimits.name && NAME_RE.test(name)

function checkInt(n: number, max: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > max)
    throw new RangeError(`${what} must be an integer in [0, ${max}]`)
}

/** Encodes a body; throws RangeError/TypeError for what the decoder would refuse. */
export function encodeLww(b: LwwBody): Uint8Array {
  if (!isValidMapName(b.name)) throw new RangeError(`invalid map name ${JSON.stringify(b.name)}`)
  checkInt(b.time, KitLimits.time, 'time')
  checkInt(b.counter, KitLimits.counter, 'counter')
  const n = b.entries.length
  if (n === 0 || n > KitLimits.entries)
    throw new RangeError(`a body carries 1 to ${KitLimits.entries} entries`)
  const keys = new Set<string>()
  const w = begin()
  writeVarString(w, b.name)
  writeVarUint(w, b.time)
  writeVarUint(w, b.counter)
  writeVarUint(w, n)
  for (const e of b.entries) {
    checkText(e.key, KitLimits.key, 'key')
    if (e.key.length === 0) throw new RangeError('empty key')
    if (keys.has(e.key)) throw new RangeError(`key ${JSON.stringify(e.key)} twice in one body`)
    keys.add(e.key)
    writeVarString(w, e.key)
    if (e.value === undefined) {
      writeU8(w, 0)
      continue
    }
    if (!(e.value instanceof Uint8Array)) throw new TypeError('value must be a Uint8Array')
    if (e.value.length > KitLimits.value) throw new RangeError(`value exceeds ${KitLimits.value} bytes`)
    writeU8(w, 1)
    writeVarBytes(w, e.value)
  }
  const body = finish(w)
  if (body.length > Limits.body)
    throw new RangeError(`lww body of ${body.length} bytes exceeds ${Limits.body}`)
  return body
}

function readLww(r: Reader): LwwBody {
  readVersion(r, 'lww')
  const name = r.varString(KitLimits.name, 'map name')
  if (!isValidMapName(name)) throw new DecodeError('invalid map name')
  const time = r.varUint(KitLimits.time, 'time')
  const counter = r.varUint(KitLimits.counter, 'counter')
  // An entry takes at least 3 bytes: key length, one key byte, flags.
  const n = r.count(KitLimits.entries, 3, 'entries')
  if (n === 0) throw new DecodeError('lww body without entries')
  const entries: LwwEntryBody[] = []
  const keys = new Set<string>()
  for (let i = 0; i < n; i++) {
    const key = r.varString(KitLimits.key, 'key')
    if (key.length === 0) throw new DecodeError('empty key')
    if (keys.has(key)) throw new DecodeError('duplicate key')
    keys.add(key)
    const flags = readFlags(r, 1, 'entry')
    entries.push(flags & 1 ? { key, value: r.varBytes(KitLimits.value, 'value') } : { key })
  }
  return { name, time, counter, entries }
}

export const decodeLww = (bytes: Uint8Array): LwwBody => decodeWith(bytes, readLww, 'lww body')
