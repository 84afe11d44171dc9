/**
 * The Peer: the sync protocol of one replica over any number of mesh ports. It runs
 * reconciliation sessions (initiated with `sync`, or answered for the channels it holds),
 * measures round-trip times, ranks the peers able to serve, and tags what each session
 * stores with its source. When and with whom to sync is the Replica's policy (sync-policy.ts).
 *
 * A replica takes part in at most `maxSessionsPerChannel` sessions of a channel at once
 * (default 1): otherwise a replica missing events receives each of them from every peer that
 * reconciles with it at the same moment. A session asked while the channel is busy is answered
 * `busy`, and the asking side tries again later. Time comes from an injected `Scheduler`.
 */
import { toHex } from '../bytes.ts'
import { realClock, type Scheduler } from '../clock.ts'
import type { Ed25519Backend } from '../identity/backend.ts'
import { publicKeyToText } from '../identity/keys.ts'
import { ChannelLog } from '../log.ts'
import type { MeshPeerInfo, MeshPort } from '../mesh/port.ts'
import { Protocol, protocolPort } from '../mesh/protocol.ts'
import {
  DEFAULT_MAX_FRAME_BYTES,
  MIN_FRAME_BYTES,
  Reconciler,
  type ReconcilerOptions,
} from '../reconcile/reconciler.ts'
import type { Source } from '../source.ts'
import type { IdRange, Store } from '../store/store.ts'
import {
  decodePeerFrame,
  encodePeerFrame,
  MAX_SESSION_ID,
  PEER_FRAME_OVERHEAD,
  type PeerFrame,
} from './frames.ts'

export interface PeerOptions {
  store: Store
  relayKeys: Uint8Array[]
  verifyAuthors?: boolean
  backend?: Ed25519Backend
  /** Accept history covered by relay checkpoints by hashing it (default true; see ChannelLog). */
  checkpoints?: boolean
  /** Timers and time (default the real clock). */
  clock?: Scheduler
  /** A session with no frame for this long is abandoned. */
  sessionTimeoutMs?: number
  /** Sessions one remote peer may hold open with us at once (more are refused). */
  maxSessionsPerPeer?: number
  /** Sessions of one channel at once, either role (more are answered `busy`). */
  maxSessionsPerChannel?: number
  reconcile?: Omit<ReconcilerOptions, 'range' | 'source'>
}

export const PeerDefaults = {
  sessionTimeoutMs: 30_000,
  maxSessionsPerPeer: 8,
  maxSessionsPerChannel: 1,
  maxReports: 1000,
} as const

export interface SyncReport {
  channel: string
  /** Where the session's events came from. */
  source: Extract<Source, { via: 'peer' }>
  range?: IdRange
  added: number
  rejected: number
  rounds: number
  bytesIn: number
  bytesOut: number
  ms: number
  complete: boolean
  /** Why it did not complete; `busy`: the peer was syncing the channel with someone else. */
  error?: string
}

/** A peer able to serve, on one port. */
export interface Candidate {
  port: number
  peer: string
  info: MeshPeerInfo
  rtt: number
  /** The port is the relay's forwarded fallback. */
  fallback: boolean
}

interface Session {
  reconciler: Reconciler
  port: number
  peer: string
  channel: string
  id: number
  initiator: boolean
  cancelTimer: () => void
  report: SyncReport
  started: number
  finish?: (r: SyncReport) => void
}

interface Attached {
  port: MeshPort
  offs: (() => void)[]
}

export const BUSY = 'busy'
/** A sync report's `error` when the peer does not hold the channel (ask another). */
export const ABSENT = 'absent'
/** A session ended because its peer's key reconnected on a newer link. */
export const SUPERSEDED = 'superseded by a newer link'

