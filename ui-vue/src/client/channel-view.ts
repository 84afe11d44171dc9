/**
 * The message list's model of one channel: the engine's `ChannelView` (the fold: edits,
 * redactions, reactions, replies, any arrival order) turned into immutable, sorted rows for
 * Vue, plus the local outbox shown as pending rows until their stamped copy arrives.
 * Only the messages a change names are re-materialized, so live traffic costs O(log n).
 */

import {
  ErrorCode,
  type PublicKey,
  publicKeyToText,
  type SignedRequest,
  type StampedEvent,
  toHex,
  type Ulid,
  type Write,
} from '@peerchat/engine'
import {
  ChannelView,
  decodeAttachment,
  encodeMessage,
  Kind,
  type MessageView,
  type Roles,
} from '@peerchat/engine/chat'
import { type AttachmentInfo, attachmentInfo } from './attachments.ts'
import { decodeBody } from './bodies.ts'
import { type NoticeView, noticeOf } from './notices.ts'

export interface Reaction {
  emoji: string
  count: number
  mine: boolean
}

/** An immutable snapshot of one message; replaced (not mutated) when it changes. */
export interface ChatMessage {
  /** The ULID once stamped; `pending:<author>:<nonce>` while in the outbox. */
  key: string
  id: Ulid | null
  ts: number
  authorId: string
  text: string
  edited: boolean
  redacted: boolean
  replyTo: Ulid | null
  reactions: readonly Reaction[]
  pending: boolean
  /** A pending message the relay refused (shown as failed, with retry). */
  failed: boolean
  /** Why it was refused, when failed. */
  failure?: string
  /** The file or image an `attachment` event shares (null for text messages and once deleted). */
  attachment: AttachmentInfo | null
  /** An encrypted conversation's notice (who came and went, a key change, its title), shown as a line. */
  notice?: NoticeView
}

/**
 * The engine's view folds `message` events only. An attachment is shown as a message whose
 * content is the file: the view gets a stand-in message (same id, author, time; empty text),
 * so replies, reactions and deletion work on it as on any message, and the row takes the file
 * from `attachments`.
 */
const STAND_IN_BODY = encodeMessage({ text: '', mentions: [] })

const PENDING = 'pending:'
/** Receivers keep one event per (author, clientNonce): the stamped copy replaces the pending row. */
const pendingKey = (author: Uint8Array, nonce: Uint8Array): string =>
  `${PENDING}${toHex(author)}:${toHex(nonce)}`

/** Why the relay refused a write, in words (its final refusal codes; the code itself otherwise). */
const REFUSALS: Record<string, string> = {
  [ErrorCode.forbidden]: 'you may not post this here',
  [ErrorCode.unknownChannel]: 'the channel does not exist',
  [ErrorCode.limitExceeded]: 'it exceeds a limit of the relay',
  [ErrorCode.badSignature]: 'its signature does not verify',
  [ErrorCode.nonceReused]: 'it was sent before with other content',
  [ErrorCode.badFrame]: 'the relay could not read it',
}
export const refusalText = (error: { code: string } | undefined): string =>
  (error && REFUSALS[error.code]) ?? `the relay refused it (${error?.code ?? 'unknown'})`

/** The outbox key of a pending row (what `retry` and `discard` take), null for a stamped one. */
export const writeKeyOf = (m: ChatMessage): string | null =>
  m.key.startsWith(PENDING) ? m.key.slice(PENDING.length) : null

export class ChannelTimeline {
  private readonly view: ChannelView
  private readonly list: ChatMessage[] = []
  private readonly attachments = new Map<Ulid, AttachmentInfo>()
  private readonly notices = new Map<Ulid, NoticeView>()
  private pendingCount = 0
  readonly selfId: string

  constructor(channel: string, self: PublicKey, roles?: Roles) {
    this.view = new ChannelView(channel, roles ? { roles } : {})
    this.selfId = publicKeyToText(self)
  }

  /** Messages oldest first, pending ones last. Do not mutate. */
  messages(): readonly ChatMessage[] {
    return this.list
  }

  get(id: Ulid): ChatMessage | undefined {
    const i = this.indexOf(id)
    return i >= 0 ? this.list[i] : undefined
  }

  /** The newest stamped message id (the read marker moves to it). */
  newestId(): Ulid | null {
    return this.list[this.list.length - this.pendingCount - 1]?.id ?? null
  }

  /** Events the engine's view refused (malformed, not allowed, unknown kind). */
  rejected = 0

  /** Applies stamped events in any order; returns how many rows changed. */
  apply(events: readonly StampedEvent[]): number {
    for (const e of events) this.dropPending(e)
    const change = this.view.apply(events.map((e) => this.standIn(e)))
    this.rejected += change.ignored.length
    for (const id of change.messages) {
      const m = this.view.message(id)
      if (m) this.upsert(this.toRow(m))
    }
    return change.messages.length
  }

