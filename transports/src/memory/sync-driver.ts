/**
 * Runs the engine's reconciliation between replicas over any `Transport`, plus live push of
 * new events. Frames can be lost, duplicated or reordered: each round carries a session and
 * a sequence number, a lost round is retransmitted after a timeout, and a stuck session is
 * restarted. Pushes are best effort: reconciliation repairs what they miss.
 *
 * One driver serves one channel log. It subscribes to the transport but does not start or
 * stop it. (The full multi-channel peer comes later; this is the glue the simulations use.)
 */
import {
  type AddResult,
  type ChannelLog,
  DecodeError,
  LimitError,
  Reconciler,
  type ReconcilerOptions,
  RejectedError,
  type StampedEvent,
} from '@peerchat/engine'
import type { PeerId, Transport } from '../transport.ts'
import { realClock, type Scheduler } from './clock.ts'
import {
  decodeSyncFrame,
  encodePushFrames,
  encodeSyncFrame,
  SYNC_ENVELOPE_OVERHEAD,
  type SyncFrame,
  SyncType,
} from './sync-frames.ts'

/** Wait for a reply before retransmitting a request. */
export const DEFAULT_REPLY_TIMEOUT_MS = 1000
/** Retransmissions of one request before its session is abandoned and a new one starts. */
export const DEFAULT_MAX_RETRANSMITS = 3
/** Sessions tried in a row with one peer before giving up until the next `sync` call. */
export const DEFAULT_MAX_SESSION_ATTEMPTS = 4

export interface SyncDriverOptions {
  transport: Transport
  log: ChannelLog
  scheduler?: Scheduler
  replyTimeoutMs?: number
  maxRetransmits?: number
  maxSessionAttempts?: number
  /** Start a session when a peer joins (only the side with the smaller id does, to avoid twins). Default true. */
  syncOnJoin?: boolean
  /** Anti-entropy: sync with every peer this often. Off by default. */
  syncIntervalMs?: number
  /** Passed to every `Reconciler` (range, branching); `maxFrameBytes` is derived from the transport. */
  reconcile?: Omit<ReconcilerOptions, 'maxFrameBytes'>
}

export interface SyncStats {
  sessionsStarted: number
  sessionsCompleted: number
  sessionsFailed: number
  sessionsServed: number
  retransmits: number
  framesSent: number
  bytesSent: number
  pushesSent: number
  addedBySync: number
  addedByPush: number
  /** Events refused by the log (bad signatures, conflicts, ...). */
  rejected: number
  /** Frames that did not decode or that the reconciler refused. */
  badFrames: number
  /** Duplicated, late or out-of-order frames that were ignored. */
  staleFrames: number
}

interface Outgoing {
  session: number
  seq: number
  attempt: number
  reconciler: Reconciler
  lastFrame: Uint8Array
  retransmits: number
  cancelTimer: () => void
}

interface Incoming {
  session: number
  expect: number
  reconciler: Reconciler
  lastReply: Uint8Array | null
}

/** Errors a hostile or broken peer can cause; anything else is a bug and propagates. */
const isPeerFault = (e: unknown) =>
  e instanceof DecodeError || e instanceof LimitError || e instanceof RejectedError

export class SyncDriver {
  readonly stats: SyncStats = {
    sessionsStarted: 0,
    sessionsCompleted: 0,
    sessionsFailed: 0,
    sessionsServed: 0,
    retransmits: 0,
    framesSent: 0,
    bytesSent: 0,
    pushesSent: 0,
    addedBySync: 0,
    addedByPush: 0,
    rejected: 0,
    badFrames: 0,
    staleFrames: 0,
  }
  readonly transport: Transport
  readonly log: ChannelLog
  private readonly scheduler: Scheduler
  private readonly opts: Required<
    Pick<SyncDriverOptions, 'replyTimeoutMs' | 'maxRetransmits' | 'maxSessionAttempts' | 'syncOnJoin'>
  >
  private readonly reconcilerOptions: ReconcilerOptions
  private readonly syncIntervalMs: number | undefined
  private readonly outgoing = new Map<PeerId, Outgoing>()
  private readonly incoming = new Map<PeerId, Incoming>()
  private readonly queues = new Map<PeerId, Promise<void>>()
  private unsubscribe: (() => void)[] = []
  private cancelInterval: () => void = () => {}
  private sessionCounter = 0
  private running = false

