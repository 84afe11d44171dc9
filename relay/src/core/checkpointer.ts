/**
 * Relay checkpoints (engine checkpoint.ts): per channel, a rolling window of what this process
 * stamped, closed every `checkpointEvery` stamps (or after `checkpointIdleMs` without a stamp
 * once `checkpointMinEvents` wait) into one relay-signed checkpoint event, which is itself a
 * stamp of the channel and so opens the next window.
 *
 * Ids are issued in order but signatures may complete out of order, so a stamp enters the hash
 * only when every id issued before it has completed (or failed): a window always covers every
 * stamp of the channel between its first and last id. Memory per channel is a hash state plus
 * the stamps still being signed. Nothing survives a restart: a window open at a crash is never
 * checkpointed (those events are verified one by one by peers), and a new process starts anew.
 */
import { hash } from 'node:crypto'
import {
  CheckpointWindow,
  encodeEvent,
  MAX_CHECKPOINT_EVENTS,
  type Signer,
  type StampedEvent,
  stampCheckpoint,
  type Ulid,
} from '@peerchat/engine'

export interface CheckpointerOptions {
  relay: Signer
  nextId: () => Ulid
  now: () => number
  /** Stamps per checkpoint; 0 disables checkpoints. */
  every: number
  idleMs: number
  minEvents: number
}

interface Channel {
  readonly window: CheckpointWindow
  /** Ids issued and not yet signed, ascending. */
  readonly inflight: Ulid[]
  /** Signed stamps waiting for an earlier id to complete, ascending. */
  readonly ready: { id: Ulid; digest: Uint8Array }[]
  lastStamp: number
}

export type CheckpointListener = (event: StampedEvent, bytes: Uint8Array) => void

export class Checkpointer {
  private readonly channels = new Map<string, Channel>()
  private readonly listeners = new Set<CheckpointListener>()
  private readonly every: number
  /** Checkpoints being signed (tests and shutdown wait for them). */
  private readonly signing = new Set<Promise<void>>()

  constructor(private readonly opts: CheckpointerOptions) {
    this.every = Math.min(Math.floor(opts.every), MAX_CHECKPOINT_EVENTS)
  }

  get enabled(): boolean {
    return this.every > 0
  }

  /** Called with each checkpoint event once signed; returns the unsubscribe function. */
  onCheckpoint(listener: CheckpointListener): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /** An id was issued for a stamp of `channel` (call at once, before any await). */
  issued(channel: string, id: Ulid): void {
    if (!this.enabled) return
    let ch = this.channels.get(channel)
    if (!ch) {
      ch = { window: new CheckpointWindow(), inflight: [], ready: [], lastStamp: this.opts.now() }
      this.channels.set(channel, ch)
    }
    ch.inflight.push(id)
  }

  /** The stamp `id` was signed (`bytes`: the encoded StampedEvent) or failed (undefined). */
  stamped(channel: string, id: Ulid, bytes: Uint8Array | undefined): void {
    const ch = this.channels.get(channel)
    if (!ch) return
    const at = ch.inflight.indexOf(id)
    if (at < 0) return
    ch.inflight.splice(at, 1)
    if (bytes) {
      const digest = new Uint8Array(hash('sha256', bytes, 'buffer'))
      let i = ch.ready.length
      while (i > 0 && ch.ready[i - 1]!.id > id) i--
      ch.ready.splice(i, 0, { id, digest })
      ch.lastStamp = this.opts.now()
    }
    const oldest = ch.inflight[0]
    while (ch.ready.length > 0 && (oldest === undefined || ch.ready[0]!.id < oldest)) {
      const next = ch.ready.shift()!
      ch.window.add(next.id, next.digest)
      if (ch.window.count >= this.every) this.close(channel, ch)
    }
    this.forgetIfIdle(channel, ch)
  }

  /** Closes the windows of channels idle for `idleMs` that hold at least `minEvents` stamps. */
  sweep(): void {
    const now = this.opts.now()
    for (const [channel, ch] of this.channels)
      if (ch.window.count >= Math.max(1, this.opts.minEvents) && now - ch.lastStamp >= this.opts.idleMs)
        this.close(channel, ch)
  }

  /** Resolves when every checkpoint being signed has been handed to the listeners. */
  async settled(): Promise<void> {
    while (this.signing.size > 0) await Promise.all([...this.signing])
  }

  /** Channels with a window open or stamps in flight (bounded by the relay's channel limit). */
  get size(): number {
    return this.channels.size
  }

  private close(channel: string, ch: Channel): void {
    const cp = ch.window.close()
    if (!cp) return
    // The checkpoint is a stamp of this channel too: its id comes after cp.last and it opens the next window.
    const id = this.opts.nextId()
    this.issued(channel, id)
    const job = (async () => {
      let event: StampedEvent
      try {
        event = await stampCheckpoint(this.opts.relay, id, channel, cp)
      } catch {
        this.stamped(channel, id, undefined) // never signed: the next window goes on without it
        return
      }
      const bytes = encodeEvent(event)
      this.stamped(channel, id, bytes)
      for (const listener of this.listeners) {
        try {
          listener(event, bytes)
        } catch (err) {
          queueMicrotask(() => {
            throw err
          })
        }
      }
    })()
    this.signing.add(job)
    void job.finally(() => this.signing.delete(job))
  }

  private forgetIfIdle(channel: string, ch: Channel): void {
    if (ch.window.count === 0 && ch.inflight.length === 0 && ch.ready.length === 0)
      this.channels.delete(channel)
  }
}
