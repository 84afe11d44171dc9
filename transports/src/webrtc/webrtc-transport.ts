/**
 * The WebRTC mesh as a `Transport`. y-webrtc (unmodified) finds peers through the relay's
 * signaling endpoint and owns each RTCPeerConnection; we add two negotiated data channels
 * on every connection it makes — `engine` for sync frames and `bulk` for blobs, so a large
 * image never delays history — and leave y-webrtc's own channel to its awareness document.
 *
 * Peers are known by the id the relay binds to their session (the relay rewrites `from` on
 * every signal), and a peer is only served once `admit` finds it in the signed presence set.
 */
import { LimitError } from '@peerchat/engine'
import { WebrtcProvider } from 'y-webrtc'
import * as Y from 'yjs'
import { TransportEmitter } from '../emitter.ts'
import type {
  Listener,
  PeerId,
  PeerInfo,
  Transport,
  TransportEventName,
  TransportLimits,
} from '../transport.ts'
import { asPeerId } from '../transport.ts'
import { type DataChannelLike, DEFAULT_PIPE_LIMITS, FramePipe, type PipeLimits } from './pipe.ts'

/** A signaling URL without its query (the token): the node and path it reaches. */
const endpointOf = (url: string): string => url.split('?')[0]!

/** Negotiated channel ids: far above the ids simple-peer's own channel can take (0 or 1). */
export const ENGINE_CHANNEL_ID = 100
export const BULK_CHANNEL_ID = 101
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000

export interface WebrtcTransportOptions {
  /** One room per community (not per channel). */
  room: string
  /** Signaling URLs, each carrying the short-lived token the relay issued. */
  signaling: string[]
  /** The id the relay binds to this session on the signaling path. */
  peerId: string
  /** Ephemeral shared state (awareness: typing, viewing, voice); a fresh doc when omitted. */
  doc?: Y.Doc
  /** WebRTC implementation for Node (`@roamhq/wrtc`); browsers use their own. */
  wrtc?: unknown
  iceServers?: { urls: string | string[]; username?: string; credential?: string }[]
  /** Presence check: the info of an admitted peer, undefined to refuse (not served). */
  admit?: (peer: PeerId) => PeerInfo | undefined
  /** Concurrent peer connections y-webrtc may open (its own cap, against floods of announces). */
  maxConns?: number
  /**
   * A connection whose engine channel is not open after this long (ms) is torn down so y-webrtc
   * announces again and retries. Default 15,000. (y-webrtc keeps a connection whose offer was
   * lost to glare or whose ICE never finished, and ignores that peer's announces meanwhile.)
   */
  connectTimeoutMs?: number
  limits?: Partial<PipeLimits>
}

interface Link {
  conn: YConn
  engine: FramePipe
  bulk: FramePipe
  admitted: boolean
  /** Pending until the engine channel opens. */
  connectTimer: ReturnType<typeof setTimeout> | undefined
}

// y-webrtc's internals we rely on (10.3.0): room.peerId, room.webrtcConns, conn.peer._pc
// (simple-peer sets it to null once destroyed).
interface YConn {
  peer: { _pc: { createDataChannel(label: string, init: object): DataChannelLike } | null; destroy(): void }
  closed: boolean
}
interface YRoom {
  peerId: string
  webrtcConns: Map<string, YConn>
}

export class WebrtcTransport implements Transport {
  readonly name = 'webrtc'
  readonly self: PeerId
  readonly limits: TransportLimits
  private readonly pipeLimits: PipeLimits
  private readonly emitter = new TransportEmitter()
  private readonly links = new Map<PeerId, Link>()
  /** Connections we opened our channels on: negotiated ids serve once per connection. */
  private readonly attached = new WeakSet<YConn>()
  /** Connections whose link ended while they stayed open, each with the timer that closes it. */
  private readonly lingering = new Map<YConn, ReturnType<typeof setTimeout>>()
  private attachFailures = 0
  private provider: WebrtcProvider | undefined
  private doc: Y.Doc | undefined

  constructor(private opts: WebrtcTransportOptions) {
    this.self = asPeerId(opts.peerId)
    this.pipeLimits = { ...DEFAULT_PIPE_LIMITS, ...opts.limits }
    this.limits = { maxFrameBytes: this.pipeLimits.maxFrameBytes }
  }

  /** The awareness of the community room (ephemeral hints only: any peer can spoof it). */
  get awareness(): WebrtcProvider['awareness'] | undefined {
    return this.provider?.awareness
  }