  constructor(o: SyncDriverOptions) {
    this.transport = o.transport
    this.log = o.log
    this.scheduler = o.scheduler ?? realClock
    this.opts = {
      replyTimeoutMs: o.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS,
      maxRetransmits: o.maxRetransmits ?? DEFAULT_MAX_RETRANSMITS,
      maxSessionAttempts: o.maxSessionAttempts ?? DEFAULT_MAX_SESSION_ATTEMPTS,
      syncOnJoin: o.syncOnJoin ?? true,
    }
    this.syncIntervalMs = o.syncIntervalMs
    this.reconcilerOptions = {
      ...o.reconcile,
      maxFrameBytes: this.transport.limits.maxFrameBytes - SYNC_ENVELOPE_OVERHEAD,
    }
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.unsubscribe = [
      this.transport.on('frame', ({ from, bytes }) => this.onFrame(from, bytes)),
      this.transport.on('peer-joined', ({ peer }) => {
        if (this.opts.syncOnJoin && this.transport.self < peer) this.sync(peer)
      }),
      this.transport.on('peer-left', ({ peer }) => this.forget(peer)),
    ]
    if (this.syncIntervalMs !== undefined) this.armInterval(this.syncIntervalMs)
    if (this.opts.syncOnJoin) this.syncAll({ pairwise: true })
  }

  /** Idempotent: drops every session, timer and subscription. */
  stop(): void {
    if (!this.running) return
    this.running = false
    for (const off of this.unsubscribe) off()
    this.unsubscribe = []
    this.cancelInterval()
    for (const peer of [...this.outgoing.keys(), ...this.incoming.keys()]) this.forget(peer)
  }

  /** True when no session this side started is open and no frame is being handled. */
  get idle(): boolean {
    return this.outgoing.size === 0 && this.queues.size === 0
  }

  /** Adds events to the log and pushes the new ones to every peer. */
  async publish(events: StampedEvent[]): Promise<AddResult> {
    const result = await this.log.add(events)
    if (this.running && result.added.length > 0) this.push(result.added)
    return result
  }

  /** Starts (or restarts) a reconciliation session with `peer`. False if it is not a current peer. */
  sync(peer: PeerId): boolean {
    if (!this.running || !this.transport.peers().has(peer)) return false
    this.enqueue(peer, () => this.beginSession(peer, 0))
    return true
  }

  /**
   * Starts a session with every current peer. With `pairwise`, only with peers whose id is
   * greater than ours: when every replica does that, each pair runs exactly one session
   * (a session moves events both ways), instead of two.
   */
  syncAll(opts: { pairwise?: boolean } = {}): number {
    let n = 0
    for (const peer of [...this.transport.peers().keys()].sort())
      if ((!opts.pairwise || this.transport.self < peer) && this.sync(peer)) n++
    return n
  }

  private armInterval(ms: number): void {
    this.cancelInterval = this.scheduler.setTimeout(() => {
      for (const peer of [...this.transport.peers().keys()].sort())
        if (!this.outgoing.has(peer)) this.sync(peer)
      this.armInterval(ms)
    }, ms)
  }

  /**
   * Frames of one peer are handled one at a time, in arrival order. A peer's fault ends its
   * sessions; any other error is a bug: it rejects the tracked work (so it surfaces) but
   * does not stall the peer's queue.
   */
  private enqueue(peer: PeerId, task: () => Promise<void>): void {
    const run = (this.queues.get(peer) ?? Promise.resolve()).then(async () => {
      try {
        await task()
      } catch (e) {
        if (!isPeerFault(e)) throw e
        this.stats.badFrames++
        this.outgoing.get(peer)?.cancelTimer()
        this.outgoing.delete(peer)
        this.incoming.delete(peer)
      }
    })
    const link: Promise<void> = run
      .catch(() => {})
      .finally(() => {
        if (this.queues.get(peer) === link) this.queues.delete(peer)
      })
    this.queues.set(peer, link)
    this.scheduler.track(run)
  }

  private onFrame(from: PeerId, bytes: Uint8Array): void {
    let frame: SyncFrame
    try {
      frame = decodeSyncFrame(bytes)
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e
      this.stats.badFrames++
      return
    }
    this.enqueue(from, () => this.handle(from, frame))
  }

  private async handle(from: PeerId, frame: SyncFrame): Promise<void> {
    if (!this.running) return
    if (frame.type === SyncType.push) {
      const result = await this.log.add(frame.events)
      this.stats.addedByPush += result.added.length
      this.stats.rejected += result.rejected.length
    } else if (frame.type === SyncType.request) await this.onRequest(from, frame)
    else await this.onReply(from, frame)
  }

