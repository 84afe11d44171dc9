/**
 * When the real client asks other peers for history, and whom: catch-up of the recent window
 * with the first peers that appear, and scroll-back of older ranges on demand. Every session
 * it starts runs one at a time with a known peer, so the events a session adds can be
 * attributed to that peer and link (the trust panel's "from peer … over webrtc").
 */
import {
  type Candidate,
  type IdRange,
  type MeshPort,
  type Peer,
  publicKeyToText,
  type SyncReport,
  type Ulid,
  ulidAtTime,
  ulidTime,
} from '@peerchat/engine'
import type { EventSource } from './types.ts'

/** Distinct peers the recent window is reconciled with when they first appear (default 2). */
export const CATCH_UP_PEERS = 2
/** Recent window reconciled on catch-up (default 24 h, the engine's catch-up window). */
export const CATCH_UP_WINDOW_MS = 24 * 60 * 60_000
/**
 * How long a peer reachable only through the relay's forwarding is left to get a direct
 * WebRTC link before it is used anyway (default 2 s): forwarding spends the relay's bandwidth.
 */
export const FALLBACK_GRACE_MS = 2_000
/**
 * How long scroll-back waits for a first peer when others are online but not linked yet
 * (default 3 s). While only forwarded peers are known it waits FALLBACK_GRACE_MS for a direct one.
 */
export const PEER_WAIT_MS = 3_000
/** Scroll-back asks for these ever wider windows before the oldest held event, then for all of it. */
export const BACKFILL_WINDOWS_MS: readonly number[] = [60 * 60_000, 24 * 60 * 60_000, 30 * 24 * 60 * 60_000]

export interface PeerSyncOptions {
  peer: Peer
  /** The Peer's mesh ports, in the Peer's order (connectPeer: WebRTC, then relay forwarding). */
  ports: readonly MeshPort[]
  /** Channels to catch up on. */
  channels: () => readonly string[]
  /** Whether anyone else is online in a channel (the relay's presence), i.e. worth waiting for. */
  othersOnline: (channel: string) => boolean
  /** Scroll-back is asking peers (true) or done (false): the "loading from peers" state. */
  onBackfill: (channel: string, active: boolean) => void
  now?: () => number
}

const keyOf = (c: Candidate): string => (c.info.key ? publicKeyToText(c.info.key) : c.peer)

export class PeerSync {
  private readonly caughtUp = new Set<string>()
  private readonly scheduled = new Set<string>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly offs: (() => void)[] = []
  private readonly waiters = new Set<() => void>()
  private queue: Promise<unknown> = Promise.resolve()
  private current: { channel: string; source: EventSource } | undefined
  private stopped = false

  constructor(private readonly o: PeerSyncOptions) {}

  start(): void {
    this.o.ports.forEach((port) => {
      this.offs.push(port.on('peer-joined', () => this.onPeerJoined()))
    })
    this.onPeerJoined()
  }