  async start(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.provider) return
    this.doc = this.opts.doc ?? new Y.Doc()
    const provider = new WebrtcProvider(this.opts.room, this.doc, {
      signaling: this.opts.signaling,
      maxConns: this.opts.maxConns ?? 16,
      filterBcConns: true,
      peerOpts: {
        ...(this.opts.wrtc ? { wrtc: this.opts.wrtc } : {}),
        config: { iceServers: this.opts.iceServers ?? [] },
      },
    })
    this.provider = provider
    dropStrayAnswers(provider as unknown as GuardedProvider)
    await provider.key
    // y-webrtc picks a random uuid; the relay only relays signals from the id bound to our session.
    this.room().peerId = this.opts.peerId
    provider.on('peers', () => this.syncLinks())
    if (signal?.aborted) {
      await this.stop()
      signal.throwIfAborted()
    }
  }

  async stop(): Promise<void> {
    const provider = this.provider
    if (!provider) return
    this.provider = undefined
    for (const peer of [...this.links.keys()]) this.drop(peer)
    for (const timer of this.lingering.values()) clearTimeout(timer)
    this.lingering.clear()
    provider.disconnect()
    provider.destroy()
    await provider.key // y-webrtc frees the room name after this promise
    if (!this.opts.doc) this.doc?.destroy()
    this.doc = undefined
  }

  send(peer: PeerId, bytes: Uint8Array): boolean {
    return this.sendOn('engine', peer, bytes)
  }

  /** Sends on the bulk channel (blobs), which never delays engine frames. */
  sendBulk(peer: PeerId, bytes: Uint8Array): boolean {
    return this.sendOn('bulk', peer, bytes)
  }

  broadcast(bytes: Uint8Array): number {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('a frame must be a Uint8Array')
    if (bytes.length > this.limits.maxFrameBytes)
      throw new LimitError(`frame exceeds ${this.limits.maxFrameBytes} bytes`, 'maxFrameBytes')
    let n = 0
    for (const peer of this.links.keys()) if (this.send(peer, bytes)) n++
    return n
  }

  peers(): ReadonlyMap<PeerId, PeerInfo> {
    const out = new Map<PeerId, PeerInfo>()
    for (const [peer, link] of this.links) if (link.admitted) out.set(peer, this.infoOf(peer))
    return out
  }

  on<E extends TransportEventName>(event: E, listener: Listener<E>): () => void {
    return this.emitter.on(event, listener)
  }

  /**
   * Points y-webrtc's signaling connections at new URLs (a fresh token): they reconnect with
   * whatever URL they hold, and a token expires after a few minutes. Open links are untouched.
   * A URL on another endpoint (the relay client failed over to another node) also closes the
   * connection's socket: it reconnects there at once, instead of staying on a node this session
   * left (whose signaling admits only its own sessions' tokens).
   */
  updateSignaling(urls: string[]): void {
    this.opts = { ...this.opts, signaling: urls }
    const conns = (
      this.provider as unknown as
        | { signalingConns?: { url: string; ws: { close(): void } | null }[] }
        | undefined
    )?.signalingConns
    conns?.forEach((conn, i) => {
      const url = urls[i]
      if (!url) return
      const moved = endpointOf(conn.url) !== endpointOf(url)
      conn.url = url
      if (moved) conn.ws?.close()
    })
  }

  /** Re-runs `admit` for connected peers not yet admitted (call when presence changes). */
  readmit(): void {
    for (const [peer, link] of this.links) if (!link.admitted && link.engine.open) this.tryAdmit(peer, link)
  }

  /**
   * Bytes moved by the data channels so far (for the sync-status panel and the relay-bytes check),
   * and how many connections closed under us before our channels could be opened on them.
   */
  stats(): { bytesIn: number; bytesOut: number; peers: number; attachFailures: number } {
    let bytesIn = 0
    let bytesOut = 0
    for (const l of this.links.values()) {
      bytesIn += l.engine.bytesIn + l.bulk.bytesIn
      bytesOut += l.engine.bytesOut + l.bulk.bytesOut
    }
    return { bytesIn, bytesOut, peers: this.links.size, attachFailures: this.attachFailures }
  }

  private sendOn(lane: 'engine' | 'bulk', peer: PeerId, bytes: Uint8Array): boolean {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('a frame must be a Uint8Array')
    if (bytes.length > this.limits.maxFrameBytes)
      throw new LimitError(`frame exceeds ${this.limits.maxFrameBytes} bytes`, 'maxFrameBytes')
    const link = this.links.get(peer)
    if (!link?.admitted) return false
    return link[lane].send(bytes)
  }

  private room(): YRoom {
    return (this.provider as unknown as { room: YRoom }).room
  }

  private infoOf(peer: PeerId): PeerInfo {
    return this.opts.admit?.(peer) ?? {}
  }

  /**
   * Runs on y-webrtc's `peers` event, which it also emits from a connection's close handler: a
   * connection in the room may be closing under us here, and nothing may throw (issue #11).
   */
  private syncLinks(): void {
    if (!this.provider) return
    const conns = this.room().webrtcConns
    // Links whose connection y-webrtc closed or replaced: one that closes before it connected
    // never closes its channels, so nothing else would drop its link before the watchdog.
    for (const [peer, link] of this.links) if (conns.get(peer) !== link.conn) this.drop(peer, true)
    for (const [conn, timer] of this.lingering) {
      if (!conn.closed) continue
      clearTimeout(timer)
      this.lingering.delete(conn)
    }
    for (const [id, conn] of conns) {
      // A connection we attached to once is closed after its link (`drop`, `closeIfLingering`).
      if (!conn.closed && !this.attached.has(conn)) this.attach(asPeerId(id), conn)
    }
  }

  private attach(peer: PeerId, conn: YConn): void {
    this.attached.add(conn)
    const channels = openChannels(conn)
    if (!channels) {
      // Closing under us: no link, no timer. Closing it lets y-webrtc reconnect on the next announce.
      this.attachFailures++
      conn.peer.destroy()
      return
    }
    const [engineChannel, bulkChannel] = channels
    const onError = () => this.drop(peer, true)
    const link: Link = {
      conn,
      admitted: false,
      connectTimer: setTimeout(
        () => this.links.get(peer) === link && this.drop(peer, true),
        this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      ),
      engine: new FramePipe(engineChannel, this.pipeLimits, (bytes) => this.deliver(peer, bytes), onError),
      bulk: new FramePipe(bulkChannel, this.pipeLimits, (bytes) => this.deliver(peer, bytes), onError),
    }
    this.links.set(peer, link)
    engineChannel.onopen = () => {
      clearTimeout(link.connectTimer)
      this.tryAdmit(peer, link)
    }
    engineChannel.onclose = () => {
      if (this.links.get(peer) !== link) return
      this.drop(peer)
      this.closeIfLingering(conn)
    }
  }

  /**
   * A connection that lost its engine channel cannot carry a new link (negotiated ids serve once),
   * so it must close for y-webrtc to reconnect. Usually the remote is closing it already (its
   * `stop` closes the channels first), and closing ours in that same moment crashes @roamhq/wrtc
   * (SIGSEGV): close it only if it is still open after `connectTimeoutMs`.
   */
  private closeIfLingering(conn: YConn): void {
    if (conn.closed || this.lingering.has(conn)) return
    const timer = setTimeout(() => {
      this.lingering.delete(conn)
      if (!conn.closed) conn.peer.destroy()
    }, this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS)
    this.lingering.set(conn, timer)
  }

  private tryAdmit(peer: PeerId, link: Link): void {
    if (link.admitted || this.links.get(peer) !== link) return
    const info = this.opts.admit ? this.opts.admit(peer) : {}
    if (!info) return // not in the presence set (yet): connected but not served
    link.admitted = true
    this.emitter.emit('peer-joined', { peer, info })
  }

  private deliver(peer: PeerId, bytes: Uint8Array): void {
    if (this.links.get(peer)?.admitted) this.emitter.emit('frame', { from: peer, bytes })
  }

  private drop(peer: PeerId, closeConnection = false): void {
    const link = this.links.get(peer)
    if (!link) return
    this.links.delete(peer)
    clearTimeout(link.connectTimer)
    link.engine.close()
    link.bulk.close()
    if (closeConnection) link.conn.peer.destroy()
    if (link.admitted) this.emitter.emit('peer-left', { peer })
  }
}

