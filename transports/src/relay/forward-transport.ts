/**
 * The WebRTC fallback as a `Transport`: peer frames relayed by the relay between logged-in
 * sessions, for when no direct connection can be made (no TURN, strict NAT). It is bounded —
 * the relay grants each session a byte budget (`forwardBytesPerSecond`, `forwardBurstBytes`) —
 * and measured (`stats`), so a peer ranks it after any direct link.
 *
 * Peers are the keys in the relay's signed presence of our channels that this client knows (each
 * channel's head, and whoever was looked up or paged: docs/protocol/relay.md §5); a peer id is the
 * base64url public key, routed to that key's most recent session (a second device of the same key
 * is not a separate peer on this path). Frames from a session not known yet are held (bounded)
 * while it is looked up (`lookup`), and served once it is found.
 */
import { FrameLimits, LimitError, publicKeyToText, type Session, toHex } from '@peerchat/engine'
import { chunkFrame, Reassembler } from '../chunker.ts'
import { TransportEmitter } from '../emitter.ts'
import {
  asPeerId,
  type Listener,
  type PeerId,
  type PeerInfo,
  type Transport,
  type TransportEventName,
  type TransportLimits,
} from '../transport.ts'
import type { RelayClient } from './relay-client.ts'

export const DEFAULT_FORWARD_MAX_FRAME_BYTES = 1024 * 1024
/** Senders whose frames wait for their lookup, at most (the oldest is dropped beyond) ... */
export const MAX_HELD_SENDERS = 16
/** ... and bytes held per sender (its later chunks are dropped beyond). */
export const MAX_HELD_BYTES = 256 * 1024

