/**
 * Who is online in each channel, and what its members must be told about it
 * (docs/protocol/relay.md §5). Pure: no IO and no clock of its own — the caller passes the time
 * and sends what comes out.
 *
 * A channel's roster holds its sessions in join order: by join id (a ULID the caller gives: this
 * node's monotonic clock, or the id another node gave a session it holds), then session id. The
 * first `head` of them are the channel's **head**: every member holds their attestations. The
 * rest cost the others a count, and are read on request, by page (`page`) or by key (`find`).
 *
 * `tick` says, at most once per `tickMs` per channel, what changed since that channel's last
 * tick: the count, and every session whose place in the head changed since then — those in the
 * head now (`entered`) and those out of it now (`left`). It is computed from the roster whatever
 * fed it (this node's sockets or another node's), so one frame serves every member. A joiner's
 * snapshot (`snapshot`) is taken at once: a member that applies its snapshot and then every tick
 * holds the head after each tick, whenever between two ticks its snapshot was taken (a session
 * whose place did not change since the last tick is in the snapshot as it is in the head; one
 * whose place changed is in the next tick). A change in a quiet channel ticks at once, so a small
 * channel sees joins and leaves as they happen. When more than `maxLeft` sessions left the head
 * within one tick (a node of many sessions went away), the tick is a `reset`: the whole head.
 */
import { decodeSession, firstIndex } from '@peerchat/engine'

/** A session joining a channel's roster (what another relay node sends for its own sessions). */
export interface RosterJoin {
  /** 16 bytes: the roster's key. */
  sessionId: Uint8Array
  /** A ULID's 16 bytes: the order of the roster, the same on every node. */
  joinId: Uint8Array
  /** The session attestation (docs/protocol/relay.md §3), as members receive it. */
  attestation: Uint8Array
  /** The session's public key; read from the attestation when absent. */
  publicKey?: Uint8Array
}

export interface RosterMember {
  /** `joinId | sessionId` (latin1): the roster's order, and a page's cursor. */
  readonly order: string
  /** Session id (latin1). */
  readonly session: string
  /** Public key (latin1). */
  readonly key: string
  readonly attestation: Uint8Array
  /** Where the session's socket is (the caller's tag, e.g. a node id; '' for this node). */
  readonly origin: string
}

/** One channel's tick: what its members are sent now. */
export interface PresenceTick {
  channel: string
  /** Sessions in the channel. */
  count: number
  /**
   * Attestations of the sessions in the head whose place changed since the last tick, in join
   * order (of the whole head when `reset`).
   */
  entered: Uint8Array[]
  /** Session ids out of the head whose place changed since the last tick (they left, or were pushed out). */
  left: Uint8Array[]
  /** `entered` is the whole head, to be held instead of what was (`left` is then empty). */
  reset: boolean
}

export interface PresenceOptions {
  /** Members in a channel's head. */
  head: number
  /** Milliseconds between two ticks of one channel. */
  tickMs: number
  /** Session ids one tick may name in `left`; beyond, the tick is a reset (default 256). */
  maxLeft?: number
}

interface Roster {
  /** Members by `order`. */
  readonly members: RosterMember[]
  readonly bySession: Map<string, RosterMember>
  readonly byKey: Map<string, Set<RosterMember>>
  /** Sessions (ids) that entered or left the head since the last tick. */
  readonly touched: Set<string>
  /** The count at the last tick. */
  toldCount: number
  /** When the last tick went out (-Infinity: never). */
  lastTick: number
}

/** Session ids in one tick's `left`, beyond which it is a reset (`FrameLimits.presenceLeft`). */
const DEFAULT_MAX_LEFT = 256

/** Bytes as a latin1 string (one char per byte): map keys and orders that sort like the bytes. */
export const latin1 = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')
const bytesOf = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))

/** A page cursor on the wire (32 bytes: join id, session id) from a member's order, and back. */
export const cursorBytes = (order: string): Uint8Array => bytesOf(order)
export const cursorOrder = (cursor: Uint8Array): string => latin1(cursor)

export class Presence {
  private readonly rosters = new Map<string, Roster>()
  /** Channels with something to tell. */
  private readonly dirty = new Set<string>()

  constructor(private readonly o: PresenceOptions) {
    if (!Number.isInteger(o.head) || o.head < 0) throw new RangeError('head must be a non-negative integer')
  }

  /**
   * Adds a session to a channel (again: keeps its place unless its join id differs). False if it
   * was there already, or if its attestation does not decode (a join from another node is dropped,
   * never thrown: it came through infrastructure, not from a socket).
   */
  join(channel: string, j: RosterJoin, origin = ''): boolean {
    const order = latin1(j.joinId) + latin1(j.sessionId)
    const key = j.publicKey ?? keyOf(j.attestation)
    if (!key) return false
    const r = this.roster(channel)
    const was = r.bySession.get(latin1(j.sessionId))
    if (was?.order === order) return false
    if (was) this.remove(channel, r, was)
    const m: RosterMember = {
      order,
      session: latin1(j.sessionId),
      key: latin1(key),
      attestation: j.attestation,
      origin,
    }
    const list = r.members
    const { head } = this.o
    // Joins on this node come in join-id order: appending is the usual case.
    const at =
      list.length === 0 || list[list.length - 1]!.order < order ? list.length : lowerBound(list, order)
    list.splice(at, 0, m)
    if (at < head) {
      r.touched.add(m.session)
      // The last of the head, pushed out by a session of another node with an earlier join id.
      const out = list[head]
      if (out) r.touched.add(out.session)
    }
    r.bySession.set(m.session, m)
    const same = r.byKey.get(m.key)
    if (same) same.add(m)
    else r.byKey.set(m.key, new Set([m]))
    this.dirty.add(channel)
    return !was
  }

