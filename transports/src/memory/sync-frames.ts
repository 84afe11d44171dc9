/**
 * Frames of the sync driver (docs/protocol/transport.md): live push of stamped events and
 * reconciliation rounds, each round tagged with a session and a sequence number so that
 * lost, duplicated and reordered frames are detected on any transport.
 *
 *   SyncFrame = version:u8(=1) type:u8 body
 *   PUSH    (1) = count:varuint(1..MAX_PUSH_EVENTS) (event:varBytes)*
 *   REQUEST (2) = session:varuint seq:varuint payload:varBytes       (initiator -> responder)
 *   REPLY   (3) = session:varuint seq:varuint hasPayload:u8 [payload:varBytes]
 */
import {
  createWriter,
  DecodeError,
  decodeWith,
  encodeEvent,
  finish,
  Limits,
  MAX_FRAME_BYTES,
  type Reader,
  readEvent,
  type StampedEvent,
  writeU8,
  writeVarBytes,
  writeVarUint,
} from '@peerchat/engine'

export const SYNC_VERSION = 1
export const SyncType = { push: 1, request: 2, reply: 3 } as const

/** Events one PUSH frame may carry (a sender splits larger batches). */
export const MAX_PUSH_EVENTS = 256
/** Largest session or sequence number accepted (2^53 - 1 would also fit; this is plenty). */
export const MAX_SYNC_COUNTER = 2 ** 32 - 1
/** Largest reconciliation payload in one frame: the reconciler's own frame limit. */
export const MAX_SYNC_PAYLOAD = MAX_FRAME_BYTES
/** Bytes a frame adds around its payload (version, type, two varuints, flag, length). */
export const SYNC_ENVELOPE_OVERHEAD = 24
/** Smallest encoded stamped event (empty body, 1-char channel and kind): a count bound. */
const MIN_EVENT_BYTES = 16 + 1 + 2 + 2 + 32 + 16 + 1 + 64 + 64
/** Largest encoded stamped event: the engine's limits plus fixed fields and length prefixes. */
const MAX_EVENT_BYTES = 16 + 1 + 1 + Limits.channel + 1 + Limits.kind + 32 + 16 + 3 + Limits.body + 64 + 64

export type SyncFrame =
  | { type: typeof SyncType.push; events: StampedEvent[] }
  | { type: typeof SyncType.request; session: number; seq: number; payload: Uint8Array }
  | { type: typeof SyncType.reply; session: number; seq: number; payload: Uint8Array | null }

export function encodeSyncFrame(frame: SyncFrame): Uint8Array {
  const w = createWriter()
  writeU8(w, SYNC_VERSION)
  writeU8(w, frame.type)
  if (frame.type === SyncType.push) {
    if (frame.events.length < 1 || frame.events.length > MAX_PUSH_EVENTS)
      throw new RangeError(`a push carries 1..${MAX_PUSH_EVENTS} events, got ${frame.events.length}`)
    writeVarUint(w, frame.events.length)
    for (const e of frame.events) writeVarBytes(w, encodeEvent(e))
  } else {
    writeVarUint(w, frame.session)
    writeVarUint(w, frame.seq)
    if (frame.type === SyncType.reply) writeU8(w, frame.payload ? 1 : 0)
    if (frame.payload) writeVarBytes(w, frame.payload)
  }
  return finish(w)
}

/** PUSH frames carrying `events` in order, each at most `maxFrameBytes` (and `MAX_PUSH_EVENTS`). */
export function encodePushFrames(events: readonly StampedEvent[], maxFrameBytes: number): Uint8Array[] {
  const budget = maxFrameBytes - SYNC_ENVELOPE_OVERHEAD
  const frames: Uint8Array[] = []
  let batch: StampedEvent[] = []
  let size = 0
  const flush = () => {
    if (batch.length > 0) frames.push(encodeSyncFrame({ type: SyncType.push, events: batch }))
    batch = []
    size = 0
  }
  for (const e of events) {
    // Encoded event plus its length prefix (at most 3 bytes under the body limit, 4 to be safe).
    const len = encodeEvent(e).length + 4
    if (len > budget) throw new RangeError(`event ${e.id} does not fit in a ${maxFrameBytes}-byte frame`)
    if (batch.length === MAX_PUSH_EVENTS || (batch.length > 0 && size + len > budget)) flush()
    batch.push(e)
    size += len
  }
  flush()
  return frames
}

function readSyncFrame(r: Reader): SyncFrame {
  const version = r.u8('sync version')
  if (version !== SYNC_VERSION) throw new DecodeError(`unsupported sync version ${version}`)
  const type = r.u8('sync frame type')
  if (type === SyncType.push) {
    const n = r.count(MAX_PUSH_EVENTS, MIN_EVENT_BYTES, 'pushed events')
    if (n === 0) throw new DecodeError('empty push')
    const events: StampedEvent[] = []
    for (let i = 0; i < n; i++) {
      const len = r.varUint(MAX_EVENT_BYTES, 'event length')
      events.push(decodeWith(r.bytes(len, 'event'), readEvent, 'event'))
    }
    return { type, events }
  }
  if (type !== SyncType.request && type !== SyncType.reply)
    throw new DecodeError(`unknown sync frame type ${type}`)
  const session = r.varUint(MAX_SYNC_COUNTER, 'session')
  const seq = r.varUint(MAX_SYNC_COUNTER, 'seq')
  if (type === SyncType.request)
    return { type, session, seq, payload: r.varBytes(MAX_SYNC_PAYLOAD, 'payload') }
  const has = r.u8('payload flag')
  if (has > 1) throw new DecodeError('payload flag must be 0 or 1')
  return { type, session, seq, payload: has ? r.varBytes(MAX_SYNC_PAYLOAD, 'payload') : null }
}

/** Decodes untrusted bytes: a frame or a `DecodeError`, nothing else. */
export const decodeSyncFrame = (bytes: Uint8Array): SyncFrame =>
  decodeWith(bytes, readSyncFrame, 'sync frame')
