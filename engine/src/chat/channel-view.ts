/**
 * ChannelView: the visible state of one chat channel as a pure, incremental fold over its
 * stamped events (already verified by the log). Every rule is order-independent, so any
 * permutation or duplication of the same set of events yields the same view:
 *
 * - messages sort by ULID; an edit or redaction may arrive before its message and waits in
 *   the target's entry until it does;
 * - the current text is the latest edit (by ULID) by the message's author; others' edits
 *   are kept out of the view; every accepted version is kept in `versions`;
 * - a redaction counts if its author wrote the message or held a moderating privilege at
 *   the redaction's relay time; the earliest valid one (by ULID) is the tombstone's;
 * - a reaction is a last-writer-wins register per (target, user, emoji), ordered by ULID;
 * - profile and channel.meta are last-writer-wins by ULID (meta only from moderators).
 *
 * Every applied event is kept as a small record (never the body bytes), so `remove` can take
 * back an event the log replaced and the next-latest value shows again.
 * Applying one event costs O(log n) plus the size of its target's edit/redaction lists.
 */

import { toHex } from '../bytes.ts'
import { DecodeError } from '../errors.ts'
import type { StampedEvent } from '../event.ts'
import { publicKeyToText } from '../identity/keys.ts'
import { keyTextInterner } from '../key-text.ts'
import type { Ulid } from '../ulid.ts'
import { type ChatBody, decodeChatBody, type MessageBody } from './bodies.ts'
import { Kind } from './kinds.ts'
import { canModerate, noRoles, type Roles } from './roles.ts'
import { SortedIds } from './sorted-ids.ts'

export interface MessageVersion {
  /** The event that set this text: the message itself, then each accepted edit. */
  id: Ulid
  ts: number
  text: string
}

export interface Tombstone {
  /** The redact event that counted. */
  id: Ulid
  ts: number
  by: string
  reason?: string
}

export interface MessageView {
  id: Ulid
  ts: number
  /** Author key (base64url text). */
  author: string
  /** Current text; '' once redacted or erased. */
  text: string
  replyTo?: Ulid
  mentions: string[]
  /** The original first, then each accepted edit in ULID order; empty once redacted. */
  versions: MessageVersion[]
  redacted?: Tombstone
  /** Per emoji (sorted), the sorted keys of users whose latest reaction with it is "on". */
  reactions: ReactionView[]
  /** Messages that reply to this one, in ULID order. */
  replies: Ulid[]
}

export interface ReactionView {
  emoji: string
  users: string[]
}

export interface ProfileView {
  key: string
  id: Ulid
  name: string
  /** Hex SHA-256 of the avatar blob. */
  avatar?: string
}

export interface ChannelMetaView {
  id: Ulid
  by: string
  topic: string
  pinned: Ulid[]
}

export interface IgnoredEvent {
  id: Ulid
  reason: 'wrong-channel' | 'unknown-kind' | 'malformed' | 'not-allowed'
}

/** What one `apply` changed: enough for a UI to re-render only what moved. */
export interface ViewChange {
  messages: Ulid[]
  profiles: string[]
  meta: boolean
  /** Events whose stored bodies must now be erased (their content was redacted). */
  erase: Ulid[]
  ignored: IgnoredEvent[]
}

export interface ChannelViewOptions {
  /** Roles per key and relay time (from session attestations). Default: nobody moderates. */
  roles?: Roles
}

interface Versioned {
  id: Ulid
  ts: number
  author: string
}
interface EditRecord extends Versioned {
  text: string
}
interface RedactRecord extends Versioned {
  reason?: string
  moderator: boolean
}
interface MessageRecord extends Versioned {
  /** null when the stored body was erased (an empty body). */
  body: MessageBody | null
}

/**
 * Everything known about one message id, including what arrived before the message. The
 * lists are created on first use: most messages are never edited, redacted or replied to.
 */
interface Entry {
  message?: MessageRecord
  edits?: EditRecord[]
  redactions?: RedactRecord[]
  /** `${emoji}\n${user}` -> that user's reactions with that emoji, by id (the last one wins). */
  reactions?: Map<string, { id: Ulid; on: boolean }[]>
  replies?: SortedIds
}

