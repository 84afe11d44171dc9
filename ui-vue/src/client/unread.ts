/**
 * The channel list's badges: per channel, the messages by others newer than the read marker
 * (their ids, and their text for mentions). Fed by the events a client sees — stored ones
 * scanned at start, then every change — in any order and any number of times; it keeps only
 * what is unread, never the log. The markers it starts from are the client's to keep.
 */
import { equalBytes, type PublicKey, type StampedEvent, type Ulid } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { decodeBody } from './bodies.ts'

/** Unread messages remembered per channel (default 5,000; the badge stops counting there). */
export const UNREAD_MAX = 5_000

interface Unread {
  id: Ulid
  /** The message's text, null for an attachment or a body that does not decode. */
  text: string | null
}

interface ChannelUnread {
  marker: Ulid | null
  /** Sorted by id. */
  items: Unread[]
}

export class UnreadCounts {
  private readonly channels = new Map<string, ChannelUnread>()

  /** `markers`: channel -> the newest id read there, as remembered from the last visit. */
  constructor(
    private readonly self: PublicKey,
    markers: ReadonlyMap<string, Ulid> = new Map(),
  ) {
    for (const [channel, marker] of markers) this.channels.set(channel, { marker, items: [] })
  }

  /** Counts the messages and attachments among `events` by others, newer than the marker. */
  add(channel: string, events: readonly StampedEvent[]): boolean {
    const c = this.of(channel)
    let changed = false
    for (const e of events) {
      if (e.kind !== Kind.message && e.kind !== Kind.attachment) continue
      if ((c.marker !== null && e.id <= c.marker) || equalBytes(e.author, this.self)) continue
      const at = lowerBoundById(c.items, e.id)
      if (c.items[at]?.id === e.id) continue
      c.items.splice(at, 0, { id: e.id, text: textOf(e) })
      changed = true
    }
    if (c.items.length > UNREAD_MAX) c.items.splice(0, c.items.length - UNREAD_MAX)
    return changed
  }

  /** Events that left the log. */
  remove(channel: string, ids: readonly Ulid[]): void {
    const c = this.channels.get(channel)
    if (!c || ids.length === 0) return
    const gone = new Set(ids)
    c.items = c.items.filter((u) => !gone.has(u.id))
  }

  /** Everything up to `upTo` is read; false when the marker was there already. */
  markRead(channel: string, upTo: Ulid | null): boolean {
    const c = this.of(channel)
    if (upTo === null || (c.marker !== null && c.marker >= upTo)) return false
    c.marker = upTo
    let read = lowerBoundById(c.items, upTo)
    if (c.items[read]?.id === upTo) read++
    c.items.splice(0, read)
    return true
  }

  /** Unread messages, and those of them mentioning `mention` (e.g. `@Ann`). */
  counts(channel: string, mention: string): { unread: number; mentions: number } {
    const items = this.channels.get(channel)?.items ?? []
    let mentions = 0
    for (const u of items) if (u.text?.includes(mention)) mentions++
    return { unread: items.length, mentions }
  }

  private of(channel: string): ChannelUnread {
    let c = this.channels.get(channel)
    if (!c) {
      c = { marker: null, items: [] }
      this.channels.set(channel, c)
    }
    return c
  }
}

function textOf(e: StampedEvent): string | null {
  if (e.kind !== Kind.message) return null
  try {
    const body = decodeBody(e.kind, e.body)
    return body.kind === Kind.message ? body.text : null
  } catch {
    return null // counted, never a mention
  }
}

/** The index of the first item whose id is not below `id`, in items sorted by id. */
export function lowerBoundById(items: readonly { readonly id: Ulid }[], id: Ulid): number {
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (items[mid]!.id < id) lo = mid + 1
    else hi = mid
  }
  return lo
}
