/**
 * The Peer: one replica of a community's channel logs, joined to the world through ports.
 *
 * - live: events from the relay go into the log at once (the log verifies them);
 * - catch-up: on (re)connect and when peers appear, it reconciles each open channel with a
 *   few peers — real clients first, virtual clients last, lowest round-trip time first;
 * - scroll-back: `sync(channel, { range })` pulls exactly a time range from whoever has it;
 * - serving: it answers other peers' reconciliation sessions for the channels it holds;
 * - provenance: every sync leaves a report saying which peer supplied how many events.
 */

import { BLOB_FRAME_VERSION } from '../blobs/frames.ts'
import { toHex } from '../bytes.ts'
import type { StampedEvent } from '../event.ts'
import type { Ed25519Backend } from '../identity/backend.ts'
import { ChannelLog } from '../log.ts'
import { Reconciler, type ReconcilerOptions } from '../reconcile/reconciler.ts'
import type { IdRange, Store } from '../store/store.ts'
import { ulidAtTime } from '../ulid.ts'
import { decodePeerFrame, encodePeerFrame, MAX_SESSION_ID, type PeerFrame } from './frames.ts'
import type { LivePort, MeshPeerInfo, MeshPort } from './ports.ts'

export interface PeerOptions {
  store: Store
  relayKeys: Uint8Array[]
  mesh?: MeshPort[]
  live?: LivePort
  verifyAuthors?: boolean
  backend?: Ed25519Backend
  /** Accept history covered by relay checkpoints by hashing it (default true; see ChannelLog). */
  checkpoints?: boolean
  /** Peers reconciled with per channel on (re)connect. */
  catchUpPeers?: number
  /** A session with no frame for this long is abandoned. */
  sessionTimeoutMs?: number
  /** Sessions one remote peer may hold open with us at once (more are refused). */
  maxSessionsPerPeer?: number
  reconcile?: Omit<ReconcilerOptions, 'range'>
  /**
   * Start (ms) of the "recent history" a catch-up reconciles; older ranges come on demand
   * with `sync(channel, { range })`. Default: 24 hours ago.
   */
  catchUpSince?: () => number
}

export const PeerDefaults = {
  catchUpPeers: 2,
  sessionTimeoutMs: 30_000,
  maxSessionsPerPeer: 8,
  maxReports: 1000,
  catchUpWindowMs: 24 * 60 * 60_000,
} as const

export interface SyncReport {
  channel: string
  /** `port:peer` the events came from. */
  source: string
  kind: 'client' | 'virtual' | 'unknown'
  range?: IdRange
  added: number
  rejected: number
  rounds: number
  bytesIn: number
  bytesOut: number
  ms: number
  complete: boolean
  error?: string
}

interface Session {
  reconciler: Reconciler
  port: number
  peer: string
  channel: string
  id: number
  initiator: boolean
  timer: ReturnType<typeof setTimeout> | undefined
  report: SyncReport
  started: number
  finish?: (r: SyncReport) => void
}

export interface Candidate {
  port: number
  peer: string
  info: MeshPeerInfo
  rtt: number
}

export class Peer {
  private readonly logs = new Map<string, ChannelLog>()
  private readonly sessions = new Map<string, Session>()
  private readonly rtt = new Map<string, number>()
  private readonly pings = new Map<number, { key: string; at: number }>()
  private readonly offs: (() => void)[] = []
  private nextSession = 1
  private nextPing = 1
  private stopped = false
  readonly reports: SyncReport[] = []
  readonly stats = {
    fromRelay: 0,
    fromPeers: 0,
    served: 0,
    servedBytes: 0,
    refusedSessions: 0,
    badFrames: 0,
    /** Author signatures of checkpoint-vouched events checked in the background ... */
    audited: 0,
    /** ... and events removed because the relay vouched for a forged one. */
    forged: 0,
  }
  /** Background author checks, one at a time per channel. */
  private readonly audits = new Map<string, Promise<void>>()

