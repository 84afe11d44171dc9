/**
 * What asks for the user's attention (issue #17, notifications): the unread count in the tab's
 * title, and a desktop notification for a message that mentions them while the tab is hidden,
 * unless its channel is muted. Pure: the composable (useAttention) feeds it the page's state.
 */
import type { StampedEvent } from '@peerchat/engine'
import { decodeBody } from '../client/bodies.ts'
import type { ChannelInfo, EventSource } from '../client/types.ts'

/** A mention older than this when it arrives (history caught up after a while away) raises nothing. */
export const NOTIFY_MAX_AGE_MS = 5 * 60_000
/** Characters of the message shown in a notification. */
export const NOTIFY_BODY_CHARS = 160

/** `(3) peerchat`: unread messages outside muted channels; mentions count even when muted. */
export function titleFor(base: string, channels: readonly ChannelInfo[], muted: ReadonlySet<string>): string {
  let n = 0
  for (const c of channels) n += muted.has(c.name) ? c.mentions : c.unread
  return n > 0 ? `(${n > 999 ? '999+' : n}) ${base}` : base
}

export interface NotifyContext {
  selfId: string
  myName: string
  hidden: boolean
  permission: NotificationPermission | 'unsupported'
  muted: ReadonlySet<string>
  now: number
  nameOf: (id: string) => string
  keyText: (key: Uint8Array) => string
  /** An encrypted conversation's name and whether it is a direct message (each message notifies). */
  conversation?: (channel: string) => { label: string; direct: boolean } | undefined
}

/**
 * The notification an event raises, or null: a fresh message by someone else mentioning me, or
 * any fresh message of a direct message.
 */
export function notificationFor(
  e: { event: StampedEvent; source: EventSource },
  c: NotifyContext,
): { title: string; body: string; tag: string } | null {
  const { event } = e
  if (!c.hidden || c.permission !== 'granted' || c.muted.has(event.channel)) return null
  if (e.source.via === 'local' || c.now - event.ts > NOTIFY_MAX_AGE_MS) return null
  const author = c.keyText(event.author)
  if (author === c.selfId || !c.myName) return null
  let text: string
  try {
    const body = decodeBody(event.kind, event.body)
    if (body?.kind !== 'message') return null
    text = body.text
  } catch {
    return null
  }
  const conversation = c.conversation?.(event.channel)
  if (!text.includes(`@${c.myName}`) && !conversation?.direct) return null
  const body = text.length > NOTIFY_BODY_CHARS ? `${text.slice(0, NOTIFY_BODY_CHARS - 1)}…` : text
  const where = conversation
    ? conversation.direct
      ? ''
      : ` in ${conversation.label}`
    : ` in #${event.channel}`
  return { title: `${c.nameOf(author)}${where}`, body, tag: `${event.channel}:${event.id}` }
}

/** Muted channels, per community, kept in the browser's storage. */
export class MutedChannels {
  private readonly set: Set<string>

  constructor(
    private readonly storage: Pick<Storage, 'getItem' | 'setItem'> | undefined,
    private readonly key: string,
  ) {
    let list: unknown = []
    try {
      list = JSON.parse(storage?.getItem(key) ?? '[]')
    } catch {
      // unreadable: nothing muted
    }
    this.set = new Set(Array.isArray(list) ? list.filter((c): c is string => typeof c === 'string') : [])
  }

  get channels(): ReadonlySet<string> {
    return this.set
  }

  toggle(channel: string): boolean {
    if (this.set.has(channel)) this.set.delete(channel)
    else this.set.add(channel)
    this.storage?.setItem(this.key, JSON.stringify([...this.set]))
    return this.set.has(channel)
  }
}