export class RelayForwardTransport implements Transport {
  readonly name = 'relay'
  readonly fallback = true
  readonly self: PeerId
  readonly limits: TransportLimits
  readonly stats = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0 }
  private readonly emitter = new TransportEmitter()
  private readonly current = new Map<PeerId, PeerInfo>()
  /** Peer -> the session frames to it are forwarded to. */
  private readonly sessions = new Map<PeerId, Uint8Array>()
  private readonly inbound = new Map<PeerId, Reassembler>()
  /** Chunks from sessions not known yet, while they are looked up: peer -> session (hex) and chunks. */
  private readonly held = new Map<PeerId, { session: string; chunks: Uint8Array[]; bytes: number }>()
  private offs: (() => void)[] = []

  /**
   * With `ownsClient`, start/stop also start/stop the relay client, so this end leaves the
   * others' presence (and so their peer lists) when it stops; a client shared with the live
   * event path is left running.
   */
  constructor(
    private readonly client: RelayClient,
    /** The channels whose presence makes the peer set (read on every change). */
    private readonly channels: readonly string[] | (() => readonly string[]),
    private readonly o: {
      maxFrameBytes?: number
      ownsClient?: boolean
      /** Whether a key is a virtual client (ranked last), as connectPeer's `isVirtual`. */
      isVirtual?: (key: Uint8Array) => boolean
      /** Asks the relay for a key's sessions (`MemberLookup.want`); the client's presence event follows. */
      lookup?: (key: Uint8Array) => void
    } = {},
  ) {
    const maxFrameBytes = o.maxFrameBytes ?? DEFAULT_FORWARD_MAX_FRAME_BYTES
    this.self = asPeerId(publicKeyToText(client.identityKey))
    this.limits = { maxFrameBytes }
  }

  async start(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.offs.length) return
    this.offs = [
      this.client.on('presence', () => this.refresh()),
      this.client.on('state', () => this.refresh()),
      this.client.on('forwarded', (f) => this.receive(f.from, f.fromKey, f.payload)),
    ]
    if (this.o.ownsClient) await this.client.start()
    this.refresh()
  }

  async stop(): Promise<void> {
    if (!this.offs.length) return
    for (const off of this.offs.splice(0)) off()
    for (const peer of [...this.current.keys()]) this.leave(peer)
    this.inbound.clear()
    this.held.clear()
    if (this.o.ownsClient) await this.client.stop()
  }

  /** Subscriptions and buffers still held (0 once stopped). */
  get openHandles(): number {
    return this.offs.length + this.inbound.size + this.held.size
  }

  send(peer: PeerId, bytes: Uint8Array): boolean {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('a frame must be a Uint8Array')
    if (bytes.length > this.limits.maxFrameBytes)
      throw new LimitError(`frame exceeds ${this.limits.maxFrameBytes} bytes`, 'maxFrameBytes')
    const to = this.sessions.get(peer)
    if (!to) return false
    for (const chunk of chunkFrame(bytes, FrameLimits.forwardPayload)) {
      if (!this.client.forward(to, chunk)) return false
      this.stats.bytesOut += chunk.length
    }
    this.stats.framesOut++
    return true
  }

  broadcast(bytes: Uint8Array): number {
    let n = 0
    for (const peer of this.current.keys()) if (this.send(peer, bytes)) n++
    return n
  }

  peers(): ReadonlyMap<PeerId, PeerInfo> {
    return this.current
  }

  on<E extends TransportEventName>(event: E, listener: Listener<E>): () => void {
    return this.emitter.on(event, listener)
  }

  /** Re-derives the peer set from presence: joins and leaves become peer events. */
  private refresh(): void {
    const next = new Map<PeerId, Session>()
    if (this.client.state === 'online')
      for (const c of typeof this.channels === 'function' ? this.channels() : this.channels)
        for (const s of this.client.members(c).values()) {
          const peer = asPeerId(publicKeyToText(s.publicKey))
          if (peer === this.self) continue
          const seen = next.get(peer)
          if (!seen || s.issued >= seen.issued) next.set(peer, s)
        }
    for (const peer of [...this.current.keys()]) if (!next.has(peer)) this.leave(peer)
    for (const [peer, s] of next) {
      this.sessions.set(peer, s.sessionId)
      if (!this.current.has(peer)) {
        const info: PeerInfo = {
          key: s.publicKey,
          kind: this.o.isVirtual?.(s.publicKey) ? 'virtual' : 'client',
        }
        this.current.set(peer, info)
        this.emitter.emit('peer-joined', { peer, info })
      }
      // Frames that came before the sender was known are served now.
      const held = this.held.get(peer)
      if (held && held.session === toHex(s.sessionId)) {
        this.held.delete(peer)
        for (const chunk of held.chunks) this.receive(s.sessionId, s.publicKey, chunk)
      }
    }
  }

  /** Keeps a chunk of a session we do not know (within bounds) and asks the relay about its key. */
  private hold(peer: PeerId, from: Uint8Array, fromKey: Uint8Array, chunk: Uint8Array): void {
    if (!this.o.lookup || peer === this.self) return
    const session = toHex(from)
    let h = this.held.get(peer)
    if (!h || h.session !== session) {
      h = { session, chunks: [], bytes: 0 }
      this.held.delete(peer)
      this.held.set(peer, h)
      if (this.held.size > MAX_HELD_SENDERS) this.held.delete(this.held.keys().next().value!)
    }
    if (h.bytes + chunk.length <= MAX_HELD_BYTES) {
      h.chunks.push(chunk)
      h.bytes += chunk.length
    }
    this.o.lookup(fromKey)
  }

  private leave(peer: PeerId): void {
    this.current.delete(peer)
    this.sessions.delete(peer)
    this.inbound.delete(peer)
    this.emitter.emit('peer-left', { peer })
  }

  private receive(from: Uint8Array, fromKey: Uint8Array, chunk: Uint8Array): void {
    const peer = asPeerId(publicKeyToText(fromKey))
    const session = this.sessions.get(peer)
    // Only from the session in the signed presence we route to; another is held and looked up.
    if (!session || toHex(session) !== toHex(from)) {
      this.hold(peer, from, fromKey, chunk)
      return
    }
    this.stats.bytesIn += chunk.length
    let r = this.inbound.get(peer)
    if (!r) {
      r = new Reassembler(this.limits.maxFrameBytes, FrameLimits.forwardPayload)
      this.inbound.set(peer, r)
    }
    try {
      const frame = r.push(chunk)
      if (!frame) return
      this.stats.framesIn++
      this.emitter.emit('frame', { from: peer, bytes: frame })
    } catch {
      this.inbound.delete(peer) // a malformed stream: drop what was buffered
    }
  }
}