/**
 * Our two negotiated channels on y-webrtc's connection, or undefined when it cannot take them:
 * closed, destroyed by simple-peer, or still holding our ids (a connection that never connected,
 * or whose SCTP association was aborted, never releases a closed channel's id; @roamhq/wrtc then
 * throws InvalidStateError "'createDataChannel' failed"). A half-opened pair is closed again.
 */
function openChannels(conn: YConn): [DataChannelLike, DataChannelLike] | undefined {
  const pc = conn.peer._pc
  if (!pc) return undefined
  const open = (label: string, id: number) =>
    pc.createDataChannel(label, { negotiated: true, id, ordered: true })
  let engine: DataChannelLike | undefined
  try {
    engine = open('peerchat-engine', ENGINE_CHANNEL_ID)
    return [engine, open('peerchat-bulk', BULK_CHANNEL_ID)]
  } catch {
    try {
      engine?.close()
    } catch {
      // closed with its connection
    }
    return undefined
  }
}

interface GuardedProvider {
  roomName: string
  room: { webrtcConns: Map<string, unknown> } | null
  signalingConns: { emit(name: string, args: unknown[]): void }[]
}

/** Signaling connections whose messages pass `dropStrayAnswers`' check (shared by providers of a realm). */
const guardedConns = new WeakSet<object>()

/**
 * y-webrtc 10.3.0 throws on an `answer` from a peer it holds no connection for — one closed
 * while the answer was on its way — inside its signaling message handler: an uncaught error that
 * kills a Node process and is a page error in a browser. Such an answer is dropped before
 * y-webrtc sees it (there is nothing it could answer).
 */
function dropStrayAnswers(provider: GuardedProvider): void {
  for (const conn of provider.signalingConns) {
    if (guardedConns.has(conn)) continue
    guardedConns.add(conn)
    const emit = conn.emit.bind(conn)
    conn.emit = (name, args) => {
      if (name === 'message' && isStrayAnswer(provider, args[0])) return
      emit(name, args)
    }
  }
}

function isStrayAnswer(provider: GuardedProvider, m: unknown): boolean {
  const msg = m as { type?: unknown; topic?: unknown; data?: { signal?: { type?: unknown }; from?: unknown } }
  if (msg?.type !== 'publish' || msg.topic !== provider.roomName) return false
  const data = msg.data
  if (data?.signal?.type !== 'answer' || typeof data.from !== 'string') return false
  return provider.room?.webrtcConns.has(data.from) !== true
}
