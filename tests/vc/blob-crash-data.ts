/** The blobs of the blob crash test: deterministic bytes, flags and digest for each index. */
import { hash } from 'node:crypto'
import { seededBytes } from '@peerchat/engine/testing'

export function crashBlob(i: number): {
  digest: Uint8Array
  bytes: Uint8Array
  usedAt: number
  pinned: boolean
} {
  const size = 20_000 + ((i * 7919) % 180_000)
  const bytes = seededBytes(size, (i + 1) * 2654435761)
  return {
    digest: new Uint8Array(hash('sha256', bytes, 'buffer')),
    bytes,
    usedAt: 1000 + i,
    pinned: i % 5 === 0,
  }
}