  /** Idempotent; clears every timer and listener. Sessions in flight end with the Peer. */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const off of this.offs.splice(0)) off()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const wake of [...this.waiters]) wake()
  }

  /** Where an event that just entered `channel`'s log without the relay came from. */
  sourceFor(channel: string): EventSource {
    return this.current?.channel === channel ? this.current.source : { via: 'peer', peer: 'unknown' }
  }

  /** Number of timers and listeners held (0 once stopped). */
  get size(): number {
    return this.offs.length + this.timers.size + this.waiters.size
  }

  /**
   * Pulls history older than `before` (or the newest when omitted) from peers until `want`
   * events arrived or nobody has more. `exhausted` is true when no older event can be had now.
   */
  async backfill(
    channel: string,
    before: Ulid | undefined,
    want: number,
    signal?: AbortSignal,
  ): Promise<{ added: number; exhausted: boolean }> {
    if (this.o.peer.candidates().length === 0 && !this.o.othersOnline(channel))
      return { added: 0, exhausted: true }
    await this.awaitLinks()
    if (this.o.peer.candidates().length === 0) return { added: 0, exhausted: true }
    this.o.onBackfill(channel, true)
    try {
      const end = before ? ulidTime(before) : (this.o.now ?? Date.now)()
      let added = 0
      for (const width of [...BACKFILL_WINDOWS_MS, Infinity]) {
        signal?.throwIfAborted()
        const range: IdRange = {
          ...(before ? { lt: before } : {}),
          ...(width === Infinity ? {} : { gte: ulidAtTime(Math.max(0, end - width)) }),
        }
        const report = await this.syncBest(channel, range)
        if (!report) return { added, exhausted: true }
        added += report.added
        if (added >= want) return { added, exhausted: false }
      }
      return { added, exhausted: true }
    } finally {
      this.o.onBackfill(channel, false)
    }
  }

  // ---- catch-up --------------------------------------------------------------------------

  private onPeerJoined(): void {
    for (const wake of [...this.waiters]) wake()
    if (this.stopped || this.caughtUp.size >= CATCH_UP_PEERS) return
    for (const c of this.o.peer.candidates()) {
      const key = keyOf(c)
      if (this.caughtUp.has(key) || this.scheduled.has(key)) continue
      this.scheduled.add(key)
      const direct = !this.o.ports[c.port]?.fallback
      this.later(direct ? 0 : FALLBACK_GRACE_MS, () => void this.catchUpWith(key))
    }
  }

  /** Reconciles the recent window of every channel with one peer, by its best link now. */
  private async catchUpWith(key: string): Promise<void> {
    const since = (this.o.now ?? Date.now)() - CATCH_UP_WINDOW_MS
    const range: IdRange = { gte: ulidAtTime(Math.max(0, since)) }
    let ok = true
    for (const channel of this.o.channels()) {
      if (this.stopped || this.caughtUp.size >= CATCH_UP_PEERS) break
      const target = this.o.peer.candidates().find((c) => keyOf(c) === key)
      if (!target) {
        ok = false
        break
      }
      const report = await this.syncWith(channel, range, target)
      ok &&= report.complete
    }
    this.scheduled.delete(key)
    if (ok) this.caughtUp.add(key)
  }

  // ---- sessions --------------------------------------------------------------------------

  /** Tries the candidates best first; the first complete report, or undefined if none answered. */
  private async syncBest(channel: string, range: IdRange): Promise<SyncReport | undefined> {
    for (const target of this.o.peer.candidates()) {
      const report = await this.syncWith(channel, range, target)
      if (report.complete) return report
    }
    return undefined
  }

  /** One session at a time, so the events it adds are attributed to its peer. */
  private syncWith(channel: string, range: IdRange, target: Candidate): Promise<SyncReport> {
    const port = this.o.ports[target.port]
    const source: EventSource = {
      via: 'peer',
      peer: keyOf(target),
      link: port?.fallback ? 'relay forwarding' : (port?.name ?? 'mesh'),
    }
    const run = this.queue.then(async () => {
      this.current = { channel, source }
      try {
        return await this.o.peer.sync(channel, { range, peer: { port: target.port, peer: target.peer } })
      } finally {
        this.current = undefined
      }
    })
    this.queue = run.catch(() => {})
    return run
  }

  /**
   * Gives links a moment right after start: up to PEER_WAIT_MS for a first peer, and up to
   * FALLBACK_GRACE_MS for a direct one while only relay-forwarded peers are known.
   */
  private async awaitLinks(): Promise<void> {
    const start = (this.o.now ?? Date.now)()
    for (;;) {
      const candidates = this.o.peer.candidates()
      const direct = candidates.some((c) => !this.o.ports[c.port]?.fallback)
      const limit = candidates.length === 0 ? PEER_WAIT_MS : direct ? 0 : FALLBACK_GRACE_MS
      const left = start + limit - (this.o.now ?? Date.now)()
      if (left <= 0 || this.stopped) return
      await this.waitForPeer(left)
    }
  }

  private waitForPeer(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.waiters.delete(wake)
        clearTimeout(timer)
        this.timers.delete(timer)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.timers.add(timer)
      this.waiters.add(wake)
    })
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (!this.stopped) fn()
    }, ms)
    this.timers.add(t)
  }
}
