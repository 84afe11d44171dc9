/**
 * Chunking of a blob for the wire, and what a receiver checks.
 *
 * A blob is cut into chunks of `CHUNK_BYTES` (the last may be shorter; an empty blob has no
 * chunk). Its **manifest** is the list of the chunks' SHA-256 hashes; `chunkRoot` is the
 * SHA-256 of their concatenation. The attachment stamp carries `digest` (SHA-256 of the whole
 * blob), `size` and `chunkRoot`, all signed; so a receiver can take the manifest from any peer,
 * check it against `chunkRoot`, check each chunk as it arrives, and the whole at the end.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { abytes, concatBytes, equalBytes } from '../bytes.ts'
import { BLOB_DIGEST_BYTES, type BlobDigest } from './store.ts'

/** Bytes of a chunk on the wire (the last chunk of a blob may be shorter). */
export const CHUNK_BYTES = 64 * 1024
/** Chunks of the largest blob the protocol can describe (its manifest fits a 128 KiB frame). */
export const MAX_CHUNKS = 4096
/** Largest blob the protocol can describe: 256 MiB. */
export const MAX_BLOB_BYTES = MAX_CHUNKS * CHUNK_BYTES
/** Default cap on one attachment (configurable per peer, at most `MAX_BLOB_BYTES`): 25 MiB. */
export const DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024

/** What the signed stamp says about a blob: enough to fetch and verify it from anyone. */
export interface BlobMeta {
  digest: BlobDigest
  size: number
  chunkRoot: Uint8Array
}

export interface DescribedBlob extends BlobMeta {
  /** The manifest: SHA-256 of each chunk. */
  hashes: Uint8Array[]
}

export function checkSize(size: number, max = MAX_BLOB_BYTES): number {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new RangeError(`blob size must be a non-negative integer, got ${size}`)
  if (size > max) throw new RangeError(`blob size ${size} exceeds ${max}`)
  return size
}

export const chunkCount = (size: number): number => Math.ceil(checkSize(size) / CHUNK_BYTES)

/** Length of chunk `index` of a blob of `size` bytes. */
export function chunkLength(size: number, index: number): number {
  const n = chunkCount(size)
  if (!Number.isSafeInteger(index) || index < 0 || index >= n)
    throw new RangeError(`chunk index ${index} out of [0, ${n})`)
  return Math.min(CHUNK_BYTES, size - index * CHUNK_BYTES)
}

export const chunkOf = (bytes: Uint8Array, index: number): Uint8Array =>
  bytes.subarray(index * CHUNK_BYTES, index * CHUNK_BYTES + chunkLength(bytes.length, index))

export function chunkHashes(bytes: Uint8Array): Uint8Array[] {
  abytes(bytes, undefined, 'blob')
  return Array.from({ length: chunkCount(bytes.length) }, (_, i) => sha256(chunkOf(bytes, i)))
}

export const chunkRootOf = (hashes: readonly Uint8Array[]): Uint8Array => sha256(concatBytes(...hashes))

/** Digest, size, chunk root and manifest of a blob (what the uploader computes once). */
export function describeBlob(bytes: Uint8Array): DescribedBlob {
  const hashes = chunkHashes(bytes)
  return { digest: sha256(bytes), size: bytes.length, chunkRoot: chunkRootOf(hashes), hashes }
}

/** Checks a meta's shape (programmer errors throw; a peer's meta comes from a decoded body). */
export function checkMeta(meta: BlobMeta): BlobMeta {
  abytes(meta.digest, BLOB_DIGEST_BYTES, 'digest')
  abytes(meta.chunkRoot, BLOB_DIGEST_BYTES, 'chunkRoot')
  checkSize(meta.size)
  return meta
}

/** Whether a manifest received from a peer belongs to `meta` (right count, right root). */
export function manifestMatches(meta: BlobMeta, hashes: readonly Uint8Array[]): boolean {
  return hashes.length === chunkCount(meta.size) && equalBytes(chunkRootOf(hashes), meta.chunkRoot)
}

/** Whether a chunk received from a peer is chunk `index` of the manifest. */
export function chunkMatches(
  meta: BlobMeta,
  hashes: readonly Uint8Array[],
  index: number,
  data: Uint8Array,
): boolean {
  const expected = hashes[index]
  return (
    expected !== undefined &&
    data.length === chunkLength(meta.size, index) &&
    equalBytes(sha256(data), expected)
  )
}

/** Whether assembled bytes are the blob `meta` names (size and whole digest). */
export const blobMatches = (meta: BlobMeta, bytes: Uint8Array): boolean =>
  bytes.length === meta.size && equalBytes(sha256(bytes), meta.digest)
