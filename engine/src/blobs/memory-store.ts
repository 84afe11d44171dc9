/** The in-memory BlobStore: a Map keyed by hex digest. */
import { abytes, toHex } from '../bytes.ts'
import {
  BLOB_DIGEST_BYTES,
  type BlobDigest,
  type BlobInfo,
  type BlobStore,
  type BlobUsage,
  type PutBlobOptions,
  usageOf,
} from './store.ts'

interface Entry {
  info: BlobInfo
  bytes: Uint8Array
}

export function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new RangeError(`offset must be a non-negative integer, got ${offset}`)
  if (!Number.isSafeInteger(length) || length < 0)
    throw new RangeError(`length must be a non-negative integer, got ${length}`)
}

export class MemoryBlobStore implements BlobStore {
  private readonly blobs = new Map<string, Entry>()
  private closed = false

  private key(digest: BlobDigest): string {
    if (this.closed) throw new Error('blob store is closed')
    return toHex(abytes(digest, BLOB_DIGEST_BYTES, 'digest'))
  }

  async has(digest: BlobDigest): Promise<boolean> {
    return this.blobs.has(this.key(digest))
  }

  async get(digest: BlobDigest): Promise<Uint8Array | undefined> {
    return this.blobs.get(this.key(digest))?.bytes.slice()
  }

  async read(digest: BlobDigest, offset: number, length: number): Promise<Uint8Array | undefined> {
    const key = this.key(digest)
    checkRange(offset, length)
    return this.blobs.get(key)?.bytes.slice(offset, offset + length)
  }

  async put(digest: BlobDigest, bytes: Uint8Array, opts: PutBlobOptions = {}): Promise<boolean> {
    const key = this.key(digest)
    abytes(bytes, undefined, 'blob')
    const usedAt = opts.usedAt ?? 0
    const entry = this.blobs.get(key)
    if (entry) {
      entry.info.usedAt = Math.max(entry.info.usedAt, usedAt)
      if (opts.pinned) entry.info.pinned = true
      return false
    }
    const info: BlobInfo = {
      digest: digest.slice(),
      size: bytes.length,
      pinned: opts.pinned === true,
      usedAt,
    }
    this.blobs.set(key, { info, bytes: bytes.slice() })
    return true
  }

  async delete(digest: BlobDigest): Promise<boolean> {
    return this.blobs.delete(this.key(digest))
  }

  async pin(digest: BlobDigest, pinned: boolean): Promise<boolean> {
    const entry = this.blobs.get(this.key(digest))
    if (entry) entry.info.pinned = pinned
    return entry !== undefined
  }

  async touch(digest: BlobDigest, usedAt: number): Promise<boolean> {
    const entry = this.blobs.get(this.key(digest))
    if (entry) entry.info.usedAt = Math.max(entry.info.usedAt, usedAt)
    return entry !== undefined
  }

  async list(): Promise<BlobInfo[]> {
    if (this.closed) throw new Error('blob store is closed')
    return [...this.blobs.keys()]
      .sort()
      .map((k) => ({ ...this.blobs.get(k)!.info, digest: this.blobs.get(k)!.info.digest.slice() }))
  }

  async usage(): Promise<BlobUsage> {
    if (this.closed) throw new Error('blob store is closed')
    return usageOf(Array.from(this.blobs.values(), (b) => b.info))
  }

  async close(): Promise<void> {
    this.closed = true
    this.blobs.clear()
  }
}