export class Peer {
  private readonly logs = new Map<string, ChannelLog>()
  private readonly ports = new Map<number, Attached>()
  private readonly sessions = new Map<string, Session>()
  /** Initiations waiting for their channel to be free, per channel. */
  private readonly waiting = new Map<string, (() => void)[]>()
  private readonly rtt = new Map<string, number>()
  /** When each link joined (a counter), by `port:peer`: a key's newest link on a port is used. */
  private readonly joinOrder = new Map<string, number>()
  private nextJoin = 0
  private readonly pings = new Map<number, { key: string; at: number }>()
  private readonly joinListeners = new Set<(c: Candidate) => void>()
  private readonly clock: Scheduler
  private nextPort = 0
  private nextSession = 1
  private nextPing = 1
  private stopped = false
  readonly reports: SyncReport[] = []
  readonly stats = {
    fromPeers: 0,
    /** Events peers sent that the log refused (forged, malformed, conflicting), either role. */
    rejected: 0,
    /**
     * Events sent to peers, and the bytes of the sync frames sent, in either role: reconciliation
     * is two-way, so a replica that starts a session may serve as much as one that answers it.
     */
    served: 0,
    servedBytes: 0,
    refusedSessions: 0,
    busy: 0,
    badFrames: 0,
    /** Author signatures of checkpoint-vouched events checked in the background ... */
    audited: 0,
    /** ... and events removed because the relay vouched for a forged one. */
    forged: 0,
  }
  /** Background author checks, one at a time per channel. */
  private readonly audits = new Map<string, Promise<void>>()

  constructor(private readonly opts: PeerOptions) {
    this.clock = opts.clock ?? realClock
  }

  /** Speaks the sync protocol on `port` from now on; returns the function that detaches it. */
  attach(port: MeshPort): () => void {
    const i = this.nextPort++
    const sync = protocolPort(port, Protocol.sync)
    const attached: Attached = {
      port: sync,
      offs: [
        sync.on('frame', ({ from, bytes }) => void this.clock.track(this.onFrame(i, from, bytes))),
        sync.on('peer-joined', ({ peer }) => this.peerJoined(i, peer)),
        sync.on('peer-left', ({ peer }) => this.peerLeft(i, peer)),
      ],
    }
    this.ports.set(i, attached)
    for (const peer of sync.peers().keys()) this.peerJoined(i, peer)
    return () => {
      if (this.ports.get(i) !== attached) return
      for (const off of attached.offs) off()
      this.ports.delete(i)
      for (const peer of sync.peers().keys()) this.peerLeft(i, peer)
    }
  }

  /** Called when a peer appears on any port (after its ping is sent). */
  onPeerJoined(listener: (c: Candidate) => void): () => void {
    this.joinListeners.add(listener)
    return () => this.joinListeners.delete(listener)
  }

  /** The log of a channel, created on first use. */
  open(channel: string): ChannelLog {
    let log = this.logs.get(channel)
    if (!log) {
      log = new ChannelLog({
        channel,
        store: this.opts.store,
        relayKeys: this.opts.relayKeys,
        ...(this.opts.verifyAuthors !== undefined ? { verifyAuthors: this.opts.verifyAuthors } : {}),
        ...(this.opts.backend ? { backend: this.opts.backend } : {}),
        ...(this.opts.checkpoints !== undefined ? { checkpoints: this.opts.checkpoints } : {}),
      })
      this.logs.set(channel, log)
    }
    return log
  }

  log(channel: string): ChannelLog | undefined {
    return this.logs.get(channel)
  }

  get channels(): string[] {
    return [...this.logs.keys()]
  }

  /** The port attached under index `i` (as the sync protocol sees it). */
  port(i: number): MeshPort | undefined {
    return this.ports.get(i)?.port
  }

