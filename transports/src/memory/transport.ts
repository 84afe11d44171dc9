/** A `Transport` on a `MemoryNetwork`. */
import { abytes, LimitError } from '@peerchat/engine'
import { TransportEmitter } from '../emitter.ts'
import type {
  Listener,
  PeerId,
  PeerInfo,
  Transport,
  TransportEventName,
  TransportLimits,
} from '../transport.ts'

/** What the network calls on a started transport. */
export interface Endpoint {
  readonly id: PeerId
  readonly info: PeerInfo
  joined(peer: PeerId, info: PeerInfo): void
  left(peer: PeerId): void
  receive(from: PeerId, bytes: Uint8Array): void
}

/** The network as a transport sees it (`MemoryNetwork` implements it). */
export interface MemoryPort {
  attach(endpoint: Endpoint): void
  detach(id: PeerId): void
  transmit(from: PeerId, to: PeerId, bytes: Uint8Array): boolean
}

/** Largest frame a memory transport sends by default (the relay's own limit is smaller). */
export const DEFAULT_MEMORY_MAX_FRAME_BYTES = 256 * 1024

export interface MemoryTransportOptions {
  info?: PeerInfo
  maxFrameBytes?: number
}

export class MemoryTransport implements Transport {
  readonly name = 'memory'
  readonly limits: TransportLimits
  private readonly emitter = new TransportEmitter()
  private readonly current = new Map<PeerId, PeerInfo>()
  private readonly endpoint: Endpoint
  private started = false

  constructor(
    private readonly network: MemoryPort,
    readonly self: PeerId,
    opts: MemoryTransportOptions = {},
  ) {
    this.limits = { maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MEMORY_MAX_FRAME_BYTES }
    this.endpoint = {
      id: self,
      info: { ...opts.info },
      joined: (peer, info) => {
        this.current.set(peer, info)
        this.emitter.emit('peer-joined', { peer, info })
      },
      left: (peer) => {
        if (this.current.delete(peer)) this.emitter.emit('peer-left', { peer })
      },
      receive: (from, bytes) => this.emitter.emit('frame', { from, bytes }),
    }
  }

  async start(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.started) return
    this.network.attach(this.endpoint)
    this.started = true
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.network.detach(this.self)
  }

  send(peer: PeerId, bytes: Uint8Array): boolean {
    this.check(bytes)
    if (!this.started || !this.current.has(peer)) return false
    return this.network.transmit(this.self, peer, bytes.slice())
  }

  broadcast(bytes: Uint8Array): number {
    this.check(bytes)
    let n = 0
    // One copy per peer: a receiver may keep (or mutate) what it gets.
    for (const peer of [...this.current.keys()])
      if (this.network.transmit(this.self, peer, bytes.slice())) n++
    return n
  }

  peers(): ReadonlyMap<PeerId, PeerInfo> {
    return this.current
  }

  on<E extends TransportEventName>(event: E, listener: Listener<E>): () => void {
    return this.emitter.on(event, listener)
  }

  /** Subscriptions held (for leak tests). */
  get listenerCount(): number {
    return this.emitter.size
  }

  private check(bytes: Uint8Array): void {
    abytes(bytes, undefined, 'frame')
    if (bytes.length > this.limits.maxFrameBytes)
      throw new LimitError(
        `frame of ${bytes.length} bytes exceeds maxFrameBytes ${this.limits.maxFrameBytes}`,
        'maxFrameBytes',
      )
  }
}