/**
 * Where an applied event left its mark, so `remove` can take it back: a message, a record in
 * a target's entry, a profile, a channel.meta, or nothing (ignored kinds and bodies).
 */
type Locator = 'message' | 'meta' | 'none' | { target: Ulid } | { profile: string }

/** Removes the record with `id` from a list; returns whether it was there. */
function removeById<T extends { id: Ulid }>(list: T[] | undefined, id: Ulid): boolean {
  const i = list ? list.findIndex((x) => x.id === id) : -1
  if (i >= 0) list!.splice(i, 1)
  return i >= 0
}

/** Inserts into a list sorted by id (lists per target are short). Returns false on a duplicate. */
function insertById<T extends { id: Ulid }>(list: T[], item: T): boolean {
  let i = list.length
  while (i > 0 && list[i - 1]!.id > item.id) i--
  if (i > 0 && list[i - 1]!.id === item.id) return false
  list.splice(i, 0, item)
  return true
}

export class ChannelView {
  private readonly entries = new Map<Ulid, Entry>()
  private readonly order = new SortedIds()
  /** Every applied event and where it landed (removed events stay here as 'none'). */
  private readonly seen = new Map<Ulid, Locator>()
  /** Per key, its profile events by id: the last one is shown. */
  private readonly profileByKey = new Map<string, ProfileView[]>()
  /** Moderators' channel.meta events by id: the last one is shown. */
  private readonly metas: ChannelMetaView[] = []
  private readonly erased = new Set<Ulid>()
  /** Messages removed during the current `remove` call, reported once as changed. */
  private readonly removedMessages = new Set<Ulid>()
  private readonly keyText = keyTextInterner()
  private readonly listeners = new Set<(change: ViewChange) => void>()
  private readonly roles: Roles

  constructor(
    readonly channel: string,
    options: ChannelViewOptions = {},
  ) {
    this.roles = options.roles ?? noRoles
  }

  /** Folds stamped events in (any order, duplicates ignored) and notifies listeners once. */
  apply(events: Iterable<StampedEvent>): ViewChange {
    const touched = new Set<Ulid>()
    const profiles = new Set<string>()
    const change: ViewChange = { messages: [], profiles: [], meta: false, erase: [], ignored: [] }
    for (const ev of events) {
      if (this.seen.has(ev.id)) continue
      if (ev.channel !== this.channel) {
        change.ignored.push({ id: ev.id, reason: 'wrong-channel' })
        continue
      }
      this.seen.set(ev.id, this.applyOne(ev, touched, profiles, change))
    }
    return this.finish(change, touched, profiles)
  }

  /**
   * Takes events back out of the view, e.g. the ones the log replaced because an event with
   * the same (author, clientNonce) and a smaller id arrived. Removed ids stay known, so a
   * later re-delivery does not bring them back. Erasures already reported stay erased.
   */
  remove(ids: Iterable<Ulid>): ViewChange {
    const touched = new Set<Ulid>()
    const profiles = new Set<string>()
    const change: ViewChange = { messages: [], profiles: [], meta: false, erase: [], ignored: [] }
    for (const id of ids) {
      const at = this.seen.get(id)
      if (at === undefined || at === 'none') continue
      this.seen.set(id, 'none')
      if (at === 'message') this.removeMessage(id, touched)
      else if (at === 'meta') {
        if (removeById(this.metas, id)) change.meta = true
      } else if ('profile' in at) {
        if (removeById(this.profileByKey.get(at.profile), id)) profiles.add(at.profile)
      } else {
        const e = this.entries.get(at.target)
        if (!e) continue
        removeById(e.edits, id)
        removeById(e.redactions, id)
        for (const list of e.reactions?.values() ?? []) removeById(list, id)
        touched.add(at.target)
      }
    }
    return this.finish(change, touched, profiles)
  }

  /** Completes a change: erasures, changed ids in order, then one notification. */
  private finish(change: ViewChange, touched: Set<Ulid>, profiles: Set<string>): ViewChange {
    for (const id of touched) {
      this.collectErasures(id, change.erase)
      // A message that just left the view is a change too: the UI drops its row.
      if (this.entries.get(id)?.message || this.removedMessages.delete(id)) change.messages.push(id)
    }
    change.messages.sort()
    change.erase.sort()
    change.profiles = [...profiles].sort()
    if (change.messages.length || change.profiles.length || change.meta || change.erase.length)
      for (const listener of this.listeners) listener(change)
    return change
  }

