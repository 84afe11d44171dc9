/**
 * The in-memory stand-in for a client's local store: per channel, stamped events sorted by
 * ULID, one copy each. Pages are read newest first, the way the message list scrolls back.
 * (The real store is the engine's `Store`, IndexedDB in the browser: issue 6.)
 */
import { Kind, publicKeyToText, type StampedEvent, type Ulid } from '@peerchat/engine'
import { decodeBody } from './bodies.ts'
import type { EventSource } from './types.ts'

export class LocalLog {
  private readonly channels = new Map<string, StampedEvent[]>()
  private readonly byId = new Map<Ulid, { event: StampedEvent; source: EventSource }>()

  /** Adds an event and where it came from; false when it was already stored. */
  add(event: StampedEvent, source: EventSource): boolean {
    if (this.byId.has(event.id)) return false
    this.byId.set(event.id, { event, source })
    const list = this.channels.get(event.channel) ?? []
    if (list.length === 0 || list[list.length - 1]!.id < event.id) list.push(event)
    else list.splice(lowerBound(list, event.id), 0, event)
    this.channels.set(event.channel, list)
    return true
  }

  /** Up to `limit` events strictly older than `before` (all when omitted), oldest first. */
  page(
    channel: string,
    before: Ulid | undefined,
    limit: number,
  ): { events: StampedEvent[]; complete: boolean } {
    const list = this.channels.get(channel) ?? []
    const end = before === undefined ? list.length : lowerBound(list, before)
    const start = Math.max(0, end - limit)
    return { events: list.slice(start, end), complete: start === 0 }
  }

  /** Events of a channel newer than `after`, newest first (used to count unread). */
  *newerThan(channel: string, after: Ulid | null): Generator<StampedEvent> {
    const list = this.channels.get(channel) ?? []
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!
      if (after !== null && e.id <= after) return
      yield e
    }
  }

  /**
   * Messages by others newer than the read marker, and those of them that mention `mention`
   * (e.g. `@Ann`): the channel list's badges.
   */
  unread(
    channel: string,
    marker: Ulid | null,
    selfId: string,
    mention: string,
  ): { unread: number; mentions: number } {
    let unread = 0
    let mentions = 0
    for (const e of this.newerThan(channel, marker)) {
      if ((e.kind !== Kind.message && e.kind !== Kind.attachment) || publicKeyToText(e.author) === selfId)
        continue
      unread++
      if (e.kind === Kind.attachment) continue
      try {
        const body = decodeBody(e.kind, e.body)
        if (body.kind === Kind.message && body.text.includes(mention)) mentions++
      } catch {
        // A malformed body is not counted.
      }
    }
    return { unread, mentions }
  }

  get(id: Ulid): { event: StampedEvent; source: EventSource } | undefined {
    return this.byId.get(id)
  }

  size(channel: string): number {
    return this.channels.get(channel)?.length ?? 0
  }
}

function lowerBound(list: readonly StampedEvent[], id: Ulid): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (list[mid]!.id < id) lo = mid + 1
    else hi = mid
  }
  return lo
}
