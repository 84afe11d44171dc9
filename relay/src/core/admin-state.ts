/**
 * The relay's side of a community's admin state (docs/protocol/admin.md §4): the engine's
 * `AdminState` fold, plus what only the relay holds — the one-time claim code, the invite uses
 * reserved by sessions that logged in by a link, the admin events it serves to joiners — and
 * every decision the relay takes from them: who may log in, with which privileges, and whether
 * a request may be stamped at the id it is about to get.
 *
 * Pure: no IO and no clock (times are arguments). The relay core asks it; persistence
 * (admin-log.ts) and fan-out listen to `onRecord`. Nodes of a cluster share one admin log
 * (`SharedAdminLog`, in Redis): an event takes effect once appended there, appends are
 * compare-and-set on the log's length (so every node judges an event in the same state), and
 * each node folds what the others appended (`sync`).
 */
import { timingSafeEqual } from 'node:crypto'
import {
  CloseCode,
  decodeEvent,
  ErrorCode,
  eventFrameFromBytes,
  Privilege,
  publicKeyToText,
  randomBytes,
  type SignedRequest,
  type StampedEvent,
  toHex,
} from '@peerchat/engine'
import {
  type Access,
  ADMIN_CHANNEL,
  AdminKind,
  type AdminState,
  type BanInfo,
  BuiltinRole,
  decodeAdminBody,
  foldAdmin,
  INVITE_SECRET_BYTES,
  type InviteStatus,
  inviteIdOf,
  isAdminKind,
  Kind,
  mayEdit,
  mayPost,
  Permission,
} from '@peerchat/engine/chat'
import type { Logger } from '../log.ts'
import type { Policy } from './policy.ts'

/** What a session got from the link it logged in with (the login frame's 32-byte `invite`). */
export type LinkGrant =
  /** The claim code: the session may publish `admin.claim` (once somebody's is stamped, nobody's). */
  | { kind: 'claim' }
  /** One reserved use of invite `id` (hex), until the session's `invite.redeem` is stamped or it closes. */
  | { kind: 'invite'; id: string; state: 'reserved' | 'redeemed' | 'released' }

/** Sub-reasons of `login_failed` the admin state gives (login.ts lists the others). */
export type AdminLoginRefusal = 'banned' | 'invite_required' | 'bad_invite'

export type Admission =
  | { ok: true; privileges: number; grant: LinkGrant | null }
  | { ok: false; reason: AdminLoginRefusal; message: string }

/** A refused request: the Error frame's code and message, and whether its socket must close. */
export interface Refusal {
  code: ErrorCode
  message: string
  /** Close the requesting session (a failed `invite.redeem`: it was admitted by that link only). */
  close?: { code: number; reason: string }
}

/** A key whose sessions the relay closes (`CloseCode.removed`) once the kick or ban is stamped. */
export interface Removal {
  target: Uint8Array
  reason: string
}

/**
 * An accepted admin event carries `commit`: what it changes, applied by `record` once the event
 * is signed and on disk, never before (a failed write leaves the state as it was).
 */
export type Decision = { ok: true; removal?: Removal; commit?: () => void } | { ok: false; refusal: Refusal }

/** Called with each admin event the relay stamped, in id order, once it is in `frames`. */
export type RecordListener = (event: StampedEvent, bytes: Uint8Array, removal: Removal | undefined) => void

/** An admin event as stored: decoded, and the exact bytes the relay signed. */
export interface StoredAdminEvent {
  event: StampedEvent
  bytes: Uint8Array
}

export interface AdminGateOptions {
  /** The legacy configuration: admin keys (PEERCHAT_ADMIN_KEYS), who may post and create. */
  policy: Policy
  /** Access until the first `access.set` (`--access`; the fold itself starts invite-only). */
  access: Access
  /** The admin log read at start (admin-log.ts), any order. */
  events?: Iterable<StoredAdminEvent>
  /** Bytes of admin events the relay holds (and serves to joiners); beyond, it stamps none. */
  maxLogBytes: number
  /** Admin requests waiting for their turn to be stamped (they are stamped one at a time). */
  maxPending: number
  /** The claim code's source (tests); default 32 random bytes. */
  newClaimCode?: () => Uint8Array
  /** Stores a stamped admin event durably before it takes effect (admin.log); throws when it cannot. */
  persist?: (bytes: Uint8Array) => void
  /** The cluster's admin log: with it, `persist` is this node's copy (a failure there is only logged). */
  shared?: SharedAdminLog
  /** Where a failure of the local copy is said (with `shared`). */
  warn?: Logger
  /**
   * Checks an event read from the shared log (its relay stamp and author signature): Redis is
   * not the relay key, so what it holds is verified like any peer's event. Default: accepted.
   */
  verify?: (event: StampedEvent) => Promise<boolean>
}