  constructor(private readonly opts: PeerOptions) {
    opts.mesh?.forEach((port, i) => {
      this.offs.push(
        port.on('frame', ({ from, bytes }) => void this.onFrame(i, from, bytes)),
        port.on('peer-joined', ({ peer }) => this.onPeerJoined(i, peer)),
        port.on('peer-left', ({ peer }) => this.onPeerLeft(i, peer)),
      )
    })
    if (opts.live) {
      this.offs.push(
        opts.live.on('event', (e) => void this.onLiveEvent(e)),
        opts.live.on('state', (s) => {
          if (s === 'online') void this.catchUp()
        }),
      )
    }
  }

  /** The log of a channel, created on first use; the relay is asked for its live events. */
  async open(channel: string): Promise<ChannelLog> {
    let log = this.logs.get(channel)
    if (!log) {
      log = new ChannelLog({
        channel,
        store: this.opts.store,
        relayKeys: this.opts.relayKeys,
        verifyAuthors: this.opts.verifyAuthors,
        backend: this.opts.backend,
        checkpoints: this.opts.checkpoints,
      })
      this.logs.set(channel, log)
      this.opts.live?.join(channel)
    }
    return log
  }

  log(channel: string): ChannelLog | undefined {
    return this.logs.get(channel)
  }

  get channels(): string[] {
    return [...this.logs.keys()]
  }

  /** Posts through the relay; the stamped event is in the local log when this resolves. */
  async publish(channel: string, kind: string, body: Uint8Array): Promise<StampedEvent> {
    if (!this.opts.live) throw new Error('this peer has no relay connection to publish through')
    const log = await this.open(channel)
    const event = await this.opts.live.publish({ channel, kind, body })
    await log.add([event])
    return event
  }

