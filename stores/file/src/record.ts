/**
 * The record framing of the append-only files (docs/protocol/storage.md):
 *
 *   record = length:u32le crc32:u32le type:u8 payload   (length = 1 + payload bytes)
 *
 *   segment files (FileStore):
 *   type 1 = event          payload = encodeEvent(event)
 *   type 2 = tombstone      payload = the 16-byte ULID of a deleted event
 *   the outbox journal (FileOutboxStore, file-outbox-store.ts):
 *   type 3 = outbox put     payload = key, queuedAt, failure, encodeRequest(request)
 *   type 4 = outbox delete  payload = key
 *
 * The CRC-32 (IEEE, zlib's) covers `type payload`, so a torn or rotten record is detected
 * and everything from it onwards is dropped when the file is opened. Each kind of file
 * accepts only its own types (a `RecordFormat`): another type there is corruption too.
 */
import { crc32 } from 'node:zlib'
import { MAX_EVENT_BYTES } from '@peerchat/engine'

export const RecordType = { event: 1, tombstone: 2, outboxPut: 3, outboxDelete: 4 } as const
export type RecordType = (typeof RecordType)[keyof typeof RecordType]

/** Bytes before the type byte: length and CRC. */
export const RECORD_HEADER_BYTES = 8
/** Largest `length` accepted when reading: type byte + the largest event. Longer means corruption. */
export const MAX_RECORD_BODY_BYTES = 1 + MAX_EVENT_BYTES

/** What one kind of file may hold: its record types and the largest `length` (type byte + payload). */
export interface RecordFormat {
  readonly types: readonly RecordType[]
  readonly maxBodyBytes: number
}

/** Segment files: events and tombstones. */
export const SEGMENT_RECORDS: RecordFormat = {
  types: [RecordType.event, RecordType.tombstone],
  maxBodyBytes: MAX_RECORD_BODY_BYTES,
}

export function encodeRecord(type: RecordType, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 1 + payload.length)
  out.writeUInt32LE(1 + payload.length, 0)
  out[RECORD_HEADER_BYTES] = type
  out.set(payload, RECORD_HEADER_BYTES + 1)
  out.writeUInt32LE(crc32(out.subarray(RECORD_HEADER_BYTES)), 4)
  return out
}

export interface ParsedRecord {
  type: RecordType
  /** Offset of the record's first byte in the file. */
  offset: number
  /** Offset and length of the payload. */
  payloadOffset: number
  payloadLength: number
}

/**
 * Parses records of `format` from the start of `buf`. Stops at the first incomplete, oversized, unknown
 * or CRC-failing record; `validBytes` is where it stopped (the length to truncate to).
 * `needMore` says the stop was only the end of `buf` (a header, or a record of acceptable
 * length, cut short): when `buf` is a window of a longer file, read on from `validBytes`.
 */
export function parseRecords(
  buf: Buffer,
  format: RecordFormat = SEGMENT_RECORDS,
): {
  records: ParsedRecord[]
  validBytes: number
  needMore: boolean
} {
  const records: ParsedRecord[] = []
  let at = 0
  let needMore = false
  for (;;) {
    if (at + RECORD_HEADER_BYTES + 1 > buf.length) {
      needMore = at < buf.length
      break
    }
    const length = buf.readUInt32LE(at)
    if (length < 1 || length > format.maxBodyBytes) break
    const end = at + RECORD_HEADER_BYTES + length
    if (end > buf.length) {
      needMore = true
      break
    }
    const body = buf.subarray(at + RECORD_HEADER_BYTES, end)
    if (crc32(body) !== buf.readUInt32LE(at + 4)) break
    const type = body[0] as RecordType
    if (!format.types.includes(type)) break
    records.push({ type, offset: at, payloadOffset: at + RECORD_HEADER_BYTES + 1, payloadLength: length - 1 })
    at = end
  }
  return { records, validBytes: at, needMore }
}
