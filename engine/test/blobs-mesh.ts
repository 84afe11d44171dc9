/** A tiny in-test mesh for the blob exchange: delivery on a microtask, taps to drop or alter frames. */
import type { BlobPort } from '../src/blobs/index.ts'
import type { MeshPeerInfo } from '../src/mesh/port.ts'
import { decodeProtocolFrame, encodeProtocolFrame } from '../src/mesh/protocol.ts'

type Handler = (e: never) => void
/**
 * Sees each protocol frame's payload (a blob frame); returns the payload to deliver (possibly
 * altered), or undefined to drop the frame.
 */
export type Tap = (from: string, to: string, bytes: Uint8Array) => Uint8Array | undefined

export class FakeMesh {
  readonly ports = new Map<string, FakePort>()
  tap: Tap | undefined
  /** Wire bytes delivered, by sender. */
  readonly sent = new Map<string, number>()

  add(id: string, kind: 'client' | 'virtual' = 'client'): FakePort {
    const port = new FakePort(this, id, kind)
    const others = [...this.ports.values()]
    // Registered first: what the others send it on peer-joined is delivered.
    this.ports.set(id, port)
    for (const other of others) {
      other.link(port)
      port.link(other)
    }
    return port
  }

  remove(id: string): void {
    const port = this.ports.get(id)
    if (!port) return
    this.ports.delete(id)
    for (const other of this.ports.values()) {
      other.unlink(id)
      port.unlink(other.self)
    }
  }

  deliver(from: string, to: string, bytes: Uint8Array): boolean {
    const target = this.ports.get(to)
    if (!target || !this.ports.get(from)?.peers().has(to)) return false
    const copy = bytes.slice()
    queueMicrotask(() => {
      const out = this.tap ? this.tapped(from, to, copy) : copy
      if (!out || !this.ports.get(from)?.peers().has(to)) return
      this.sent.set(from, (this.sent.get(from) ?? 0) + out.length)
      target.emit('frame', { from, bytes: out })
    })
    return true
  }

  private tapped(from: string, to: string, bytes: Uint8Array): Uint8Array | undefined {
    const frame = decodeProtocolFrame(bytes)
    if (!frame) return this.tap!(from, to, bytes)
    const out = this.tap!(from, to, frame.payload.slice())
    return out && encodeProtocolFrame(frame.id, out)
  }
}

export class FakePort implements BlobPort {
  private readonly linked = new Map<string, MeshPeerInfo>()
  private readonly handlers = new Map<string, Set<Handler>>()
  constructor(
    private readonly mesh: FakeMesh,
    readonly self: string,
    readonly kind: 'client' | 'virtual',
  ) {}

  link(other: FakePort): void {
    this.linked.set(other.self, { kind: other.kind })
    this.emit('peer-joined', { peer: other.self, info: { kind: other.kind } })
  }
  unlink(id: string): void {
    if (this.linked.delete(id)) this.emit('peer-left', { peer: id })
  }
  send(peer: string, bytes: Uint8Array): boolean {
    return this.mesh.deliver(this.self, peer, bytes)
  }
  peers(): ReadonlyMap<string, MeshPeerInfo> {
    return this.linked
  }
  emit(event: string, e: unknown): void {
    for (const h of this.handlers.get(event) ?? []) (h as (e: unknown) => void)(e)
  }
  on(event: 'peer-joined' | 'peer-left' | 'frame', listener: (e: never) => void): () => void {
    const set = this.handlers.get(event) ?? new Set()
    this.handlers.set(event, set)
    set.add(listener)
    return () => set.delete(listener)
  }
}