/** The admin log the nodes of a cluster share (RedisCluster.adminRead / adminAppend). */
export interface SharedAdminLog {
  /** Its events from index `from` on; throws when unreachable. */
  read(from: number): Promise<Uint8Array[]>
  /** Appends if it still has `expected` events; false when another node appended first. */
  append(expected: number, bytes: Uint8Array): Promise<boolean>
}

/** What `record` did: `stale` when another node appended first (sync, then decide again). */
export type RecordResult = 'recorded' | 'stale'

const CLOSE_REASON_BYTES = 123
/** Bytes before the event in an event frame (version, tag: eventFrameFromBytes). */
const EVENT_FRAME_HEADER = 2
const ALL_PRIVILEGES = Privilege.post | Privilege.create | Privilege.admin
const iso = (ms: number) => new Date(ms).toISOString()
const refusal = (code: ErrorCode, message: string, close?: Refusal['close']): Decision => ({
  ok: false,
  refusal: close ? { code, message, close } : { code, message },
})

/** "banned: <reason> [until <time>]" without the prefix (login.ts adds it). */
export function banText(ban: BanInfo): string {
  const reason = ban.reason.trim() || '(no reason given)'
  return ban.until === undefined ? reason : `${reason} until ${iso(ban.until)}`
}

const INVITE_TEXT: Record<Exclude<InviteStatus, 'usable'>, string> = {
  unknown: 'this link is not a usable invite (altered, never created, or a claim link already used)',
  revoked: 'this invite link was revoked',
  expired: 'this invite link has expired',
  'used-up': 'this invite link is used up',
}

/** `text` cut to what a WebSocket close frame carries (123 UTF-8 bytes), on a character boundary. */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= CLOSE_REASON_BYTES) return text
  let end = CLOSE_REASON_BYTES
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString('utf8')
}

export class AdminGate {
  private _state: AdminState
  /** Whether an `access.set` was accepted: until then access is the configured default. */
  private accessSet = false
  private claim: Uint8Array | null
  /** Invite id (hex) -> uses reserved by open sessions. Bounded by the open sessions (one each). */
  private readonly reserved = new Map<string, number>()
  /** Event frames (version, tag, event bytes) in id order: what a joiner of `admin` receives. */
  private readonly history: Uint8Array[] = []
  private historyBytes = 0
  private readonly listeners: RecordListener[] = []
  /** The admin request being stamped, and how many wait behind it. */
  private tail: Promise<unknown> = Promise.resolve()
  private pending = 0
  /** Ids of the events held (the shared log and the local copy may both hold one). */
  private readonly held = new Set<string>()
  /** Events of the shared log folded here (its length as this node knows it). */
  private sharedLength = 0
  private lastId: string | undefined

  constructor(private readonly o: AdminGateOptions) {
    const stored = [...(o.events ?? [])].sort((a, b) =>
      a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0,
    )
    const { state, refused } = foldAdmin(stored.map((s) => s.event))
    this._state = state
    const refusedIds = new Set(refused.map((r) => r.id))
    this.accessSet = stored.some((s) => s.event.kind === AdminKind.accessSet && !refusedIds.has(s.event.id))
    for (const s of stored) {
      if (this.held.has(s.event.id)) continue // the same event stored twice counts once
      this.hold(s.event.id)
      this.push(eventFrameFromBytes(s.bytes))
    }
    this.claim = state.owner === undefined ? (o.newClaimCode ?? (() => randomBytes(32)))() : null
  }

  /** The fold (read only: the gate alone applies events to it). */
  get state(): AdminState {
    return this._state
  }

  /** The one-time claim code while the community has no owner; null once claimed. */
  get claimCode(): Uint8Array | null {
    return this.claim ? this.claim.slice() : null
  }

  /** Event frames of every admin event held, oldest first (served on join). */
  get frames(): readonly Uint8Array[] {
    return this.history
  }

  /** Open or invite-only at relay time `at`: the fold's once an `access.set` was stamped, else the default. */
  access(at: number): Access {
    return this.accessSet ? this._state.accessAt(at) : this.o.access
  }

  /**
   * A member logs in without a link even when the community is invite-only: it claimed,
   * redeemed an invite or was given a role (`memberOf`; a kick or ban ends that), or it is a
   * legacy admin key.
   */
  isMember(key: Uint8Array): boolean {
    return this._state.memberOf(key) !== undefined || this.o.policy.isAdmin(key)
  }

