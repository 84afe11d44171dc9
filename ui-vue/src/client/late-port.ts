/**
 * A mesh port that exists before its transport does. The WebRTC mesh starts after the first
 * relay login (it needs a signaling token), but the blob exchange starts with the app, offline:
 * it serves this device's stored pictures and files from the first render, and gets peers
 * when the mesh is bound here. Until then it has no peers and sends nothing.
 */
import type { MeshPeerInfo, MeshPort } from '@peerchat/engine'

type Events = {
  'peer-joined': { peer: string; info: MeshPeerInfo }
  'peer-left': { peer: string }
  frame: { from: string; bytes: Uint8Array }
}
type Listener = (e: never) => void

const NONE: ReadonlyMap<string, MeshPeerInfo> = new Map()

export class LatePort implements MeshPort {
  private port: MeshPort | undefined
  private readonly listeners = new Map<keyof Events, Set<Listener>>()
  private offs: (() => void)[] = []

  /** `self`: the id the transport will have (known before it starts); `fallback`: see MeshPort. */
  constructor(
    readonly name: string,
    private readonly provisionalSelf: string,
    readonly fallback = false,
  ) {}

  get self(): string {
    return this.port?.self ?? this.provisionalSelf
  }

  get bound(): boolean {
    return this.port !== undefined
  }

  send(peer: string, bytes: Uint8Array): boolean {
    return this.port?.send(peer, bytes) ?? false
  }

  sendBulk(peer: string, bytes: Uint8Array): boolean {
    const port = this.port
    if (!port) return false
    return port.sendBulk ? port.sendBulk(peer, bytes) : port.send(peer, bytes)
  }

  peers(): ReadonlyMap<string, MeshPeerInfo> {
    return this.port?.peers() ?? NONE
  }

  on<K extends keyof Events>(event: K, listener: (e: Events[K]) => void): () => void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(listener as Listener)
    return () => void set.delete(listener as Listener)
  }

  /** From now on, `port`'s peers and frames are this port's; its peers so far join at once. */
  bind(port: MeshPort): void {
    if (this.port) throw new Error('LatePort is bound already')
    this.port = port
    this.offs = (['peer-joined', 'peer-left', 'frame'] as const).map((event) =>
      port.on(event as 'frame', (e) => this.emit(event, e as never)),
    )
    for (const [peer, info] of port.peers()) this.emit('peer-joined', { peer, info })
  }

  /** Drops the transport: its peers leave. Idempotent. */
  unbind(): void {
    const port = this.port
    if (!port) return
    for (const off of this.offs.splice(0)) off()
    this.port = undefined
    for (const peer of port.peers().keys()) this.emit('peer-left', { peer })
  }

  private emit<K extends keyof Events>(event: K, e: Events[K]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as (e: Events[K]) => void)(e)
  }
}
