/** The blobs of the blob crash test: deterministic bytes, flags and digest for each index. */
import { hash } from 'node:crypto'

export function crashBlob(i: number): {
  digest: Uint8Array
  bytes: Uint8Array
  usedAt: number
  pinned: boolean
} {
  const size = 20_000 + ((i * 7919) % 180_000)
  const bytes = new Uint8Array(size)
  let x = (i + 1) * 2654435761
  for (let j = 0; j < size; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    bytes[j] = x >>> 24
  }
  return {
    digest: new Uint8Array(hash('sha256', bytes, 'buffer')),
    bytes,
    usedAt: 1000 + i,
    pinned: i % 5 === 0,
  }
}