  private async beginSession(peer: PeerId, attempt: number): Promise<void> {
    this.outgoing.get(peer)?.cancelTimer()
    this.outgoing.delete(peer)
    if (!this.running || !this.transport.peers().has(peer)) return
    const reconciler = new Reconciler(this.log, this.reconcilerOptions)
    const payload = await reconciler.initiate()
    const out: Outgoing = {
      session: ++this.sessionCounter,
      seq: 0,
      attempt,
      reconciler,
      lastFrame: payload,
      retransmits: 0,
      cancelTimer: () => {},
    }
    this.outgoing.set(peer, out)
    this.stats.sessionsStarted++
    this.request(peer, out, payload)
  }

  private request(peer: PeerId, out: Outgoing, payload: Uint8Array): void {
    out.lastFrame = encodeSyncFrame({ type: SyncType.request, session: out.session, seq: out.seq, payload })
    out.retransmits = 0
    this.send(peer, out.lastFrame)
    this.armTimeout(peer, out)
  }

  private armTimeout(peer: PeerId, out: Outgoing): void {
    out.cancelTimer()
    out.cancelTimer = this.scheduler.setTimeout(() => this.onTimeout(peer, out), this.opts.replyTimeoutMs)
  }

  private onTimeout(peer: PeerId, out: Outgoing): void {
    if (this.outgoing.get(peer) !== out) return
    if (out.retransmits < this.opts.maxRetransmits) {
      out.retransmits++
      this.stats.retransmits++
      this.send(peer, out.lastFrame)
      this.armTimeout(peer, out)
      return
    }
    this.outgoing.delete(peer)
    this.stats.sessionsFailed++
    if (out.attempt + 1 < this.opts.maxSessionAttempts)
      this.enqueue(peer, () => this.beginSession(peer, out.attempt + 1))
  }

  private async onReply(peer: PeerId, f: Extract<SyncFrame, { type: 3 }>): Promise<void> {
    const out = this.outgoing.get(peer)
    if (!out || f.session !== out.session || f.seq !== out.seq) {
      this.stats.staleFrames++
      return
    }
    out.cancelTimer()
    if (f.payload === null) return this.complete(peer, out)
    const result = await out.reconciler.receive(f.payload)
    this.stats.addedBySync += result.added
    this.stats.rejected += result.rejected
    if (this.outgoing.get(peer) !== out) return
    if (!result.reply) return this.complete(peer, out)
    out.seq++
    this.request(peer, out, result.reply)
  }

  private complete(peer: PeerId, out: Outgoing): void {
    out.cancelTimer()
    this.outgoing.delete(peer)
    this.stats.sessionsCompleted++
  }

  private async onRequest(peer: PeerId, f: Extract<SyncFrame, { type: 2 }>): Promise<void> {
    let inc = this.incoming.get(peer)
    if (!inc || f.session > inc.session) {
      // A new session must start at its first round; a later round means we missed the start.
      if (f.seq !== 0) {
        this.stats.staleFrames++
        return
      }
      inc = {
        session: f.session,
        expect: 0,
        reconciler: new Reconciler(this.log, this.reconcilerOptions),
        lastReply: null,
      }
      this.incoming.set(peer, inc)
      this.stats.sessionsServed++
    } else if (f.session < inc.session) {
      this.stats.staleFrames++
      return
    }
    if (f.seq === inc.expect - 1 && inc.lastReply) {
      // The initiator retransmitted: our reply was lost (or this is a duplicate). Answer again.
      this.stats.retransmits++
      this.send(peer, inc.lastReply)
      return
    }
    if (f.seq !== inc.expect) {
      this.stats.staleFrames++
      return
    }
    const result = await inc.reconciler.receive(f.payload)
    this.stats.addedBySync += result.added
    this.stats.rejected += result.rejected
    if (this.incoming.get(peer) !== inc) return
    inc.expect++
    inc.lastReply = encodeSyncFrame({
      type: SyncType.reply,
      session: f.session,
      seq: f.seq,
      payload: result.reply,
    })
    this.send(peer, inc.lastReply)
  }

  /** Broadcasts events in PUSH frames that fit the transport. */
  private push(events: StampedEvent[]): void {
    for (const frame of encodePushFrames(events, this.transport.limits.maxFrameBytes)) {
      const n = this.transport.broadcast(frame)
      this.stats.pushesSent++
      this.stats.framesSent += n
      this.stats.bytesSent += n * frame.length
    }
  }

  private send(peer: PeerId, frame: Uint8Array): void {
    if (this.transport.send(peer, frame)) {
      this.stats.framesSent++
      this.stats.bytesSent += frame.length
    }
  }

  private forget(peer: PeerId): void {
    this.outgoing.get(peer)?.cancelTimer()
    this.outgoing.delete(peer)
    this.incoming.delete(peer)
  }
}