  /** Takes events the log replaced back out (a retried send stamped twice keeps its smaller id); rows changed. */
  remove(ids: readonly Ulid[]): number {
    const change = this.view.remove(ids)
    for (const id of change.messages) {
      const m = this.view.message(id)
      if (m) this.upsert(this.toRow(m))
      else {
        const i = this.indexOf(id)
        if (i >= 0) this.removeAt(i)
      }
    }
    return change.messages.length
  }

  /**
   * Shows a local write by its state: a message or attachment pending or failed, until its
   * stamped copy arrives (`apply`) or it is stamped. Returns false when it has no row (a
   * reaction, an edit, a profile: they show once stamped).
   */
  setWrite(w: Write): boolean {
    const key = pendingKey(w.request.author, w.request.clientNonce)
    let i = this.pendingIndex(key)
    if (w.state === 'stamped') {
      if (i >= 0) this.removeAt(i)
      return i >= 0
    }
    if (i < 0) {
      if (!this.addPending(w.request, w.queuedAt)) return false
      i = this.list.length - 1
    }
    const { failure: _, ...row } = this.list[i]!
    this.list[i] =
      w.state === 'failed'
        ? { ...row, failed: true, failure: refusalText(w.error) }
        : { ...row, failed: false }
    return true
  }

  /** Drops a pending row (a discarded write); false if unknown. */
  removePending(writeKey: string): boolean {
    const i = this.pendingIndex(`${PENDING}${writeKey}`)
    if (i >= 0) this.removeAt(i)
    return i >= 0
  }

  /** Shows a signed but not yet stamped message (the outbox); false when it is not one. */
  addPending(req: SignedRequest, ts = Date.now()): boolean {
    let body: ReturnType<typeof decodeBody> | undefined
    try {
      body = req.kind === Kind.attachment ? undefined : decodeBody(req.kind, req.body)
    } catch {
      return false
    }
    let attachment: AttachmentInfo | null = null
    if (req.kind === Kind.attachment) {
      try {
        attachment = attachmentInfo(decodeAttachment(req.body))
      } catch {
        return false
      }
    }
    if (!attachment && body?.kind !== 'message') return false
    this.list.push({
      key: pendingKey(req.author, req.clientNonce),
      id: null,
      ts,
      authorId: publicKeyToText(req.author),
      text: body?.kind === 'message' ? body.text : '',
      edited: false,
      redacted: false,
      replyTo: (body?.kind === 'message' && body.replyTo) || null,
      reactions: [],
      pending: true,
      failed: false,
      attachment,
    })
    this.pendingCount++
    return true
  }

  private toRow(m: MessageView): ChatMessage {
    const redacted = m.redacted !== undefined
    const notice = this.notices.get(m.id)
    return {
      ...(notice ? { notice } : {}),
      key: m.id,
      id: m.id,
      ts: m.ts,
      authorId: m.author,
      text: m.text,
      edited: m.versions.length > 1,
      redacted,
      replyTo: m.replyTo ?? null,
      // A deleted message shows no reactions (the engine keeps them; the UI hides them).
      reactions: (redacted ? [] : m.reactions).map((r) => ({
        emoji: r.emoji,
        count: r.users.length,
        mine: r.users.includes(this.selfId),
      })),
      pending: false,
      failed: false,
      attachment: redacted ? null : (this.attachments.get(m.id) ?? null),
    }
  }

  /** An attachment or notice event as the view's stand-in message (other events unchanged). */
  private standIn(e: StampedEvent): StampedEvent {
    const notice = noticeOf(e)
    if (notice) {
      this.notices.set(e.id, notice)
      return { ...e, kind: Kind.message, body: STAND_IN_BODY }
    }
    if (e.kind !== Kind.attachment) return e
    try {
      this.attachments.set(e.id, attachmentInfo(decodeAttachment(e.body)))
    } catch {
      return e // malformed: the view counts it as ignored
    }
    return { ...e, kind: Kind.message, body: STAND_IN_BODY }
  }

  private upsert(row: ChatMessage): void {
    const at = this.insertionPoint(row.id!)
    if (this.list[at]?.id === row.id) this.list[at] = row
    else this.list.splice(at, 0, row)
  }

  private dropPending(event: StampedEvent): void {
    if (this.pendingCount === 0) return
    const i = this.pendingIndex(pendingKey(event.author, event.clientNonce))
    if (i >= 0) this.removeAt(i)
  }

  /** Index of the pending row with `key` (pending rows follow the stamped ones), or -1. */
  private pendingIndex(key: string): number {
    for (let i = this.list.length - this.pendingCount; i < this.list.length; i++)
      if (this.list[i]!.key === key) return i
    return -1
  }

  private removeAt(i: number): void {
    this.list.splice(i, 1)
    this.pendingCount--
  }

  private indexOf(id: Ulid): number {
    const i = this.insertionPoint(id)
    return this.list[i]?.id === id ? i : -1
  }

  /** Binary search among the stamped rows (sorted by id; pending rows follow them). */
  private insertionPoint(id: Ulid): number {
    let lo = 0
    let hi = this.list.length - this.pendingCount
    // Fast path: live messages arrive newest.
    if (hi === 0 || this.list[hi - 1]!.id! < id) return hi
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.list[mid]!.id! < id) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
