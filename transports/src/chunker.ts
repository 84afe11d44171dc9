/**
 * Frames larger than one message of a link travel as chunks (at most `CHUNK_BYTES` on a
 * data channel, smaller through the relay).
 * Each chunk is `flags:u8 payload`: bit 0 set on the last chunk of a frame. The channel is
 * reliable and ordered, so reassembly is a concatenation — bounded by `maxFrameBytes`.
 */
import { LimitError } from '@peerchat/engine'

/** Data-channel messages stay at or under 16 KiB, the size every WebRTC stack delivers whole. */
export const CHUNK_BYTES = 16 * 1024
const LAST = 1

export function* chunkFrame(frame: Uint8Array, chunkBytes = CHUNK_BYTES): Generator<Uint8Array> {
  const payloadBytes = chunkBytes - 1
  let off = 0
  do {
    const end = Math.min(off + payloadBytes, frame.length)
    const chunk = new Uint8Array(1 + end - off)
    chunk[0] = end === frame.length ? LAST : 0
    chunk.set(frame.subarray(off, end), 1)
    yield chunk
    off = end
  } while (off < frame.length)
}

/** Reassembles chunks of one channel; throws LimitError when a frame outgrows the bound. */
export class Reassembler {
  private parts: Uint8Array[] = []
  private size = 0

  constructor(
    private readonly maxFrameBytes: number,
    private readonly chunkBytes = CHUNK_BYTES,
  ) {}

  /** Returns the completed frame, or undefined while more chunks are expected. */
  push(chunk: Uint8Array): Uint8Array | undefined {
    if (chunk.length === 0 || chunk.length > this.chunkBytes || (chunk[0]! & ~LAST) !== 0)
      throw new LimitError('malformed chunk', 'chunk')
    this.size += chunk.length - 1
    if (this.size > this.maxFrameBytes)
      throw new LimitError(`frame exceeds ${this.maxFrameBytes} bytes`, 'maxFrameBytes')
    this.parts.push(chunk.subarray(1))
    if ((chunk[0]! & LAST) === 0) return undefined
    const out = new Uint8Array(this.size)
    let off = 0
    for (const p of this.parts) {
      out.set(p, off)
      off += p.length
    }
    this.parts = []
    this.size = 0
    return out
  }
}