  /** Whether `key` needs a link (or a legacy invite credential) to log in at `at`. */
  needsInvite(key: Uint8Array, at: number): boolean {
    return this.access(at) === 'invite' && !this.isMember(key)
  }

  /**
   * Session privilege bits at `at`: the legacy configuration's, plus all of them for the owner
   * and admins, and `create` for whoever may manage channels. Old clients read them; the relay
   * itself asks the fold at every request.
   */
  privileges(key: Uint8Array, at: number): number {
    let bits = this.o.policy.privilegesOf(key)
    const perms = this._state.permissionsAt(key, at)
    const role = this._state.roleAt(key, at)
    if (perms && (role === BuiltinRole.owner || role === BuiltinRole.admin)) bits |= ALL_PRIVILEGES
    if (perms & Permission.manageChannels) bits |= Privilege.create
    return bits
  }

  /**
   * Decides a login whose signature verified. `link` is the login's 32-byte secret, if any;
   * `legacyInvite` says a valid legacy invite credential came instead. A usable invite link
   * reserves one use for the session (release it with `release` when the session ends).
   */
  admit(key: Uint8Array, link: Uint8Array | null, legacyInvite: boolean, at: number): Admission {
    const ban = this._state.banOf(key, at)
    if (ban) return { ok: false, reason: 'banned', message: banText(ban) }
    let grant: LinkGrant | null = null
    if (link) {
      if (link.length !== INVITE_SECRET_BYTES) throw new RangeError('a link secret has 32 bytes')
      if (this.claim && timingSafeEqual(link, this.claim)) grant = { kind: 'claim' }
      else {
        const id = toHex(inviteIdOf(link))
        const status = this.inviteStatusWithReservations(id, at)
        if (status === 'usable') {
          this.reserved.set(id, (this.reserved.get(id) ?? 0) + 1)
          grant = { kind: 'invite', id, state: 'reserved' }
        } else if (!this.isMember(key)) {
          return { ok: false, reason: 'bad_invite', message: INVITE_TEXT[status] }
        }
        // A member with a spent link (its own redeem, a reconnect after it) is let in as a member.
      }
    }
    if (!grant && !legacyInvite && this.needsInvite(key, at))
      return {
        ok: false,
        reason: 'invite_required',
        message: 'this community is invite-only: ask for an invite link',
      }
    return { ok: true, privileges: this.privileges(key, at), grant }
  }

  /** The session that held `grant` ended: an unredeemed invite use is free again. Idempotent. */
  release(grant: LinkGrant | null): void {
    if (grant?.kind !== 'invite' || grant.state !== 'reserved') return
    grant.state = 'released'
    this.unreserve(grant.id)
  }

  /**
   * The checks of a request that need no id (before the signature is verified): the link
   * session's first duty, which kinds go where, claim and redeem only through their link, and
   * the session's privileges at `at`. Null: go on.
   */
  screen(grant: LinkGrant | null, req: SignedRequest, at: number): Refusal | null {
    const author = req.author
    if (grant?.kind === 'invite' && grant.state === 'reserved' && req.kind !== AdminKind.inviteRedeem)
      return {
        code: ErrorCode.redeemFirst,
        message: 'this session logged in by an invite link: publish its invite.redeem first',
      }
    if (req.channel === ADMIN_CHANNEL) {
      if (!isAdminKind(req.kind))
        return {
          code: ErrorCode.forbidden,
          message: `the admin channel takes only admin events, not ${req.kind}`,
        }
      if (this.historyBytes >= this.o.maxLogBytes)
        return {
          code: ErrorCode.limitExceeded,
          message: `the relay holds ${this.o.maxLogBytes} bytes of admin events: it stamps no more`,
        }
      if (req.kind === AdminKind.claim) {
        if (grant?.kind !== 'claim')
          return { code: ErrorCode.forbidden, message: 'admin.claim needs a login by the claim link' }
        if (!this.claim) return { code: ErrorCode.forbidden, message: 'the community has an owner already' }
      }
      if (req.kind === AdminKind.inviteRedeem) {
        if (grant?.kind !== 'invite' || grant.state !== 'reserved')
          return {
            code: ErrorCode.forbidden,
            message: 'invite.redeem needs a login by that invite link (not yet redeemed)',
          }
        let body: ReturnType<typeof decodeAdminBody>
        try {
          body = decodeAdminBody(req.kind, req.body)
        } catch (e) {
          return { code: ErrorCode.forbidden, message: `malformed: ${(e as Error).message}` }
        }
        if (body?.kind !== AdminKind.inviteRedeem || toHex(body.body.id) !== grant.id)
          return {
            code: ErrorCode.forbidden,
            message: "invite.redeem names another invite than the session's link",
          }
      }
      return null
    }
    if (isAdminKind(req.kind))
      return { code: ErrorCode.forbidden, message: `${req.kind} belongs in the ${ADMIN_CHANNEL} channel` }
    const bits = this.privileges(author, at)
    if (req.kind === Kind.channelCreate) {
      if (!(bits & Privilege.create))
        return { code: ErrorCode.forbidden, message: 'may not create channels (needs manageChannels)' }
    } else if (!(bits & Privilege.post)) return { code: ErrorCode.forbidden, message: 'may not post' }
    const why = this.postRefusal(author, req.channel, at, req.kind)
    return why ? { code: ErrorCode.forbidden, message: why } : null
  }

