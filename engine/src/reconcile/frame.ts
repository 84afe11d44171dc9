/**
 * Reconciliation frames (docs/protocol/reconcile.md):
 *
 *   Frame  = version:u8(=1) flags:u8 lower:Bound nRanges:varuint Range* nEvents:varuint (event:varBytes)*
 *   Range  = upper:Bound mode:u8 payload
 *   Bound  = len:u8 (0..16: that many leading bytes of a 16-byte ULID, the rest zero; 255: +infinity)
 *
 * Ranges are contiguous: the first starts at `lower`, each ends where the next starts, and
 * the last ends at the sync range's upper bound. Bounds strictly increase.
 */
import {
  createWriter,
  decodeWith,
  finish,
  type Reader,
  varUintSize,
  writeBytes,
  writeU8,
  writeVarBytes,
  writeVarUint,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import { MAX_EVENT_BYTES } from '../event.ts'
import { FINGERPRINT_HASH_BYTES } from '../store/fingerprint.ts'
import type { Fingerprint } from '../store/store.ts'
import { type Ulid, ulidFromBytes, ulidToBytes } from '../ulid.ts'

export const RECONCILE_VERSION = 1

/** Largest frame a reconciler accepts, and the largest `maxFrameBytes` it may be given. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024
/** Ids in one IdList range. */
export const MAX_ID_LIST = 1024
/** Ranges in one frame (bytes bound them first; this caps the work a frame can ask for). */
export const MAX_RANGES = 65_536
/** Events in one frame. */
export const MAX_EVENTS = 65_536

export const Mode = {
  /** Nothing to do in this range (it matches, or it was settled). */
  skip: 0,
  /** count:varuint hash:16 — the sender's fingerprint of the range. */
  fingerprint: 1,
  /** n:varuint id:16 * n — every id the sender holds in the range, ascending. */
  idList: 2,
  /** n:varuint bits:ceil(n/8) — which ids of the receiver's IdList for this exact range the sender wants. */
  need: 3,
} as const
export type Mode = (typeof Mode)[keyof typeof Mode]

/** A range bound: a ULID (a zero-padded prefix on the wire), or null for +infinity. */
export type Bound = Ulid | null

export type WireRange =
  | { upper: Bound; mode: typeof Mode.skip }
  | { upper: Bound; mode: typeof Mode.fingerprint; fingerprint: Fingerprint }
  | { upper: Bound; mode: typeof Mode.idList; ids: Ulid[] }
  | { upper: Bound; mode: typeof Mode.need; listed: number; bits: Uint8Array }

export interface Frame {
  /** The sender has more events queued and needs another turn. */
  more: boolean
  lower: Ulid
  ranges: WireRange[]
  /** Encoded stamped events (decoded by the log, so one bad event does not void the frame). */
  events: Uint8Array[]
}

const FLAG_MORE = 1
const INFINITY = 255

/** Trailing zero bytes dropped: the canonical (shortest) encoding of a bound. */
function boundPrefix(bound: Ulid): Uint8Array {
  const bytes = ulidToBytes(bound)
  let len = 16
  while (len > 0 && bytes[len - 1] === 0) len--
  return bytes.subarray(0, len)
}

export function boundSize(bound: Bound): number {
  return bound === null ? 1 : 1 + boundPrefix(bound).length
}

export function writeBound(w: ReturnType<typeof createWriter>, bound: Bound): void {
  if (bound === null) {
    writeU8(w, INFINITY)
    return
  }
  const prefix = boundPrefix(bound)
  writeU8(w, prefix.length)
  writeBytes(w, prefix)
}

export function readBound(r: Reader): Bound {
  const len = r.u8('bound length')
  if (len === INFINITY) return null
  if (len > 16) throw new DecodeError(`bound length ${len} > 16`)
  const prefix = r.bytes(len, 'bound')
  if (len > 0 && prefix[len - 1] === 0) throw new DecodeError('non-canonical bound (trailing zero)')
  const full = new Uint8Array(16)
  full.set(prefix)
  return ulidFromBytes(full)
}

/**
 * The shortest bound b with prev < b <= next (for next > prev): the common prefix plus the
 * first differing byte of `next`. Keeps split points a few bytes long.
 */
export function boundBetween(prev: Ulid, next: Ulid): Ulid {
  const a = ulidToBytes(prev)
  const b = ulidToBytes(next)
  let i = 0
  while (i < 16 && a[i] === b[i]) i++
  const out = new Uint8Array(16)
  out.set(b.subarray(0, Math.min(i + 1, 16)))
  return ulidFromBytes(out)
}

export function rangeSize(range: WireRange): number {
  const head = boundSize(range.upper) + 1
  switch (range.mode) {
    case Mode.skip:
      return head
    case Mode.fingerprint:
      return head + varUintSize(range.fingerprint.count) + FINGERPRINT_HASH_BYTES
    case Mode.idList:
      return head + varUintSize(range.ids.length) + 16 * range.ids.length
    case Mode.need:
      return head + varUintSize(range.listed) + range.bits.length
  }
}

/** Bytes of a frame without ranges or events (an upper estimate is fine for budgeting). */
export function headerSize(lower: Ulid): number {
  return 2 + boundSize(lower) + 2 * 5
}

export function encodeFrame(frame: Frame): Uint8Array {
  const w = createWriter()
  writeU8(w, RECONCILE_VERSION)
  writeU8(w, frame.more ? FLAG_MORE : 0)
  writeBound(w, frame.lower)
  writeVarUint(w, frame.ranges.length)
  for (const range of frame.ranges) {
    writeBound(w, range.upper)
    writeU8(w, range.mode)
    switch (range.mode) {
      case Mode.skip:
        break
      case Mode.fingerprint:
        writeVarUint(w, range.fingerprint.count)
        writeBytes(w, range.fingerprint.hash)
        break
      case Mode.idList:
        writeVarUint(w, range.ids.length)
        for (const id of range.ids) writeBytes(w, ulidToBytes(id))
        break
      case Mode.need:
        writeVarUint(w, range.listed)
        writeBytes(w, range.bits)
        break
    }
  }
  writeVarUint(w, frame.events.length)
  for (const e of frame.events) writeVarBytes(w, e)
  return finish(w)
}

/** A range starting at `from` (the frame's lower bound, or the previous range's upper). */
function readRange(r: Reader, from: Ulid): WireRange {
  const upper = readBound(r)
  if (upper !== null && upper <= from) throw new DecodeError('range bounds must increase')
  const mode = r.u8('range mode')
  switch (mode) {
    case Mode.skip:
      return { upper, mode }
    case Mode.fingerprint: {
      const count = r.varUint(Number.MAX_SAFE_INTEGER, 'fingerprint count')
      return { upper, mode, fingerprint: { count, hash: r.bytes(FINGERPRINT_HASH_BYTES, 'fingerprint') } }
    }
    case Mode.idList: {
      const n = r.count(MAX_ID_LIST, 16, 'id list length')
      const ids: Ulid[] = []
      for (let i = 0; i < n; i++) {
        const id = ulidFromBytes(r.bytes(16, 'id'))
        const last = ids[i - 1]
        if (last === undefined ? id < from : id <= last)
          throw new DecodeError('id list not ascending inside its range')
        if (upper !== null && id >= upper) throw new DecodeError('id list escapes its range')
        ids.push(id)
      }
      return { upper, mode, ids }
    }
    case Mode.need: {
      const listed = r.varUint(MAX_ID_LIST, 'need length')
      const bits = r.bytes(Math.ceil(listed / 8), 'need bits')
      if (listed % 8 !== 0 && bits[bits.length - 1]! >> (listed % 8) !== 0)
        throw new DecodeError('need bits set past the list')
      return { upper, mode, listed, bits }
    }
    default:
      throw new DecodeError(`unknown range mode ${mode}`)
  }
}

export function readFrame(r: Reader): Frame {
  const version = r.u8('reconcile version')
  if (version !== RECONCILE_VERSION) throw new DecodeError(`unsupported reconcile version ${version}`)
  const flags = r.u8('flags')
  if ((flags & ~FLAG_MORE) !== 0) throw new DecodeError(`unknown flags ${flags}`)
  const lower = readBound(r)
  if (lower === null) throw new DecodeError('lower bound cannot be infinite')
  const nRanges = r.count(MAX_RANGES, 2, 'range count')
  const ranges: WireRange[] = []
  let from: Bound = lower
  for (let i = 0; i < nRanges; i++) {
    if (from === null) throw new DecodeError('a range follows the infinite bound')
    const range = readRange(r, from)
    ranges.push(range)
    from = range.upper
  }
  const nEvents = r.count(MAX_EVENTS, 1, 'event count')
  const events: Uint8Array[] = []
  for (let i = 0; i < nEvents; i++) events.push(r.varBytes(MAX_EVENT_BYTES, 'event'))
  return { more: (flags & FLAG_MORE) !== 0, lower, ranges, events }
}

export const decodeFrame = (bytes: Uint8Array): Frame => decodeWith(bytes, readFrame, 'reconcile frame')