  private removeMessage(id: Ulid, touched: Set<Ulid>): void {
    const e = this.entries.get(id)
    const msg = e?.message
    if (!e || !msg) return
    e.message = undefined
    this.order.delete(id)
    this.removedMessages.add(id)
    touched.add(id)
    if (msg.body?.replyTo) {
      this.entries.get(msg.body.replyTo)?.replies?.delete(id)
      touched.add(msg.body.replyTo)
    }
  }

  /** Calls `listener` after every `apply` that changed something; returns an unsubscribe. */
  onChange(listener: (change: ViewChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private entry(id: Ulid): Entry {
    let e = this.entries.get(id)
    if (!e) {
      e = {}
      this.entries.set(id, e)
    }
    return e
  }

  private applyOne(ev: StampedEvent, touched: Set<Ulid>, profiles: Set<string>, change: ViewChange): Locator {
    const author = this.keyText(ev.author)
    // An erased message keeps its place as a tombstone; other erased bodies have nothing to show.
    if (ev.kind === Kind.message && ev.body.length === 0) {
      this.setMessage(ev, author, null, touched)
      return 'message'
    }
    let decoded: ChatBody | undefined
    try {
      decoded = decodeChatBody(ev.kind, ev.body)
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e
      change.ignored.push({ id: ev.id, reason: 'malformed' })
      return 'none'
    }
    const base = { id: ev.id, ts: ev.ts, author }
    switch (decoded?.kind) {
      case Kind.message:
        this.setMessage(ev, author, decoded.body, touched)
        return 'message'
      case Kind.edit: {
        const { target, text } = decoded.body
        const e = this.entry(target)
        e.edits ??= []
        insertById(e.edits, { ...base, text })
        touched.add(target)
        return { target }
      }
      case Kind.redact: {
        const { target, reason } = decoded.body
        const record: RedactRecord = { ...base, moderator: canModerate(this.roles(ev.author, ev.ts)) }
        if (reason !== undefined) record.reason = reason
        const e = this.entry(target)
        e.redactions ??= []
        insertById(e.redactions, record)
        touched.add(target)
        return { target }
      }
      case Kind.reaction: {
        const { target, emoji, on } = decoded.body
        const e = this.entry(target)
        e.reactions ??= new Map()
        const key = `${emoji}\n${author}`
        let list = e.reactions.get(key)
        if (!list) {
          list = []
          e.reactions.set(key, list)
        }
        insertById(list, { id: ev.id, on })
        touched.add(target)
        return { target }
      }
      case Kind.profile: {
        const view: ProfileView = { key: author, id: ev.id, name: decoded.body.name }
        if (decoded.body.avatar) view.avatar = toHex(decoded.body.avatar)
        let list = this.profileByKey.get(author)
        if (!list) {
          list = []
          this.profileByKey.set(author, list)
        }
        insertById(list, view)
        if (list[list.length - 1] === view) profiles.add(author)
        return { profile: author }
      }
      case Kind.channelMeta: {
        if (!canModerate(this.roles(ev.author, ev.ts))) {
          change.ignored.push({ id: ev.id, reason: 'not-allowed' })
          return 'none'
        }
        const meta = { id: ev.id, by: author, topic: decoded.body.topic, pinned: decoded.body.pinned }
        insertById(this.metas, meta)
        if (this.metas[this.metas.length - 1] === meta) change.meta = true
        return 'meta'
      }
      case Kind.yjs:
        return 'none' // documents are projected by their DocHandle, not by the chat view
      default:
        change.ignored.push({ id: ev.id, reason: 'unknown-kind' })
        return 'none'
    }
  }

  private setMessage(ev: StampedEvent, author: string, body: MessageBody | null, touched: Set<Ulid>): void {
    const e = this.entry(ev.id)
    e.message = { id: ev.id, ts: ev.ts, author, body }
    this.order.add(ev.id)
    touched.add(ev.id)
    if (body?.replyTo) {
      const parent = this.entry(body.replyTo)
      parent.replies ??= new SortedIds()
      parent.replies.add(ev.id)
      touched.add(body.replyTo)
    }
  }

  /** The redaction that counts for an entry, if any (earliest valid by ULID). */
  private tombstoneOf(e: Entry): RedactRecord | undefined {
    const msg = e.message
    if (!msg) return undefined
    return e.redactions?.find((r) => r.moderator || r.author === msg.author)
  }

  /** Once a message is redacted, its body and every edit of it must leave storage. */
  private collectErasures(id: Ulid, out: Ulid[]): void {
    const e = this.entries.get(id)
    if (!e || !this.tombstoneOf(e)) return
    for (const eid of [id, ...(e.edits ?? []).map((x) => x.id)])
      if (!this.erased.has(eid)) {
        this.erased.add(eid)
        out.push(eid)
      }
  }

  get size(): number {
    return this.order.size
  }

  has(id: Ulid): boolean {
    return this.entries.get(id)?.message !== undefined
  }

  message(id: Ulid): MessageView | undefined {
    const e = this.entries.get(id)
    return e ? this.materialize(e) : undefined
  }

  /** All messages in ULID order (a copy; for large channels prefer `latest`). */
  messages(): MessageView[] {
    const out: MessageView[] = []
    for (const id of this.order) out.push(this.materialize(this.entries.get(id)!)!)
    return out
  }

  /** The newest `n` messages in ULID order. */
  latest(n: number): MessageView[] {
    return this.order.last(n).map((id) => this.materialize(this.entries.get(id)!)!)
  }

  profile(key: string): ProfileView | undefined {
    return this.profileByKey.get(key)?.at(-1)
  }

  channelMeta(): ChannelMetaView | undefined {
    return this.metas.at(-1)
  }

  /** Every event id whose stored body must be erased because its content was redacted. */
  redactedIds(): Ulid[] {
    return [...this.erased].sort()
  }

  private materialize(e: Entry): MessageView | undefined {
    const msg = e.message
    if (!msg) return undefined
    const view: MessageView = {
      id: msg.id,
      ts: msg.ts,
      author: msg.author,
      text: '',
      mentions: [],
      versions: [],
      reactions: reactionsOf(e),
      replies: e.replies?.toArray() ?? [],
    }
    const tomb = this.tombstoneOf(e)
    if (tomb) {
      view.redacted = { id: tomb.id, ts: tomb.ts, by: tomb.author }
      if (tomb.reason !== undefined) view.redacted.reason = tomb.reason
      return view
    }
    if (!msg.body) return view
    if (msg.body.replyTo) view.replyTo = msg.body.replyTo
    view.mentions = msg.body.mentions.map(publicKeyToText)
    view.versions.push({ id: msg.id, ts: msg.ts, text: msg.body.text })
    for (const edit of e.edits ?? [])
      if (edit.author === msg.author) view.versions.push({ id: edit.id, ts: edit.ts, text: edit.text })
    view.text = view.versions[view.versions.length - 1]!.text
    return view
  }

  /** A canonical, JSON-ready snapshot: equal views give deep-equal (and string-equal) values. */
  toJSON(): { messages: MessageView[]; profiles: ProfileView[]; meta: ChannelMetaView | null } {
    return {
      messages: this.messages(),
      profiles: [...this.profileByKey.values()]
        .flatMap((list) => list.slice(-1))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
      meta: this.channelMeta() ?? null,
    }
  }
}

function reactionsOf(e: Entry): ReactionView[] {
  const byEmoji = new Map<string, string[]>()
  if (!e.reactions) return []
  for (const [key, list] of e.reactions) {
    if (!list[list.length - 1]?.on) continue
    // Keys are `${emoji}\n${user}`; a user key is base64url, so the last newline is the cut.
    const cut = key.lastIndexOf('\n')
    const emoji = key.slice(0, cut)
    const users = byEmoji.get(emoji) ?? []
    users.push(key.slice(cut + 1))
    byEmoji.set(emoji, users)
  }
  return [...byEmoji.keys()].sort().map((emoji) => ({ emoji, users: byEmoji.get(emoji)!.sort() }))
}