  /**
   * The last check, with the id the event is about to get (`event.id`, `event.ts`; its relay
   * signature is not made yet): `mayPost` for an ordinary event (`mayEdit` for a `yjs` one),
   * `AdminState.check` for an admin one — which, accepted, is applied at once (call this
   * inside `serialize`, then sign and `record`, so that admin events are judged and stored in
   * id order).
   */
  decide(grant: LinkGrant | null, event: StampedEvent): Decision {
    if (event.channel !== ADMIN_CHANNEL) {
      const why = this.postRefusal(event.author, event.channel, event.ts, event.kind)
      return why ? refusal(ErrorCode.forbidden, why) : { ok: true }
    }
    if (event.kind === AdminKind.claim && !this.claim)
      return refusal(ErrorCode.forbidden, 'the community has an owner already')
    if (event.kind === AdminKind.inviteRedeem && (grant?.kind !== 'invite' || grant.state !== 'reserved'))
      return refusal(
        ErrorCode.forbidden,
        'invite.redeem needs a login by that invite link (not yet redeemed)',
      )
    const verdict = this._state.check(event)
    if (!verdict.ok) {
      const message = `${verdict.reason}: ${verdict.detail}`
      if (event.kind !== AdminKind.inviteRedeem) return refusal(ErrorCode.forbidden, message)
      // The session came in by this link only: without it, it has no business here.
      this.release(grant)
      return refusal(ErrorCode.forbidden, message, {
        code: CloseCode.loginFailed,
        reason: 'login_failed:bad_invite',
      })
    }
    const action = verdict.action
    const commit = (): void => {
      this._state.apply(event)
      if (action.kind === AdminKind.claim) this.claim = null
      else if (action.kind === AdminKind.accessSet) this.accessSet = true
      else if (
        action.kind === AdminKind.inviteRedeem &&
        grant?.kind === 'invite' &&
        grant.state === 'reserved'
      ) {
        grant.state = 'redeemed'
        this.unreserve(grant.id)
      }
    }
    if (action.kind === AdminKind.memberKick || action.kind === AdminKind.memberBan)
      return { ok: true, commit, removal: { target: action.body.target, reason: action.body.reason } }
    return { ok: true, commit }
  }

  /**
   * Runs `stamp` (id, `decide`, signature, `record`) after every admin request before it, so
   * that admin events are judged, stored and fanned out in id order. Null when more than
   * `maxPending` wait (the caller refuses with rate_limited).
   */
  serialize<T>(stamp: () => Promise<T>): Promise<T> | null {
    if (this.pending >= this.o.maxPending) return null
    this.pending++
    const run = this.tail.then(stamp)
    const done = () => {
      this.pending--
    }
    this.tail = run.then(done, done)
    return run
  }

  /**
   * A stamped admin event: stored (`persist`; a failure throws and changes nothing), then
   * applied (`decision.commit`), kept for joiners (in id order) and handed to every listener.
   * In a cluster it is first appended to the shared log: `stale` when another node appended
   * since this one last synced (nothing changed: `sync`, then decide again at a new id).
   */
  async record(event: StampedEvent, bytes: Uint8Array, decision?: Decision): Promise<RecordResult> {
    if (this.o.shared) {
      if (!(await this.o.shared.append(this.sharedLength, bytes))) return 'stale'
      this.sharedLength++
      this.keepCopy(event, bytes)
    } else this.o.persist?.(bytes)
    const removal = decision?.ok ? decision.removal : undefined
    if (decision?.ok) decision.commit?.()
    this.hold(event.id)
    this.push(eventFrameFromBytes(bytes))
    for (const listener of this.listeners) listener(event, bytes, removal)
    return 'recorded'
  }

  /** The id an admin event must exceed: the last one held (the shared log is in id order). */
  get newestId(): string | undefined {
    return this.lastId
  }

