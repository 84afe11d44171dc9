/**
 * When the real client asks other peers for history, and whom: catch-up of the recent window
 * with the best ranked peers once their links have settled (real clients before virtual ones,
 * which announce themselves in awareness over the direct link), and scroll-back of older ranges
 * on demand. Every session it starts runs one at a time with a known peer, so the events a
 * session adds can be attributed to that peer and link (the trust panel's "from peer … over webrtc").
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
 * (default 3 s). While some peer is reachable only through forwarding it waits up to
 * FALLBACK_GRACE_MS (after the latest peer appeared) for its direct link.
 */
export const PEER_WAIT_MS = 3_000
/**
 * How long after the latest peer appeared its kind is left to settle before peers are ranked
 * (default 500 ms): a virtual client announces itself in awareness just after its link opens,
 * and ranked before that it would pass for a real client and be asked first.
 */
export const LINK_SETTLE_MS = 500
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
  /** A catch-up loop is running; `joinedSince`: a peer appeared while it ran. */
  private catchingUp = false
  private joinedSince = false
  /** When the latest peer appeared (links settle from then on). */
  private lastJoin = 0
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
    this.lastJoin = (this.o.now ?? Date.now)()
    for (const wake of [...this.waiters]) wake()
    if (this.stopped || this.caughtUp.size >= CATCH_UP_PEERS) return
    if (this.catchingUp) {
      this.joinedSince = true
      return
    }
    this.catchingUp = true
    void this.catchUp().finally(() => {
      this.catchingUp = false
    })
  }

  /**
   * Catches up with up to CATCH_UP_PEERS peers, one at a time, each time the best ranked one
   * not caught up with yet once links have settled: real clients before virtual ones, direct
   * links before the relay's forwarding (ranked when asked, not when the peer appeared).
   */
  private async catchUp(): Promise<void> {
    const tried = new Set<string>()
    while (!this.stopped && this.caughtUp.size < CATCH_UP_PEERS) {
      await this.awaitLinks()
      if (this.stopped) return
      if (this.joinedSince) {
        this.joinedSince = false
        tried.clear()
      }
      const next = this.o.peer.candidates().find((c) => !this.caughtUp.has(keyOf(c)) && !tried.has(keyOf(c)))
      if (!next) return
      tried.add(keyOf(next))
      await this.catchUpWith(keyOf(next))
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
   * Gives links a moment before peers are ranked: up to PEER_WAIT_MS for a first peer; then
   * LINK_SETTLE_MS after the latest peer appeared, and up to FALLBACK_GRACE_MS after it while
   * some peer is reachable only through the relay's forwarding (its kind is not known yet either:
   * awareness travels over the direct link).
   */
  private async awaitLinks(): Promise<void> {
    const now = this.o.now ?? Date.now
    const start = now()
    for (;;) {
      if (this.stopped) return
      const candidates = this.o.peer.candidates()
      const forwarded = candidates.some((c) => this.o.ports[c.port]?.fallback)
      const t = now()
      const left =
        candidates.length === 0
          ? start + PEER_WAIT_MS - t
          : Math.max(
              this.lastJoin + LINK_SETTLE_MS - t,
              forwarded ? this.lastJoin + FALLBACK_GRACE_MS - t : 0,
            )
      if (left <= 0) return
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
}
