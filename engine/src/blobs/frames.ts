/**
 * Blob frames: have/want by digest, manifests and chunks (docs/protocol/blobs.md).
 *
 * ```
 * BlobFrame = version:u8 (= 0xB1) type:u8 body
 *   1 HAVE          count:varuint(1..64) digest:32 * count
 *   2 OFFER         digest:32
 *   3 NO            digest:32 reason:u8 (1 busy | 2 absent | 3 unwanted)
 *   4 GET_MANIFEST  digest:32
 *   5 MANIFEST      digest:32 count:varuint(<= MAX_CHUNKS) hash:32 * count
 *   6 GET           digest:32 first:varuint(< MAX_CHUNKS) count:varuint(1..MAX_GET_CHUNKS)
 *   7 CHUNK         digest:32 index:varuint(< MAX_CHUNKS) data:bytes(1..CHUNK_BYTES)
 * ```
 *
 * Decoders check every length and bound before allocating, refuse unknown versions, types
 * and reasons, non-minimal varuints and trailing bytes, and throw only `DecodeError`.
 */
import { abytes } from '../bytes.ts'
import {
  createWriter,
  decodeWith,
  finish,
  putVarUint,
  type Reader,
  varUintSize,
  writeBytes,
  writeU8,
  writeVarUint,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import { CHUNK_BYTES, MAX_CHUNKS } from './manifest.ts'
import { BLOB_DIGEST_BYTES, type BlobDigest } from './store.ts'

/** First byte of every blob frame: 0xB1, "blob protocol, version 1" (peer frames start with 0x01, so a shared lane never confuses them). */
export const BLOB_FRAME_VERSION = 0xb1
/** Digests in one HAVE frame. */
export const MAX_HAVE_DIGESTS = 64
/** Chunks one GET may ask for. */
export const MAX_GET_CHUNKS = 16
/** Largest blob frame (a full manifest): 2 + 32 + 3 + 32 * MAX_CHUNKS bytes. */
export const MAX_BLOB_FRAME_BYTES = 2 + BLOB_DIGEST_BYTES + 3 + BLOB_DIGEST_BYTES * MAX_CHUNKS

export const BlobFrameType = {
  have: 1,
  offer: 2,
  no: 3,
  getManifest: 4,
  manifest: 5,
  get: 6,
  chunk: 7,
} as const

export const NoReason = { busy: 1, absent: 2, unwanted: 3 } as const
export type NoReason = (typeof NoReason)[keyof typeof NoReason]

export type BlobFrame =
  | { type: 'have'; digests: BlobDigest[] }
  | { type: 'offer'; digest: BlobDigest }
  | { type: 'no'; digest: BlobDigest; reason: NoReason }
  | { type: 'getManifest'; digest: BlobDigest }
  | { type: 'manifest'; digest: BlobDigest; hashes: Uint8Array[] }
  | { type: 'get'; digest: BlobDigest; first: number; count: number }
  | { type: 'chunk'; digest: BlobDigest; index: number; data: Uint8Array }

function checkCount(n: number, min: number, max: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new RangeError(`${what} must be in [${min}, ${max}], got ${n}`)
}

export function encodeBlobFrame(f: BlobFrame): Uint8Array {
  if (f.type === 'chunk') return encodeChunk(f.digest, f.index, f.data)
  const w = createWriter()
  writeU8(w, BLOB_FRAME_VERSION)
  writeU8(w, BlobFrameType[f.type])
  if (f.type === 'have') {
    checkCount(f.digests.length, 1, MAX_HAVE_DIGESTS, 'HAVE digests')
    writeVarUint(w, f.digests.length)
    for (const d of f.digests) writeBytes(w, abytes(d, BLOB_DIGEST_BYTES, 'digest'))
    return finish(w)
  }
  writeBytes(w, abytes(f.digest, BLOB_DIGEST_BYTES, 'digest'))
  switch (f.type) {
    case 'no':
      if (!Object.values(NoReason).includes(f.reason)) throw new RangeError(`unknown NO reason ${f.reason}`)
      writeU8(w, f.reason)
      break
    case 'manifest':
      checkCount(f.hashes.length, 0, MAX_CHUNKS, 'manifest hashes')
      writeVarUint(w, f.hashes.length)
      for (const h of f.hashes) writeBytes(w, abytes(h, BLOB_DIGEST_BYTES, 'chunk hash'))
      break
    case 'get':
      checkCount(f.first, 0, MAX_CHUNKS - 1, 'GET first')
      checkCount(f.count, 1, MAX_GET_CHUNKS, 'GET count')
      writeVarUint(w, f.first)
      writeVarUint(w, f.count)
      break
  }
  return finish(w)
}

/**
 * A CHUNK frame written once into an exact-size buffer (the hot path of every transfer: the
 * general writer would copy 64 KiB of data twice). Same bytes as the writer would produce.
 */
function encodeChunk(digest: BlobDigest, index: number, data: Uint8Array): Uint8Array {
  abytes(digest, BLOB_DIGEST_BYTES, 'digest')
  checkCount(index, 0, MAX_CHUNKS - 1, 'chunk index')
  checkCount(abytes(data, undefined, 'chunk data').length, 1, CHUNK_BYTES, 'chunk length')
  const out = new Uint8Array(
    2 + BLOB_DIGEST_BYTES + varUintSize(index) + varUintSize(data.length) + data.length,
  )
  out[0] = BLOB_FRAME_VERSION
  out[1] = BlobFrameType.chunk
  out.set(digest, 2)
  let o = putVarUint(out, 2 + BLOB_DIGEST_BYTES, index)
  o = putVarUint(out, o, data.length)
  out.set(data, o)
  return out
}

function readBlobFrame(r: Reader): BlobFrame {
  const version = r.u8('version')
  if (version !== BLOB_FRAME_VERSION) throw new DecodeError(`unsupported blob frame version ${version}`)
  const type = r.u8('type')
  if (type === BlobFrameType.have) {
    const n = r.count(MAX_HAVE_DIGESTS, BLOB_DIGEST_BYTES, 'HAVE count')
    if (n === 0) throw new DecodeError('empty HAVE')
    return { type: 'have', digests: Array.from({ length: n }, () => r.bytes(BLOB_DIGEST_BYTES, 'digest')) }
  }
  const digest = r.bytes(BLOB_DIGEST_BYTES, 'digest')
  switch (type) {
    case BlobFrameType.offer:
      return { type: 'offer', digest }
    case BlobFrameType.no: {
      const reason = r.u8('reason')
      if (reason < NoReason.busy || reason > NoReason.unwanted)
        throw new DecodeError(`unknown NO reason ${reason}`)
      return { type: 'no', digest, reason: reason as NoReason }
    }
    case BlobFrameType.getManifest:
      return { type: 'getManifest', digest }
    case BlobFrameType.manifest: {
      const n = r.count(MAX_CHUNKS, BLOB_DIGEST_BYTES, 'manifest count')
      return {
        type: 'manifest',
        digest,
        hashes: Array.from({ length: n }, () => r.bytes(BLOB_DIGEST_BYTES, 'chunk hash')),
      }
    }
    case BlobFrameType.get: {
      const first = r.varUint(MAX_CHUNKS - 1, 'GET first')
      const count = r.varUint(MAX_GET_CHUNKS, 'GET count')
      if (count === 0) throw new DecodeError('GET of zero chunks')
      return { type: 'get', digest, first, count }
    }
    case BlobFrameType.chunk: {
      const index = r.varUint(MAX_CHUNKS - 1, 'chunk index')
      const data = r.varBytes(CHUNK_BYTES, 'chunk data')
      if (data.length === 0) throw new DecodeError('empty chunk')
      return { type: 'chunk', digest, index, data }
    }
    default:
      throw new DecodeError(`unknown blob frame type ${type}`)
  }
}

export const decodeBlobFrame = (bytes: Uint8Array): BlobFrame =>
  decodeWith(bytes, readBlobFrame, 'blob frame')