  /**
   * Folds what other nodes appended to the shared log since the last sync (or start), in
   * order: applied as the peers fold them, fanned out to this node's listeners, and kept in
   * the local copy. Throws when the shared log cannot be read.
   */
  async sync(): Promise<void> {
    const shared = this.o.shared
    if (!shared) return
    const items = await shared.read(this.sharedLength)
    if (this.sharedLength === 0 && items.length === 0 && this.history.length > 0) {
      // A new (or emptied) Redis: this node's copy seeds it, oldest first.
      for (const frame of this.history) {
        if (!(await shared.append(this.sharedLength, frame.subarray(EVENT_FRAME_HEADER)))) return this.sync()
        this.sharedLength++
      }
      return
    }
    for (const bytes of items) {
      this.sharedLength++
      let event: StampedEvent
      try {
        event = decodeEvent(bytes)
      } catch {
        continue // not an event: every node skips it alike
      }
      if (this.held.has(event.id)) continue // this node's copy had it (seeded, or its own)
      if (this.o.verify && !(await this.o.verify(event))) {
        this.o.warn?.('relay.admin_log_forged', { id: event.id, index: this.sharedLength - 1 })
        continue // every node skips it alike
      }
      this.keepCopy(event, bytes)
      this.ingest(event, bytes)
    }
  }

  /** Events of the shared log this node has folded. */
  get sharedCount(): number {
    return this.sharedLength
  }

  /** An event another node decided: applied as every peer applies it. */
  private ingest(event: StampedEvent, bytes: Uint8Array): void {
    const verdict = this._state.check(event)
    let removal: Removal | undefined
    if (verdict.ok) {
      this._state.apply(event)
      const action = verdict.action
      if (action.kind === AdminKind.claim) this.claim = null
      else if (action.kind === AdminKind.accessSet) this.accessSet = true
      else if (action.kind === AdminKind.memberKick || action.kind === AdminKind.memberBan)
        removal = { target: action.body.target, reason: action.body.reason }
    }
    this.hold(event.id)
    this.push(eventFrameFromBytes(bytes))
    for (const listener of this.listeners) listener(event, bytes, removal)
  }

  private keepCopy(event: StampedEvent, bytes: Uint8Array): void {
    try {
      this.o.persist?.(bytes)
    } catch (e) {
      this.o.warn?.('relay.admin_log_error', { id: event.id, error: String(e), copy: 'local' })
    }
  }

  private hold(id: string): void {
    this.held.add(id)
    if (this.lastId === undefined || id > this.lastId) this.lastId = id
  }

  onRecord(listener: RecordListener): void {
    this.listeners.push(listener)
  }

  /**
   * Why `key` may not publish an ordinary event of `kind` in `channel` at `at` (null: it may):
   * `mayPost`, or `mayEdit` for a `yjs` event (a change to one of the channel's documents).
   */
  postRefusal(author: Uint8Array, channel: string, at: number, kind = ''): string | null {
    const s = this._state
    const key = publicKeyToText(author) // once: the state's lookups take the text form as is
    const ban = s.banOf(key, at)
    if (ban) return `banned: ${banText(ban)}`
    const timeout = s.timeoutOf(key, at)
    if (timeout) return `timed out until ${iso(timeout.until)}`
    const edit = kind === Kind.yjs
    if ((edit ? mayEdit : mayPost)(s, key, channel, at)) return null
    if (channel === ADMIN_CHANNEL) return 'the admin channel takes only admin events'
    const role = s.roleAt(key, at)
    if (!(s.permissionsAt(key, at) & Permission.post)) return `your role (${role}) may not post`
    if (s.channelAt(channel, at)?.archived) return `#${channel} is archived`
    if (edit)
      return `the canvas of #${channel} is editable by ${s.leastRoleTo('edit', channel, at)} and above (your role: ${role})`
    return `this channel is read-only for your role (${role}): it takes ${s.leastRoleTo('post', channel, at)} and above`
  }

  private inviteStatusWithReservations(id: string, at: number): InviteStatus {
    const status = this._state.inviteStatus(id, at)
    if (status !== 'usable') return status
    const left = this._state.invites().get(id)?.usesLeft ?? 0
    return left - (this.reserved.get(id) ?? 0) > 0 ? 'usable' : 'used-up'
  }

  private unreserve(id: string): void {
    const n = (this.reserved.get(id) ?? 0) - 1
    if (n <= 0) this.reserved.delete(id)
    else this.reserved.set(id, n)
  }

  private push(frame: Uint8Array): void {
    this.history.push(frame)
    this.historyBytes += frame.length
  }
}
