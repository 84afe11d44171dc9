/**
 * When a replica reconciles, and with whom:
 *
 * - catch-up: when the relay connection comes up, with the best `catchUpPeers` peers; when a
 *   peer appears, with that peer once its link has settled; when a channel is opened, with
 *   the best peer. Each reconciles the recent window (`windowMs`) of the channels.
 * - anti-entropy: every `antiEntropyMs` (jittered), the window of every channel with one
 *   random peer, so replicas converge even when a catch-up was lost.
 * - scroll-back (`backfill`): older ranges on demand, in ever wider windows.
 *
 * Jobs run one at a time, so the events a session adds are attributed to its peer and a
 * replica never receives the same missing events from several peers at once. A peer syncing
 * the channel with someone else answers `busy`; the job is retried after a jittered backoff.
 */

import { toHex } from '../bytes.ts'
import type { Scheduler } from '../clock.ts'
import { BUSY, type Candidate, type Peer, type SyncReport } from '../peer/peer.ts'
import type { IdRange } from '../store/store.ts'
import { type Ulid, ulidAtTime, ulidTime } from '../ulid.ts'

export interface SyncPolicyOptions {
  /** Recent history reconciled on catch-up and anti-entropy (default 24 h); older comes by scroll-back. */
  windowMs: number
  /** Peers the window is reconciled with when the relay connection comes up (default 2). */
  catchUpPeers: number
  /**
   * Peers asked in turn when a channel is opened, until one brings events (default 4): the best
   * peer may not hold it (a group channel an invitation names is held by its few members).
   */
  openedPeers: number
  /**
   * Starting a catch-up towards each peer that appears: `always` (clients), `until-caught-up`
   * (virtual clients: real clients should serve a newcomer first), or `never`.
   */
  initiateOnJoin: 'always' | 'until-caught-up' | 'never'
  /** How long a new peer's link is left to settle (its kind announces itself) before use (default 500 ms). */
  settleMs: number
  /** How long a peer reachable only through relay forwarding is left to get a direct link (default 2 s). */
  fallbackGraceMs: number
  /**
   * How much longer a catch-up towards a virtual client that appeared waits while a real peer is
   * reachable too (default 2 s): real peers, whose links may still be coming up, catch the
   * newcomer up first, and the virtual client then has nothing left to send.
   */
  virtualGraceMs: number
  /** Mean period of anti-entropy rounds (default 60 s; 0 turns them off). */
  antiEntropyMs: number
  /** First delay after a `busy` answer (default 200 ms), doubled per attempt, jittered. */
  busyRetryMs: number
  /** Attempts of a job refused as busy before it is left to anti-entropy (default 6). */
  maxBusyRetries: number
  /** Windows asked for before the oldest held event on scroll-back, then all of it. */
  backfillWindowsMs: readonly number[]
}

export const SyncPolicyDefaults: Readonly<SyncPolicyOptions> = Object.freeze({
  windowMs: 24 * 60 * 60_000,
  catchUpPeers: 2,
  openedPeers: 4,
  initiateOnJoin: 'always',
  settleMs: 500,
  fallbackGraceMs: 2_000,
  virtualGraceMs: 2_000,
  antiEntropyMs: 60_000,
  busyRetryMs: 200,
  maxBusyRetries: 6,
  backfillWindowsMs: Object.freeze([60 * 60_000, 24 * 60 * 60_000, 30 * 24 * 60 * 60_000]),
})

/** Most catch-up jobs queued at once (a burst of joins beyond it is left to anti-entropy). */
export const MAX_SYNC_JOBS = 1024

interface Job {
  channel: string
  /** A peer key (hex) or port:peer id; undefined: the best candidate. */
  target?: string
  attempt: number
  /** A channel just opened: the best candidates in turn until one brings events. */
  opened?: boolean
  /** ...those of this key (hex) first. */
  prefer?: string
}

export const keyOfCandidate = (c: Candidate): string =>
  c.info.key ? toHex(c.info.key) : `${c.port}:${c.peer}`

export class SyncPolicy {
  private readonly o: SyncPolicyOptions
  private readonly queue: Job[] = []
  private readonly queued = new Set<string>()
  private readonly timers = new Set<() => void>()
  private running = false
  private caughtUp = false
  private stopped = false
  private idle: (() => void)[] = []
  private readonly sleepers = new Set<() => void>()
  /** When each candidate (by key) last appeared on a port: a forwarded-only one gets its grace from then. */
  private readonly joinedAt = new Map<string, number>()

