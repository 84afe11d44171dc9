import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BLOB_FRAME_VERSION,
  type BlobFrame,
  CHUNK_BYTES,
  decodeBlobFrame,
  encodeBlobFrame,
  MAX_BLOB_FRAME_BYTES,
  MAX_CHUNKS,
  MAX_GET_CHUNKS,
  MAX_HAVE_DIGESTS,
  NoReason,
} from '../src/blobs/index.ts'
import { DecodeError } from '../src/errors.ts'

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 })
const frame: fc.Arbitrary<BlobFrame> = fc.oneof(
  fc.record({
    type: fc.constant('have' as const),
    digests: fc.array(digest, { minLength: 1, maxLength: MAX_HAVE_DIGESTS }),
  }),
  fc.record({ type: fc.constant('offer' as const), digest }),
  fc.record({
    type: fc.constant('no' as const),
    digest,
    reason: fc.constantFrom(NoReason.busy, NoReason.absent, NoReason.unwanted),
  }),
  fc.record({ type: fc.constant('getManifest' as const), digest }),
  fc.record({ type: fc.constant('manifest' as const), digest, hashes: fc.array(digest, { maxLength: 40 }) }),
  fc.record({
    type: fc.constant('get' as const),
    digest,
    first: fc.nat({ max: MAX_CHUNKS - 1 }),
    count: fc.integer({ min: 1, max: MAX_GET_CHUNKS }),
  }),
  fc.record({
    type: fc.constant('chunk' as const),
    digest,
    index: fc.nat({ max: MAX_CHUNKS - 1 }),
    data: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  }),
)

describe('blob frames', () => {
  it('round-trip every frame', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const bytes = encodeBlobFrame(f)
        expect(bytes[0]).toBe(BLOB_FRAME_VERSION)
        expect(decodeBlobFrame(bytes)).toEqual(f)
      }),
      { numRuns: 500 },
    )
  })

  it('mutated bytes decode to a valid frame or throw DecodeError, nothing else', () => {
    fc.assert(
      fc.property(
        frame,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (f, edits, cut) => {
          const bytes = encodeBlobFrame(f)
          for (const [pos, value] of edits) bytes[pos % bytes.length] = value
          const inputs = [bytes, bytes.subarray(0, cut % (bytes.length + 1))]
          for (const input of inputs) {
            try {
              const decoded = decodeBlobFrame(input)
              // Whatever decodes is canonical: it encodes back to the same bytes.
              expect(encodeBlobFrame(decoded)).toEqual(input)
            } catch (e) {
              expect(e).toBeInstanceOf(DecodeError)
            }
          }
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('refuses over-limit counts before allocating, other versions, types, reasons and trailing bytes', () => {
    const d = new Uint8Array(32)
    const ok = encodeBlobFrame({ type: 'offer', digest: d })
    expect(() => decodeBlobFrame(Uint8Array.of(1, ...ok.subarray(1)))).toThrow(/version/)
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 9, ...d))).toThrow(/type/)
    expect(() => decodeBlobFrame(Uint8Array.of(...ok, 0))).toThrow(/trailing/)
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 3, ...d, 4))).toThrow(/reason/)
    // HAVE of 65 digests, or of 0, or a count the bytes cannot hold
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 1, 65))).toThrow(DecodeError)
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 1, 0))).toThrow(/empty/)
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 1, 3, ...d))).toThrow(/cannot fit/)
    // a manifest claiming MAX_CHUNKS + 1 hashes, and one claiming many with few bytes
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 5, ...d, 0x81, 0x20))).toThrow(/exceeds/)
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 5, ...d, 0x80, 0x20))).toThrow(
      /cannot fit/,
    )
    // GET of 0 or 17 chunks; a chunk past MAX_CHUNKS; an empty chunk; a chunk over CHUNK_BYTES
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 6, ...d, 0, 0))).toThrow(/zero/)
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 6, ...d, 0, 17))).toThrow(/exceeds/)
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 7, ...d, 0x80, 0x20, 1, 1))).toThrow(
      /exceeds/,
    )
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 7, ...d, 0, 0))).toThrow(/empty/)
    expect(() => decodeBlobFrame(Uint8Array.of(BLOB_FRAME_VERSION, 7, ...d, 0, 0x81, 0x80, 0x04))).toThrow(
      /exceeds/,
    )
  })

  it('encoders refuse what decoders would refuse', () => {
    const d = new Uint8Array(32)
    expect(() => encodeBlobFrame({ type: 'have', digests: [] })).toThrow(RangeError)
    expect(() => encodeBlobFrame({ type: 'offer', digest: new Uint8Array(31) })).toThrow(RangeError)
    expect(() => encodeBlobFrame({ type: 'get', digest: d, first: 0, count: MAX_GET_CHUNKS + 1 })).toThrow(
      RangeError,
    )
    expect(() => encodeBlobFrame({ type: 'chunk', digest: d, index: 0, data: new Uint8Array(0) })).toThrow(
      RangeError,
    )
    expect(() =>
      encodeBlobFrame({ type: 'chunk', digest: d, index: 0, data: new Uint8Array(CHUNK_BYTES + 1) }),
    ).toThrow(RangeError)
    expect(() => encodeBlobFrame({ type: 'no', digest: d, reason: 7 as NoReason })).toThrow(RangeError)
  })

  it('the largest frames fit their bound', () => {
    const d = new Uint8Array(32)
    const manifest = encodeBlobFrame({
      type: 'manifest',
      digest: d,
      hashes: Array.from({ length: MAX_CHUNKS }, () => d),
    })
    expect(manifest.length).toBeLessThanOrEqual(MAX_BLOB_FRAME_BYTES)
    const chunk = encodeBlobFrame({
      type: 'chunk',
      digest: d,
      index: MAX_CHUNKS - 1,
      data: new Uint8Array(CHUNK_BYTES),
    })
    expect(chunk.length).toBeLessThanOrEqual(CHUNK_BYTES + 64)
    expect(decodeBlobFrame(manifest)).toMatchObject({ type: 'manifest' })
  })
})
