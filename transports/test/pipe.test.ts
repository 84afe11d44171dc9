/** FramePipe over a fake data channel: chunking, flow control, and a channel closing under it. */
import { describe, expect, it } from 'vitest'
import { CHUNK_BYTES } from '../src/chunker.ts'
import { type DataChannelLike, FramePipe } from '../src/webrtc/pipe.ts'

/** Records what is written; `bufferedAmount` grows until `drain()`; `failSends` makes send throw. */
class FakeChannel implements DataChannelLike {
  readyState = 'open'
  bufferedAmount = 0
  bufferedAmountLowThreshold = 0
  binaryType = 'blob'
  written: Uint8Array[] = []
  failSends = false
  onopen = null
  onclose = null
  onmessage: DataChannelLike['onmessage'] = null
  onbufferedamountlow: DataChannelLike['onbufferedamountlow'] = null
  send(data: Uint8Array): void {
    if (this.failSends) throw new Error("RTCDataChannel.readyState is not 'open'")
    this.written.push(data)
    this.bufferedAmount += data.length
  }
  close(): void {
    this.readyState = 'closed'
  }
  drain(): void {
    this.bufferedAmount = 0
    this.onbufferedamountlow?.({})
  }
}

const limits = { maxFrameBytes: 256 * 1024, highWaterBytes: 4 * CHUNK_BYTES, maxQueuedBytes: 512 * 1024 }

function pipe(channel: FakeChannel) {
  const frames: Uint8Array[] = []
  const errors: Error[] = []
  const p = new FramePipe(
    channel,
    limits,
    (f) => frames.push(f),
    (e) => errors.push(e),
  )
  return { p, frames, errors }
}

describe('FramePipe', () => {
  it('splits a frame into chunks the other side reassembles, writing only up to the high-water mark', () => {
    const out = new FakeChannel()
    const sender = pipe(out)
    const into = new FakeChannel()
    const receiver = pipe(into)
    const frame = new Uint8Array(200_000).map((_, i) => i % 251)
    expect(sender.p.send(frame)).toBe(true)
    // at most highWater bytes in the channel at once, the rest queued
    expect(out.bufferedAmount).toBeLessThanOrEqual(limits.highWaterBytes)
    expect(sender.p.queued).toBeGreaterThan(0)
    const deliver = () => {
      for (const c of out.written.splice(0)) into.onmessage?.({ data: c.slice().buffer })
    }
    while (sender.p.queued > 0) {
      deliver()
      out.drain()
    }
    deliver()
    expect(receiver.frames).toEqual([frame])
    expect(receiver.errors).toEqual([])
  })

  it('a channel that throws on send (closing under us) is reported once; the caller never sees a throw', () => {
    const ch = new FakeChannel()
    const { p, errors } = pipe(ch)
    ch.failSends = true
    expect(() => p.send(new Uint8Array(3 * CHUNK_BYTES))).not.toThrow()
    expect(errors.map((e) => e.message)).toEqual(["RTCDataChannel.readyState is not 'open'"])
    expect(p.queued).toBe(0)
  })

  it('refuses (false) a frame over the queue budget or on a closed channel', () => {
    const ch = new FakeChannel()
    const { p } = pipe(ch)
    expect(p.send(new Uint8Array(limits.maxFrameBytes))).toBe(true)
    expect(p.send(new Uint8Array(limits.maxFrameBytes))).toBe(true)
    expect(p.send(new Uint8Array(limits.maxFrameBytes))).toBe(false) // queue over 512 KiB
    ch.close()
    ch.drain()
    expect(p.send(new Uint8Array(1))).toBe(false)
  })
})
