/**
 * Finds members a relay client was not told about: the relay pushes only each channel's head
 * (docs/protocol/relay.md §5), so a peer outside it — a WebRTC peer to admit, a stranger sending
 * through the relay fallback, a voice participant — is looked up by key (PresenceFind) before it
 * counts as present. Callers `want(key)` and re-check when the client's `presence` event fires
 * (it does when a find brings someone in).
 *
 * Keys are batched (up to `FrameLimits.presenceFindKeys` per find), asked channel by channel
 * until found, one find at a time; a key is asked at most once per `retryMs` (a stranger that is
 * in none of our channels costs one round of finds per `retryMs`, however often it knocks).
 */
import { FrameLimits, toHex } from '@peerchat/engine'
import type { RelayClient } from './relay-client.ts'

/** A key not found is asked again no sooner than this (default 10 s). */
export const LOOKUP_RETRY_MS = 10_000
/** Keys remembered as asked; the oldest are forgotten past this. */
const MAX_ASKED = 4096

export class MemberLookup {
  /** Keys to ask, by hex. */
  private readonly wanted = new Map<string, Uint8Array>()
  /** When each key was last asked, by hex. */
  private readonly asked = new Map<string, number>()
  private running = false
  private stopped = false

  constructor(
    private readonly client: Pick<RelayClient, 'state' | 'findMembers' | 'members'>,
    /** The channels to look in, in order (read at each lookup). */
    private readonly channels: () => readonly string[],
    private readonly o: { retryMs?: number; now?: () => number } = {},
  ) {}

  /** Asks the relay for `key`'s sessions in our channels, unless it was asked within `retryMs`. */
  want(key: Uint8Array): void {
    if (this.stopped || key.length !== 32) return
    const id = toHex(key)
    const now = (this.o.now ?? Date.now)()
    const at = this.asked.get(id)
    if (at !== undefined && now - at < (this.o.retryMs ?? LOOKUP_RETRY_MS)) return
    this.asked.delete(id)
    this.asked.set(id, now)
    if (this.asked.size > MAX_ASKED) this.asked.delete(this.asked.keys().next().value!)
    this.wanted.set(id, key)
    if (this.running) return
    // From the next microtask: the keys wanted in this turn go out together.
    this.running = true
    queueMicrotask(() => void this.run())
  }

  /** Keys waiting to be asked (tests). */
  get pending(): number {
    return this.wanted.size
  }

  stop(): void {
    this.stopped = true
    this.wanted.clear()
  }

  private async run(): Promise<void> {
    try {
      while (this.wanted.size > 0 && !this.stopped && this.client.state === 'online') {
        const batch = new Map([...this.wanted].slice(0, FrameLimits.presenceFindKeys))
        for (const id of batch.keys()) this.wanted.delete(id)
        for (const channel of this.channels()) {
          if (batch.size === 0 || this.stopped) break
          let found: { publicKey: Uint8Array }[]
          try {
            found = await this.client.findMembers(channel, [...batch.values()])
          } catch {
            break // offline, refused (rate limited) or unanswered: asked again after retryMs
          }
          for (const s of found) {
            const id = toHex(s.publicKey)
            batch.delete(id)
            // Found: a later session of the same key may be looked up at once.
            this.asked.delete(id)
          }
        }
      }
      // Offline: a login starts presence over, so anything wanted now is asked afresh then.
      if (this.client.state !== 'online') {
        this.wanted.clear()
        this.asked.clear()
      }
    } finally {
      this.running = false
    }
  }
}
