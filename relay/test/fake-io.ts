/** An in-memory shell for the cores: records what they send, publish and close. */
import { decodeRelayFrame, type RelayFrame } from '@peerchat/engine'
import type { RelayIo } from '../src/core/relay-core.ts'
import type { SignalIo } from '../src/core/signaling.ts'

export class FakeSocket {
  frames: RelayFrame[] = []
  texts: unknown[] = []
  closed: { code: number; reason: string } | null = null
  buffered = 0
  dropSends = false
  constructor(readonly name: string) {}
  take<T extends RelayFrame['type']>(type: T): Extract<RelayFrame, { type: T }>[] {
    const out = this.frames.filter((f) => f.type === type)
    this.frames = this.frames.filter((f) => f.type !== type)
    return out as Extract<RelayFrame, { type: T }>[]
  }
}

export class FakeIo implements RelayIo<FakeSocket>, SignalIo<FakeSocket> {
  readonly topics = new Map<string, Set<FakeSocket>>()

  private deliver(s: FakeSocket, data: Uint8Array | string): boolean {
    if (s.closed) return false
    if (s.dropSends) return false
    if (typeof data === 'string') s.texts.push(JSON.parse(data))
    else s.frames.push(decodeRelayFrame(data))
    return true
  }
  send(s: FakeSocket, data: Uint8Array | string): boolean {
    return this.deliver(s, data)
  }
  subscribe(s: FakeSocket, topic: string): void {
    let set = this.topics.get(topic)
    if (!set) {
      set = new Set()
      this.topics.set(topic, set)
    }
    set.add(s)
  }
  unsubscribe(s: FakeSocket, topic: string): void {
    this.topics.get(topic)?.delete(s)
  }
  publish(topic: string, bytes: Uint8Array): void {
    for (const s of this.topics.get(topic) ?? []) this.deliver(s, bytes)
  }
  subscribers(topic: string): number {
    return this.topics.get(topic)?.size ?? 0
  }
  close(s: FakeSocket, code: number, reason: string): void {
    s.closed = { code, reason }
    for (const set of this.topics.values()) set.delete(s)
  }
  bufferedAmount(s: FakeSocket): number {
    return s.buffered
  }
}