  /** Removes a session from a channel; false if it was not there. */
  leave(channel: string, sessionId: Uint8Array | string): boolean {
    const r = this.rosters.get(channel)
    const m = r?.bySession.get(typeof sessionId === 'string' ? sessionId : latin1(sessionId))
    if (!r || !m) return false
    this.remove(channel, r, m)
    return true
  }

  /** Removes every session of `origin` (a node that went away); returns the channels that changed. */
  leaveOrigin(origin: string): string[] {
    const changed: string[] = []
    for (const [channel, r] of this.rosters) {
      const gone = r.members.filter((m) => m.origin === origin)
      for (const m of gone) this.remove(channel, r, m)
      if (gone.length) changed.push(channel)
    }
    return changed
  }

  /**
   * The ticks due at `now`: of `channel` only, or of every channel with something to tell, each
   * at least `tickMs` after its last. A channel with nothing new is skipped (its clock unmoved).
   */
  tick(now: number, channel?: string): PresenceTick[] {
    const out: PresenceTick[] = []
    for (const c of channel === undefined ? [...this.dirty] : this.dirty.has(channel) ? [channel] : []) {
      const r = this.rosters.get(c)
      if (!r) {
        this.dirty.delete(c)
        continue
      }
      if (now - r.lastTick < this.o.tickMs) continue
      this.dirty.delete(c)
      const head = r.members.slice(0, this.o.head)
      const inHead = new Set(head.map((m) => m.session))
      const left: Uint8Array[] = []
      for (const s of r.touched) if (!inHead.has(s)) left.push(bytesOf(s))
      const reset = left.length > (this.o.maxLeft ?? DEFAULT_MAX_LEFT)
      const entered = (reset ? head : head.filter((m) => r.touched.has(m.session))).map((m) => m.attestation)
      const count = r.members.length
      r.touched.clear()
      if (entered.length === 0 && left.length === 0 && count === r.toldCount) continue
      r.toldCount = count
      r.lastTick = now
      out.push({ channel: c, count, entered, left: reset ? [] : left, reset })
      if (count === 0) this.rosters.delete(c)
    }
    return out
  }

  /** Sessions in `channel`. */
  count(channel: string): number {
    return this.rosters.get(channel)?.members.length ?? 0
  }

  has(channel: string, session: string): boolean {
    return this.rosters.get(channel)?.bySession.has(session) ?? false
  }

  /** The head now, in join order, and `also` (a session's own entry) when it is outside it. */
  snapshot(channel: string, also?: string): RosterMember[] {
    const r = this.rosters.get(channel)
    if (!r) return []
    const head = r.members.slice(0, this.o.head)
    const own = also === undefined ? undefined : r.bySession.get(also)
    if (own && !head.includes(own)) head.push(own)
    return head
  }

  /** Up to `limit` members after `after` (an order; null: from the first), and the cursor of the next page (null: none). */
  page(
    channel: string,
    after: string | null,
    limit: number,
  ): { members: RosterMember[]; next: string | null } {
    const list = this.rosters.get(channel)?.members ?? []
    const from = after === null ? 0 : upperBound(list, after)
    const members = list.slice(from, from + limit)
    const next = from + limit < list.length && members.length > 0 ? members[members.length - 1]!.order : null
    return { members, next }
  }

  /** The members of `channel` whose key is one of `keys` (latin1), in join order, at most `max`. */
  find(channel: string, keys: readonly string[], max: number): RosterMember[] {
    const r = this.rosters.get(channel)
    if (!r) return []
    const found: RosterMember[] = []
    for (const k of new Set(keys)) for (const m of r.byKey.get(k) ?? []) found.push(m)
    return found.sort((a, b) => (a.order < b.order ? -1 : 1)).slice(0, max)
  }

  private roster(channel: string): Roster {
    let r = this.rosters.get(channel)
    if (!r) {
      r = {
        members: [],
        bySession: new Map(),
        byKey: new Map(),
        touched: new Set(),
        toldCount: 0,
        lastTick: Number.NEGATIVE_INFINITY,
      }
      this.rosters.set(channel, r)
    }
    return r
  }

  private remove(channel: string, r: Roster, m: RosterMember): void {
    const list = r.members
    const { head } = this.o
    const i = lowerBound(list, m.order)
    if (list[i] === m) list.splice(i, 1)
    if (i < head) {
      r.touched.add(m.session)
      // The first outside the head moves in.
      const next = list[head - 1]
      if (next) r.touched.add(next.session)
    }
    r.bySession.delete(m.session)
    const same = r.byKey.get(m.key)
    same?.delete(m)
    if (same?.size === 0) r.byKey.delete(m.key)
    this.dirty.add(channel)
  }
}

/** The public key an attestation names, if it decodes. */
function keyOf(attestation: Uint8Array): Uint8Array | undefined {
  try {
    return decodeSession(attestation).value.publicKey
  } catch {
    return undefined
  }
}

/** First index whose order is >= `order`. */
const lowerBound = (list: readonly RosterMember[], order: string): number =>
  firstIndex(list, (m) => m.order < order)

/** First index whose order is > `order`. */
const upperBound = (list: readonly RosterMember[], order: string): number =>
  firstIndex(list, (m) => m.order <= order)