  /**
   * Mesh peers able to serve, best first: real clients before virtual ones, direct links
   * before the relay fallback, then lowest RTT. A key reachable over several links appears
   * once, by its best link.
   */
  candidates(): Candidate[] {
    const out: Candidate[] = []
    this.opts.mesh?.forEach((port, i) => {
      for (const [peer, info] of port.peers())
        out.push({ port: i, peer, info, rtt: this.rtt.get(`${i}:${peer}`) ?? Infinity })
    })
    const rank = (c: Candidate) =>
      (c.info.kind === 'virtual' ? 2 : 0) + (this.opts.mesh?.[c.port]?.fallback ? 1 : 0)
    out.sort((a, b) => rank(a) - rank(b) || a.rtt - b.rtt || a.port - b.port)
    const seen = new Set<string>()
    return out.filter((c) => {
      if (!c.info.key) return true
      const key = toHex(c.info.key)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }

  /**
   * Reconciles a channel (or only `range` of it) with one peer: the given one, else the best
   * candidate, falling back to the next when a peer fails. Resolves with the report.
   */
  async sync(
    channel: string,
    o: { range?: IdRange; peer?: { port: number; peer: string } } = {},
  ): Promise<SyncReport> {
    const log = await this.open(channel)
    const targets = o.peer ? [o.peer] : this.candidates()
    if (targets.length === 0) throw new Error(`no peer to sync ${channel} with`)
    let last: SyncReport | undefined
    for (const t of targets) {
      last = await this.runSession(log, t.port, t.peer, o.range)
      if (last.complete) return last
    }
    return last!
  }

  /** Reconciles the recent history of every open channel with up to `catchUpPeers` peers. */
  async catchUp(): Promise<SyncReport[]> {
    const n = this.opts.catchUpPeers ?? PeerDefaults.catchUpPeers
    const peers = this.candidates().slice(0, n)
    const since = this.opts.catchUpSince?.() ?? Date.now() - PeerDefaults.catchUpWindowMs
    const range = { gte: ulidAtTime(Math.max(0, Math.floor(since))) }
    const reports: SyncReport[] = []
    for (const channel of this.logs.keys())
      for (const p of peers)
        reports.push(await this.runSession(this.logs.get(channel)!, p.port, p.peer, range))
    return reports
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const off of this.offs.splice(0)) off()
    for (const s of [...this.sessions.values()]) this.end(s, 'peer stopped')
    this.pings.clear()
  }

  // ---- sessions --------------------------------------------------------------------------

  private runSession(log: ChannelLog, port: number, peer: string, range?: IdRange): Promise<SyncReport> {
    const id = this.nextSession
    this.nextSession = this.nextSession >= MAX_SESSION_ID ? 1 : this.nextSession + 1
    const s = this.newSession(log, port, peer, id, true, range)
    return new Promise((resolve) => {
      s.finish = resolve
      void s.reconciler.initiate().then(
        (payload) => this.sendReconcile(s, payload),
        (e) => this.end(s, (e as Error).message),
      )
    })
  }

  private newSession(
    log: ChannelLog,
    port: number,
    peer: string,
    id: number,
    initiator: boolean,
    range?: IdRange,
  ): Session {
    const info = this.opts.mesh?.[port]?.peers().get(peer)
    const s: Session = {
      // Pipelined: a catch-up's sender prepares its next frame while this side stores the last.
      reconciler: new Reconciler(log, {
        pipeline: true,
        ...this.opts.reconcile,
        ...(range ? { range } : {}),
      }),
      port,
      peer,
      channel: log.channel,
      id,
      initiator,
      timer: undefined,
      started: Date.now(),
      report: {
        channel: log.channel,
        source: `${this.opts.mesh?.[port]?.name ?? port}:${peer}`,
        kind: info?.kind ?? 'unknown',
        ...(range ? { range } : {}),
        added: 0,
        rejected: 0,
        rounds: 0,
        bytesIn: 0,
        bytesOut: 0,
        ms: 0,
        complete: false,
      },
    }
    this.sessions.set(sessionKey(port, peer, id, initiator), s)
    this.arm(s)
    return s
  }

  private arm(s: Session): void {
    clearTimeout(s.timer)
    s.timer = setTimeout(
      () => this.end(s, 'timed out'),
      this.opts.sessionTimeoutMs ?? PeerDefaults.sessionTimeoutMs,
    )
  }

  private sendReconcile(s: Session, payload: Uint8Array): void {
    const bytes = encodePeerFrame({
      type: 'reconcile',
      session: s.id,
      fromInitiator: s.initiator,
      channel: s.channel,
      payload,
    })
    s.report.bytesOut += bytes.length
    if (!s.initiator) {
      this.stats.servedBytes += bytes.length
    }
    if (!this.opts.mesh?.[s.port]?.send(s.peer, bytes)) this.end(s, 'peer unreachable')
  }

  private end(s: Session, error?: string): void {
    const key = sessionKey(s.port, s.peer, s.id, s.initiator)
    if (this.sessions.get(key) !== s) return
    this.sessions.delete(key)
    clearTimeout(s.timer)
    s.report.ms = Date.now() - s.started
    s.report.complete = error === undefined
    if (error) s.report.error = error
    if (s.initiator) {
      this.reports.push(s.report)
      if (this.reports.length > PeerDefaults.maxReports) this.reports.shift()
    }
    s.finish?.(s.report)
    this.auditLater(s.channel)
  }

  /** Resolves once the background author checks of vouched events have caught up. */
  async audited(): Promise<void> {
    while (this.audits.size > 0) await Promise.all(this.audits.values())
  }

  /** After a session, checks the author signatures of what it accepted on relay checkpoints. */
  private auditLater(channel: string): void {
    const log = this.logs.get(channel)
    if (!log || log.pendingAudit === 0 || this.audits.has(channel)) return
    const run = log
      .auditAuthors()
      .then(
        (r) => {
          this.stats.audited += r.checked
          this.stats.forged += r.removed.length
        },
        () => {}, // the store closed under it: the events stay vouched only
      )
      .finally(() => {
        this.audits.delete(channel)
        if (!this.stopped) this.auditLater(channel)
      })
    this.audits.set(channel, run)
  }

  private async onFrame(port: number, from: string, bytes: Uint8Array): Promise<void> {
    if (this.stopped || bytes[0] === BLOB_FRAME_VERSION) return // blob frames share the lanes (blobs.md)
    let frame: PeerFrame
    try {
      frame = decodePeerFrame(bytes)
    } catch {
      this.stats.badFrames++
      return
    }
    if (frame.type === 'ping') {
      this.opts.mesh?.[port]?.send(from, encodePeerFrame({ type: 'pong', n: frame.n }))
      return
    }
    if (frame.type === 'pong') {
      const p = this.pings.get(frame.n)
      if (p?.key === `${port}:${from}`) {
        this.pings.delete(frame.n)
        this.rtt.set(p.key, Date.now() - p.at)
      }
      return
    }
    if (frame.type === 'end') {
      const s = this.sessions.get(sessionKey(port, from, frame.session, true))
      if (s && s.channel === frame.channel) this.end(s)
      return
    }
    // A frame from the initiator belongs to our responder session, and vice versa.
    const key = sessionKey(port, from, frame.session, !frame.fromInitiator)
    let s = this.sessions.get(key)
    if (!s) {
      const log = this.logs.get(frame.channel)
      if (!frame.fromInitiator || !log) return // unknown session, or a channel we do not hold
      if (this.sessionsOf(port, from) >= (this.opts.maxSessionsPerPeer ?? PeerDefaults.maxSessionsPerPeer)) {
        this.stats.refusedSessions++
        return
      }
      s = this.newSession(log, port, from, frame.session, false)
    }
    if (s.channel !== frame.channel) return this.end(s, 'channel changed mid-session')
    this.arm(s)
    s.report.bytesIn += bytes.length
    s.report.rounds++
    try {
      const eventsBefore = s.reconciler.stats.eventsSent
      const r = await s.reconciler.receive(frame.payload)
      s.report.added += r.added
      s.report.rejected += r.rejected
      this.stats.fromPeers += r.added
      if (!s.initiator) this.stats.served += s.reconciler.stats.eventsSent - eventsBefore
      if (r.reply) this.sendReconcile(s, r.reply)
      else if (!s.initiator) {
        // Nothing left to send: tell the initiator, which would otherwise wait for a reply.
        this.opts.mesh?.[port]?.send(
          from,
          encodePeerFrame({ type: 'end', session: s.id, channel: s.channel }),
        )
        this.end(s)
      } else if (r.done) this.end(s)
    } catch (e) {
      this.end(s, (e as Error).message)
    }
  }

  private sessionsOf(port: number, peer: string): number {
    let n = 0
    for (const s of this.sessions.values()) if (s.port === port && s.peer === peer && !s.initiator) n++
    return n
  }

  private onPeerJoined(port: number, peer: string): void {
    const n = this.nextPing++
    this.pings.set(n, { key: `${port}:${peer}`, at: Date.now() })
    this.opts.mesh?.[port]?.send(peer, encodePeerFrame({ type: 'ping', n }))
  }

  private onPeerLeft(port: number, peer: string): void {
    this.rtt.delete(`${port}:${peer}`)
    for (const s of [...this.sessions.values()])
      if (s.port === port && s.peer === peer) this.end(s, 'peer left')
  }

  private async onLiveEvent(e: StampedEvent): Promise<void> {
    const log = this.logs.get(e.channel)
    if (!log) return
    const r = await log.add([e])
    this.stats.fromRelay += r.added.length
  }
}

const sessionKey = (port: number, peer: string, id: number, initiator: boolean): string =>
  `${port}|${peer}|${id}|${initiator ? 'i' : 'r'}`
