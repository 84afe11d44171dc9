/**
 * One negotiated data channel as a frame pipe: chunking out, reassembly in, and flow control
 * on `bufferedAmount` so a large send never floods the SCTP buffer (which makes Chromium close
 * the channel) and never grows our queue without bound.
 */
import { LimitError } from '@peerchat/engine'
import { CHUNK_BYTES, chunkFrame, Reassembler } from '../chunker.ts'

export interface PipeLimits {
  maxFrameBytes: number
  /** Stop writing into the channel above this many buffered bytes. */
  highWaterBytes: number
  /** Bytes queued on our side before `send` refuses (returns false). */
  maxQueuedBytes: number
}

export const DEFAULT_PIPE_LIMITS: PipeLimits = {
  maxFrameBytes: 1024 * 1024,
  highWaterBytes: 1024 * 1024,
  maxQueuedBytes: 16 * 1024 * 1024,
}

/** The part of RTCDataChannel a pipe uses (browser and @roamhq/wrtc agree on it). */
export interface DataChannelLike {
  readonly readyState: string
  readonly bufferedAmount: number
  bufferedAmountLowThreshold: number
  binaryType: string
  send(data: Uint8Array): void
  close(): void
  onopen: ((ev: unknown) => void) | null
  onclose: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onbufferedamountlow: ((ev: unknown) => void) | null
}

export class FramePipe {
  private readonly queue: Uint8Array[] = []
  private queuedBytes = 0
  private readonly reassembler: Reassembler
  /** Bytes written into the channel and received from it (frames' own bytes plus chunk headers). */
  bytesOut = 0
  bytesIn = 0

  constructor(
    private readonly channel: DataChannelLike,
    private readonly limits: PipeLimits,
    onFrame: (frame: Uint8Array) => void,
    private readonly onError: (err: Error) => void,
  ) {
    this.reassembler = new Reassembler(limits.maxFrameBytes)
    channel.binaryType = 'arraybuffer'
    channel.bufferedAmountLowThreshold = Math.floor(limits.highWaterBytes / 4)
    channel.onbufferedamountlow = () => this.flush()
    channel.onmessage = (ev) => {
      const data = ev.data
      if (!(data instanceof ArrayBuffer)) return onError(new LimitError('non-binary message', 'binary'))
      this.bytesIn += data.byteLength
      try {
        const frame = this.reassembler.push(new Uint8Array(data))
        if (frame) onFrame(frame)
      } catch (e) {
        onError(e as Error)
      }
    }
  }

  get open(): boolean {
    return this.channel.readyState === 'open'
  }

  /** Queues a frame; false when the channel is not open or our queue is full (back off and retry). */
  send(frame: Uint8Array): boolean {
    if (frame.length > this.limits.maxFrameBytes)
      throw new LimitError(`frame exceeds ${this.limits.maxFrameBytes} bytes`, 'maxFrameBytes')
    if (!this.open || this.queuedBytes + frame.length > this.limits.maxQueuedBytes) return false
    for (const chunk of chunkFrame(frame)) {
      this.queue.push(chunk)
      this.queuedBytes += chunk.length
    }
    this.flush()
    return true
  }

  get queued(): number {
    return this.queuedBytes
  }

  private flush(): void {
    while (
      this.queue.length > 0 &&
      this.open &&
      this.channel.bufferedAmount + CHUNK_BYTES <= this.limits.highWaterBytes
    ) {
      const chunk = this.queue.shift()!
      this.queuedBytes -= chunk.length
      this.bytesOut += chunk.length
      try {
        this.channel.send(chunk)
      } catch (e) {
        // Closing under us (readyState lags the native channel in @roamhq/wrtc): the link is gone.
        this.queue.length = 0
        this.queuedBytes = 0
        this.onError(e as Error)
        return
      }
    }
  }

  close(): void {
    this.queue.length = 0
    this.queuedBytes = 0
    this.channel.onmessage = null
    this.channel.onbufferedamountlow = null
    try {
      this.channel.close()
    } catch {
      // already closed
    }
  }
}