  constructor(
    private readonly peer: Peer,
    private readonly clock: Scheduler,
    private readonly random: () => number,
    private readonly channels: () => readonly string[],
    opts: Partial<SyncPolicyOptions> = {},
  ) {
    this.o = { ...SyncPolicyDefaults, ...opts }
    this.peer.onPeerJoined((c) => this.peerJoined(c))
    this.scheduleAntiEntropy()
  }

  /** The window's range now. */
  window(): IdRange {
    return { gte: ulidAtTime(Math.max(0, Math.floor(this.clock.now() - this.o.windowMs))) }
  }

  /** The relay connection came up: catch up with the best peers there are. */
  relayOnline(): void {
    const best = this.peer.candidates().slice(0, this.o.catchUpPeers)
    for (const c of best)
      for (const channel of this.channels()) this.enqueue({ channel, target: keyOfCandidate(c), attempt: 0 })
  }

  /** A channel was opened: catch it up from `from`'s sessions, then the best peers (`openedPeers`). */
  channelOpened(channel: string, from?: Uint8Array): void {
    if (this.peer.candidates().length > 0)
      this.enqueue({ channel, attempt: 0, opened: true, ...(from ? { prefer: toHex(from) } : {}) })
  }

  /** Resolves when no job is queued or running (tests, benchmarks). */
  settled(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const cancel of this.timers) cancel()
    this.timers.clear()
    this.queue.length = 0
    this.queued.clear()
    for (const wake of this.idle.splice(0)) wake()
    for (const wake of [...this.sleepers]) wake()
  }

  /** Timers held (0 once stopped). */
  get size(): number {
    return this.timers.size
  }

  /**
   * Pulls history older than `before` (or the newest when omitted) from peers until `want`
   * events arrived or nobody has more. `exhausted`: no older event can be had now.
   */
  async backfill(
    channel: string,
    before: Ulid | undefined,
    want: number,
    signal?: AbortSignal,
  ): Promise<{ added: number; exhausted: boolean }> {
    await this.linksSettled()
    const end = before ? ulidTime(before) : this.clock.now()
    let added = 0
    for (const width of [...this.o.backfillWindowsMs, Infinity]) {
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
  }

  // ---- jobs ------------------------------------------------------------------------------

  private peerJoined(c: Candidate): void {
    if (this.stopped) return
    const key = keyOfCandidate(c)
    this.joinedAt.set(key, this.clock.now())
    const mode = this.o.initiateOnJoin
    if (mode === 'never' || (mode === 'until-caught-up' && this.caughtUp)) return
    // Its kind (virtual or not) and a direct link may take a moment to show: rank it then.
    const catchUp = () => {
      for (const channel of this.channels()) this.enqueue({ channel, target: key, attempt: 0 })
    }
    this.later(c.fallback ? this.o.fallbackGraceMs : this.o.settleMs, () => {
      const all = this.peer.candidates()
      const virtual = all.find((x) => keyOfCandidate(x) === key)?.info.kind === 'virtual'
      if (virtual && all.some((x) => x.info.kind !== 'virtual')) this.later(this.o.virtualGraceMs, catchUp)
      else catchUp()
    })
  }

  private scheduleAntiEntropy(): void {
    if (this.stopped || this.o.antiEntropyMs <= 0) return
    const delay = this.o.antiEntropyMs * (0.5 + this.random())
    this.later(delay, () => {
      const all = this.peer.candidates()
      const direct = all.filter((c) => !c.fallback)
      const pool = direct.length > 0 ? direct : all
      const pick = pool[Math.floor(this.random() * pool.length)]
      if (pick)
        for (const channel of this.channels())
          this.enqueue({ channel, target: keyOfCandidate(pick), attempt: 0 })
      this.scheduleAntiEntropy()
    })
  }

  private later(ms: number, fn: () => void): void {
    const cancel = this.clock.setTimeout(() => {
      this.timers.delete(cancel)
      if (!this.stopped) fn()
    }, ms)
    this.timers.add(cancel)
  }

  private enqueue(job: Job): void {
    const id = `${job.channel}|${job.target ?? ''}`
    if (this.stopped || this.queued.has(id) || this.queue.length >= MAX_SYNC_JOBS) return
    this.queued.add(id)
    this.queue.push(job)
    // Not tracked by the clock: a job waits for deliveries, which need the clock to move.
    if (!this.running) void this.drain()
  }

  private async drain(): Promise<void> {
    this.running = true
    try {
      for (let job = this.queue.shift(); job && !this.stopped; job = this.queue.shift()) {
        this.queued.delete(`${job.channel}|${job.target ?? ''}`)
        await this.run(job)
      }
    } finally {
      this.running = false
      if (this.queue.length === 0) for (const wake of this.idle.splice(0)) wake()
    }
  }

  private async run(job: Job): Promise<void> {
    await this.linksSettled()
    if (job.opened) return this.catchUpOpened(job.channel, job.prefer)
    const target =
      job.target === undefined
        ? this.peer.candidates()[0]
        : this.peer.candidates().find((c) => keyOfCandidate(c) === job.target)
    if (!target) return // it left
    const report = await this.peer.sync(job.channel, {
      range: this.window(),
      peer: { port: target.port, peer: target.peer },
    })
    if (report.complete) {
      this.caughtUp = true
      return
    }
    if (report.error === BUSY && job.attempt < this.o.maxBusyRetries) {
      const delay = this.o.busyRetryMs * 2 ** job.attempt * (0.5 + this.random())
      this.later(delay, () => this.enqueue({ ...job, attempt: job.attempt + 1 }))
    }
  }

  /**
   * Asks `prefer`'s sessions, then the best `openedPeers` candidates, in turn for a channel's
   * window (a busy one again after a backoff) until one brings events.
   */
  private async catchUpOpened(channel: string, prefer?: string): Promise<void> {
    const all = this.peer.candidates()
    const first = all.filter((c) => c.info.key && toHex(c.info.key) === prefer)
    const rest = all.filter((c) => !first.includes(c)).slice(0, this.o.openedPeers)
    for (const target of [...first, ...rest]) {
      const report = await this.syncWith(target, channel, this.window())
      if (report?.complete) this.caughtUp = true
      if (this.stopped || (report?.added ?? 0) > 0) return
    }
  }

  /** One peer, a busy one again after a backoff (`maxBusyRetries`); its last report. */
  private async syncWith(
    target: Candidate,
    channel: string,
    range: IdRange,
  ): Promise<SyncReport | undefined> {
    let report: SyncReport | undefined
    for (let attempt = 0; !this.stopped; attempt++) {
      report = await this.peer.sync(channel, { range, peer: { port: target.port, peer: target.peer } })
      if (report.complete || report.error !== BUSY || attempt >= this.o.maxBusyRetries) break
      await this.sleep(this.o.busyRetryMs * 2 ** attempt * (0.5 + this.random()))
    }
    return report
  }

  /**
   * Tries the candidates best first (a busy one again after a backoff); the first complete
   * report, or undefined if none answered.
   */
  private async syncBest(channel: string, range: IdRange): Promise<SyncReport | undefined> {
    for (const target of this.peer.candidates()) {
      const report = await this.syncWith(target, channel, range)
      if (report?.complete) return report
      if (this.stopped) break
    }
    return undefined
  }

  /**
   * Waits while some peer is reachable only through relay forwarding and appeared less than
   * `fallbackGraceMs` ago: its direct link may still come, and forwarding spends the relay's
   * bandwidth. Catch-up at login, on a channel's opening and scroll-back all choose after it.
   */
  private async linksSettled(): Promise<void> {
    while (!this.stopped) {
      const now = this.clock.now()
      const candidates = this.peer.candidates()
      const live = new Set(candidates.map(keyOfCandidate))
      for (const key of this.joinedAt.keys()) if (!live.has(key)) this.joinedAt.delete(key)
      let wait = 0
      for (const c of candidates)
        if (c.fallback)
          wait = Math.max(wait, (this.joinedAt.get(keyOfCandidate(c)) ?? 0) + this.o.fallbackGraceMs - now)
      if (wait <= 0) return
      await this.sleep(wait)
    }
  }

  /** Waits up to `ms` for a first peer to appear; true if there is one. */
  async waitForPeer(ms: number): Promise<boolean> {
    if (this.peer.candidates().length > 0) return true
    if (ms <= 0 || this.stopped) return false
    let off = (): void => {}
    await Promise.race([
      this.sleep(ms),
      new Promise<void>((resolve) => {
        off = this.peer.onPeerJoined(() => resolve())
      }),
    ])
    off()
    return this.peer.candidates().length > 0
  }

  /** Resolves after `ms`, or at once when the policy stops. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake)
        resolve()
      }
      this.sleepers.add(wake)
      this.later(ms, wake)
    })
  }
}