  /**
   * Mesh peers able to serve, best first: real clients before virtual ones, direct links
   * before the relay fallback, then lowest RTT. A key reachable over several links appears
   * once, by its best link.
   */
  candidates(): Candidate[] {
    const out: Candidate[] = []
    for (const [i, { port }] of this.ports)
      for (const [peer, info] of port.peers())
        out.push({
          port: i,
          peer,
          info,
          rtt: this.rtt.get(`${i}:${peer}`) ?? Infinity,
          fallback: port.fallback === true,
        })
    // A key on several ids of one port: it reconnected (a reload) before its old link was found
    // dead, which takes WebRTC ~15 s, or it has a second tab. Its newest link is the live one;
    // a session on the old one would wait for that link to die, holding the channel busy.
    const newest = new Map<string, number>()
    const order = (c: Candidate) => this.joinOrder.get(`${c.port}:${c.peer}`) ?? -1
    for (const c of out)
      if (c.info.key) {
        const k = `${c.port}:${toHex(c.info.key)}`
        newest.set(k, Math.max(newest.get(k) ?? -1, order(c)))
      }
    const live = out.filter((c) => !c.info.key || newest.get(`${c.port}:${toHex(c.info.key)}`) === order(c))
    const rank = (c: Candidate) => (c.info.kind === 'virtual' ? 2 : 0) + (c.fallback ? 1 : 0)
    live.sort((a, b) => rank(a) - rank(b) || a.rtt - b.rtt || a.port - b.port)
    const seen = new Set<string>()
    return live.filter((c) => {
      if (!c.info.key) return true
      const key = toHex(c.info.key)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }

  /**
   * Reconciles a channel (or only `range` of it) with one peer: the given one, else the best
   * candidate, falling back to the next when a peer fails. Waits while the channel is busy
   * with another session here. Resolves with the report; never rejects.
   */
  async sync(
    channel: string,
    o: { range?: IdRange; peer?: { port: number; peer: string } } = {},
  ): Promise<SyncReport> {
    const log = this.open(channel)
    const targets = o.peer ? [o.peer] : this.candidates()
    if (targets.length === 0) return this.failed(channel, 'no peer to sync with', o.range)
    let last: SyncReport | undefined
    for (const t of targets) {
      await this.turn(channel)
      if (this.stopped) return this.failed(channel, 'peer stopped', o.range)
      last = await this.runSession(log, t.port, t.peer, o.range)
      if (last.complete) return last
    }
    return last!
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const { offs } of this.ports.values()) for (const off of offs) off()
    this.ports.clear()
    for (const s of [...this.sessions.values()]) this.end(s, 'peer stopped')
    for (const wake of [...this.waiting.values()].flat()) wake()
    this.waiting.clear()
    this.pings.clear()
    this.joinListeners.clear()
  }

  /** Resolves once the background author checks of vouched events have caught up. */
  async audited(): Promise<void> {
    while (this.audits.size > 0) await Promise.all(this.audits.values())
  }

  // ---- sessions --------------------------------------------------------------------------

  private active(channel: string): number {
    let n = 0
    for (const s of this.sessions.values()) if (s.channel === channel) n++
    return n
  }

  private get perChannel(): number {
    return this.opts.maxSessionsPerChannel ?? PeerDefaults.maxSessionsPerChannel
  }

  /** Resolves when this replica may start one more session of `channel`. */
  private async turn(channel: string): Promise<void> {
    while (!this.stopped && this.active(channel) >= this.perChannel)
      await new Promise<void>((resolve) => {
        const list = this.waiting.get(channel) ?? []
        list.push(resolve)
        this.waiting.set(channel, list)
      })
  }

  private failed(channel: string, error: string, range?: IdRange): SyncReport {
    return { ...emptyReport(channel, { via: 'peer', peer: '', link: '', kind: 'unknown' }, range), error }
  }

  private runSession(log: ChannelLog, port: number, peer: string, range?: IdRange): Promise<SyncReport> {
    if (!this.ports.get(port)?.port.peers().has(peer))
      return Promise.resolve(this.failed(log.channel, 'peer unreachable', range))
    const id = this.nextSession
    this.nextSession = this.nextSession >= MAX_SESSION_ID ? 1 : this.nextSession + 1
    const s = this.newSession(log, port, peer, id, true, range)
    return new Promise((resolve) => {
      s.finish = resolve
      void this.clock.track(
        s.reconciler.initiate().then(
          (payload) => this.sendReconcile(s, payload),
          (e) => this.end(s, (e as Error).message),
        ),
      )
    })
  }

  private sourceOf(port: number, peer: string): Extract<Source, { via: 'peer' }> {
    const p = this.ports.get(port)?.port
    const info = p?.peers().get(peer)
    return {
      via: 'peer',
      peer: info?.key ? publicKeyToText(info.key) : peer,
      link: p?.fallback ? 'relay forwarding' : (p?.name ?? `port ${port}`),
      kind: info?.kind ?? 'unknown',
    }
  }

  private newSession(
    log: ChannelLog,
    port: number,
    peer: string,
    id: number,
    initiator: boolean,
    range?: IdRange,
  ): Session {
    const source = this.sourceOf(port, peer)
    const s: Session = {
      // Pipelined: a catch-up's sender prepares its next frame while this side stores the last.
      reconciler: new Reconciler(log, {
        pipeline: true,
        ...this.opts.reconcile,
        maxFrameBytes: this.frameBudget(port),
        ...(range ? { range } : {}),
        source,
      }),
      port,
      peer,
      channel: log.channel,
      id,
      initiator,
      cancelTimer: () => {},
      started: this.clock.now(),
      report: emptyReport(log.channel, source, range),
    }
    this.sessions.set(sessionKey(port, peer, id, initiator), s)
    this.arm(s)
    return s
  }

  /** Reconciliation frame size for a port: the configured one, within what the link carries. */
  private frameBudget(port: number): number {
    const wanted = this.opts.reconcile?.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    const limit = this.ports.get(port)?.port.limits?.maxFrameBytes
    return limit === undefined
      ? wanted
      : Math.max(MIN_FRAME_BYTES, Math.min(wanted, limit - PEER_FRAME_OVERHEAD))
  }

  private arm(s: Session): void {
    s.cancelTimer()
    s.cancelTimer = this.clock.setTimeout(
      () => this.end(s, 'timed out'),
      this.opts.sessionTimeoutMs ?? PeerDefaults.sessionTimeoutMs,
    )
  }

  private send(port: number, peer: string, frame: PeerFrame): boolean {
    return this.ports.get(port)?.port.send(peer, encodePeerFrame(frame)) ?? false
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
    this.stats.servedBytes += bytes.length
    if (!this.ports.get(s.port)?.port.send(s.peer, bytes)) this.end(s, 'peer unreachable')
  }

  private end(s: Session, error?: string): void {
    const key = sessionKey(s.port, s.peer, s.id, s.initiator)
    if (this.sessions.get(key) !== s) return
    this.sessions.delete(key)
    s.cancelTimer()
    s.report.ms = this.clock.now() - s.started
    s.report.complete = error === undefined
    if (error) s.report.error = error
    if (s.initiator) {
      this.reports.push(s.report)
      if (this.reports.length > PeerDefaults.maxReports) this.reports.shift()
    }
    s.finish?.(s.report)
    this.waiting.get(s.channel)?.shift()?.()
    this.auditLater(s.channel)
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
    void this.clock.track(run)
  }

  private async onFrame(port: number, from: string, bytes: Uint8Array): Promise<void> {
    if (this.stopped) return
    let frame: PeerFrame
    try {
      frame = decodePeerFrame(bytes)
    } catch {
      this.stats.badFrames++
      return
    }
    if (frame.type === 'ping') {
      this.send(port, from, { type: 'pong', n: frame.n })
      return
    }
    if (frame.type === 'pong') {
      const p = this.pings.get(frame.n)
      if (p?.key === `${port}:${from}`) {
        this.pings.delete(frame.n)
        this.rtt.set(p.key, this.clock.now() - p.at)
      }
      return
    }
    if (frame.type === 'end' || frame.type === 'busy' || frame.type === 'absent') {
      const s = this.sessions.get(sessionKey(port, from, frame.session, true))
      const why = frame.type === 'busy' ? BUSY : frame.type === 'absent' ? ABSENT : undefined
      if (s && s.channel === frame.channel) this.end(s, why)
      return
    }
    // A frame from the initiator belongs to our responder session, and vice versa.
    const key = sessionKey(port, from, frame.session, !frame.fromInitiator)
    let s = this.sessions.get(key)
    if (!s) {
      const log = this.logs.get(frame.channel)
      if (!frame.fromInitiator) return // an unknown session
      if (!log) {
        // A channel we do not hold: say so at once, so the initiator asks someone else.
        this.send(port, from, { type: 'absent', session: frame.session, channel: frame.channel })
        return
      }
      if (this.sessionsOf(port, from) >= (this.opts.maxSessionsPerPeer ?? PeerDefaults.maxSessionsPerPeer)) {
        this.stats.refusedSessions++
        this.send(port, from, { type: 'busy', session: frame.session, channel: frame.channel })
        return
      }
      if (this.active(frame.channel) >= this.perChannel) this.yieldGlare(port, from, frame.channel)
      if (this.active(frame.channel) >= this.perChannel) {
        this.stats.busy++
        this.send(port, from, { type: 'busy', session: frame.session, channel: frame.channel })
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
      this.stats.rejected += r.rejected
      this.stats.served += s.reconciler.stats.eventsSent - eventsBefore
      if (r.reply) {
        this.sendReconcile(s, r.reply)
        // A responder's final frame (the initiator answers it with nothing): the session is over
        // here, or it would hold the channel busy for every other peer until it times out.
        if (r.done && !s.initiator) this.end(s)
      } else if (!s.initiator) {
        // Nothing left to send: tell the initiator, which would otherwise wait for a reply.
        this.send(port, from, { type: 'end', session: s.id, channel: s.channel })
        this.end(s)
      } else if (r.done) this.end(s)
    } catch (e) {
      this.end(s, (e as Error).message)
    }
  }

  /**
   * Both sides of a pair asked each other at once (glare): the side with the greater id drops
   * its own request and answers the other's, which reconciles the same pair both ways.
   */
  private yieldGlare(port: number, from: string, channel: string): void {
    const self = this.ports.get(port)?.port.self
    if (self === undefined || self < from) return
    for (const s of this.sessions.values())
      if (
        s.initiator &&
        s.port === port &&
        s.peer === from &&
        s.channel === channel &&
        s.report.rounds === 0
      ) {
        this.end(s, BUSY)
        return
      }
  }

  private sessionsOf(port: number, peer: string): number {
    let n = 0
    for (const s of this.sessions.values()) if (s.port === port && s.peer === peer && !s.initiator) n++
    return n
  }

  private peerJoined(port: number, peer: string): void {
    if (this.stopped) return
    this.joinOrder.set(`${port}:${peer}`, this.nextJoin++)
    const n = this.nextPing++
    this.pings.set(n, { key: `${port}:${peer}`, at: this.clock.now() })
    // Bounded: a ping never answered is forgotten once the map holds a round of them.
    if (this.pings.size > 4096) this.pings.delete(this.pings.keys().next().value!)
    this.send(port, peer, { type: 'ping', n })
    const p = this.ports.get(port)?.port
    const info = p?.peers().get(peer) ?? {}
    // The same key on a new id of this port reconnected: sessions on its old link wait for a
    // peer that is gone (or, a second tab, are tried again by the asker).
    if (info.key) {
      const key = toHex(info.key)
      for (const s of [...this.sessions.values()]) {
        const old = s.port === port && s.peer !== peer ? p?.peers().get(s.peer)?.key : undefined
        if (old && toHex(old) === key) this.end(s, SUPERSEDED)
      }
    }
    const c: Candidate = { port, peer, info, rtt: Infinity, fallback: p?.fallback === true }
    for (const listener of [...this.joinListeners]) listener(c)
  }

  private peerLeft(port: number, peer: string): void {
    this.rtt.delete(`${port}:${peer}`)
    this.joinOrder.delete(`${port}:${peer}`)
    for (const s of [...this.sessions.values()])
      if (s.port === port && s.peer === peer) this.end(s, 'peer left')
  }
}

const sessionKey = (port: number, peer: string, id: number, initiator: boolean): string =>
  `${port}|${peer}|${id}|${initiator ? 'i' : 'r'}`

function emptyReport(channel: string, source: SyncReport['source'], range?: IdRange): SyncReport {
  return {
    channel,
    source,
    ...(range ? { range } : {}),
    added: 0,
    rejected: 0,
    rounds: 0,
    bytesIn: 0,
    bytesOut: 0,
    ms: 0,
    complete: false,
  }
}
