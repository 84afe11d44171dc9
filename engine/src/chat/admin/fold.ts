/**
 * AdminState: a community's admin state (roles, bans, timeouts, channels, invites, access) as
 * a pure, deterministic fold over the signed events of the `admin` channel
 * (docs/protocol/admin.md §3). The relay and every replica run the same fold on the same
 * events, so they reach the same state and the same verdicts.
 *
 * - Events are applied in id order (`apply` refuses one whose id is not above the last;
 *   `foldAdmin` sorts and drops exact duplicates). An event that arrives late (an id below
 *   the last applied) means: refold with `foldAdmin`. Admin logs are small and the fold does
 *   no signature work (events come verified by the log).
 * - Each event is judged against the state of the events before it, at its relay time (the
 *   time of its ULID): its author must hold the permission then, and not be banned or timed
 *   out; expiries compare with that time. A refused event changes nothing but the fold's
 *   position: like the log, the fold keeps one event per (author, clientNonce), so a refused
 *   request restamped later is still refused (`replayed`).
 * - Queries take a relay time `at` (ms) where the answer changes over time: a change counts
 *   from its own millisecond on, so an ordinary event stamped in the same millisecond as a ban
 *   is judged banned. Histories are bounded (`AdminLimits.history`, history.ts).
 */
import { toHex } from '../../bytes.ts'
import { DecodeError } from '../../errors.ts'
import type { StampedEvent } from '../../event.ts'
import { type PublicKey, publicKeyToText } from '../../identity/keys.ts'
import { type Ulid, ulidTime } from '../../ulid.ts'
import type { Role } from '../roles.ts'
import { type AdminAction, AdminLimits, type ChannelUpdateBody, decodeAdminBody } from './bodies.ts'
import { History } from './history.ts'
import { ADMIN_CHANNEL, AdminKind } from './kinds.ts'
import {
  type Access,
  BuiltinRole,
  CUSTOM_ROLE_PERMISSIONS,
  isBuiltinRole,
  Permission,
  permissionsOf,
  type RoleName,
  roleRank,
  withAccess,
} from './permissions.ts'

/** A key as raw bytes or as its base64url text (`publicKeyToText`). */
export type KeyRef = PublicKey | string
/** An invite id as 16 bytes or as its hex text. */
export type InviteRef = Uint8Array | string

/** Why the fold refused an event: stable codes for logs, tests and the UI. */
export const AdminRefusal = {
  wrongChannel: 'wrong-channel',
  unknownKind: 'unknown-kind',
  malformed: 'malformed',
  /** The same event (same id) again. */
  duplicate: 'duplicate',
  /** The same signed request (author, clientNonce) stamped again under another id. */
  replayed: 'replayed',
  /** An id at or below the last applied one: refold with `foldAdmin`. */
  outOfOrder: 'out-of-order',
  banned: 'banned',
  timedOut: 'timed-out',
  noPermission: 'no-permission',
  /** The target's role (or the role given) is not strictly below the author's. */
  outranked: 'outranked',
  ownerOnly: 'owner-only',
  self: 'self',
  alreadyOwned: 'already-owned',
  unknownRole: 'unknown-role',
  reservedRole: 'reserved-role',
  badPermissions: 'bad-permissions',
  tooManyRoles: 'too-many-roles',
  reservedChannel: 'reserved-channel',
  tooManyChannels: 'too-many-channels',
  notBanned: 'not-banned',
  targetBanned: 'target-banned',
  /** A ban ending before it starts, a timeout past `AdminLimits.timeout`, an invite already expired. */
  badTime: 'bad-time',
  unknownInvite: 'unknown-invite',
  duplicateInvite: 'duplicate-invite',
  inviteRevoked: 'invite-revoked',
  inviteExpired: 'invite-expired',
  inviteUsedUp: 'invite-used-up',
  tooManyInvites: 'too-many-invites',
} as const
export type AdminRefusal = (typeof AdminRefusal)[keyof typeof AdminRefusal]

export type AdminVerdict =
  | { ok: true; action: AdminAction }
  | { ok: false; reason: AdminRefusal; detail: string }

export interface BanInfo {
  /** The `member.ban` event. */
  id: Ulid
  ts: number
  by: string
  reason: string
  /** Relay time the ban ends; absent = for ever. */
  until?: number
}

export interface TimeoutInfo {
  id: Ulid
  ts: number
  by: string
  until: number
}

export interface Membership {
  /** The event that made the key a member: the claim, a redeemed invite, a role given. */
  id: Ulid
  since: number
  via: 'claim' | 'invite' | 'role'
}

export interface ChannelInfo {
  channel: string
  /** Display name; absent = the channel's own name. */
  name?: string
  topic: string
  /** A kit position (`between`); absent = after every positioned channel, by name. */
  position?: string
  archived: boolean
  /** The least role that may post. */
  postRole: BuiltinRole
  /** The least role that may edit the channel's documents (its canvas); absent = follows `postRole`. */
  editRole?: BuiltinRole
  /** The last `channel.update` that changed it. */
  id: Ulid
}

/** What a key does in a channel that its role may be too low for: post events, or edit its documents (`yjs`). */
export type ChannelAct = 'post' | 'edit'

export type InviteStatus = 'usable' | 'unknown' | 'revoked' | 'expired' | 'used-up'

export interface InviteInfo {
  /** Hex of the 16-byte id. */
  id: string
  by: string
  createdAt: number
  expiresAt: number
  uses: number
  usesLeft: number
  /** Relay time of the `invite.revoke`, if revoked. */
  revokedAt?: number
}

/** One accepted action, for an audit log screen. */
export interface AuditEntry {
  id: Ulid
  ts: number
  author: string
  kind: AdminKind
  target?: string
  role?: RoleName
  permissions?: number
  channel?: string
  reason?: string
  until?: number
  /** Hex invite id. */
  invite?: string
  access?: Access
}

export interface RefusedAdminEvent {
  id: Ulid
  reason: AdminRefusal
  detail: string
}

interface KeyRecord {
  role: History<RoleName>
  ban: History<BanInfo | null>
  timeout: History<TimeoutInfo | null>
  member: Membership | undefined
}

type Refused = Extract<AdminVerdict, { ok: false }>
/** An accepted action: what applying it changes. */
type Accepted = { ok: true; commit: () => void }

const refuse = (reason: AdminRefusal, detail: string): Refused => ({ ok: false, reason, detail })
const keyText = (k: KeyRef): string => (typeof k === 'string' ? k : publicKeyToText(k))
const inviteText = (id: InviteRef): string => (typeof id === 'string' ? id.toLowerCase() : toHex(id))
const short = (key: string): string => key.slice(0, 8)
const byKey = <T>(m: ReadonlyMap<string, T>): [string, T][] =>
  [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

export class AdminState {
  private readonly keys = new Map<string, KeyRecord>()
  private readonly roleDefs = new Map<string, History<number | undefined>>()
  private readonly channelSettings = new Map<string, History<ChannelInfo | undefined>>()
  private readonly inviteMap = new Map<string, InviteInfo>()
  private readonly accessHistory = new History<Access>('invite')
  /** (author, clientNonce) -> id: the log's idempotency key, to spot a restamped request. */
  private readonly requests = new Map<string, Ulid>()
  private readonly auditLog: AuditEntry[] = []
  private ownerKey: string | undefined
  private last: Ulid | undefined

  /** The current owner's key text, once claimed. */
  get owner(): string | undefined {
    return this.ownerKey
  }

  /** The id of the last judged event (the next one must be above it). */
  get lastId(): Ulid | undefined {
    return this.last
  }

  /** Judges `event` against the current state without changing it. */
  check(event: StampedEvent): AdminVerdict {
    return this.judge(event).verdict
  }

  /** Judges `event` and, if accepted, applies it. Feed events in id order. */
  apply(event: StampedEvent): AdminVerdict {
    const { verdict, commit } = this.judge(event)
    commit?.()
    return verdict
  }

  // ---- queries ------------------------------------------------------------------------------

  /** Open or invite-only at relay time `at` (default: now). Invite-only until an `access.set`. */
  accessAt(at = Number.POSITIVE_INFINITY): Access {
    return this.accessHistory.at(at)
  }

  /** The key's current role (`member` unless given another). */
  roleOf(key: KeyRef): RoleName {
    return this.keys.get(keyText(key))?.role.current ?? BuiltinRole.member
  }

  roleAt(key: KeyRef, at: number): RoleName {
    return this.keys.get(keyText(key))?.role.at(at) ?? BuiltinRole.member
  }

  /**
   * The key's roles as the chat projections see them (`Roles` of chat/roles.ts): its role,
   * plus `admin` for the owner and `moderator` for a custom role that may moderate. Empty
   * while banned or timed out.
   */
  rolesAt(key: KeyRef, at: number): ReadonlySet<Role> {
    if (this.banOf(key, at) || this.timeoutOf(key, at)) return new Set()
    const role = this.roleAt(key, at)
    const out = new Set<Role>([role])
    if (role === BuiltinRole.owner) out.add('admin')
    else if (!isBuiltinRole(role) && this.permissionsAt(key, at) & Permission.moderate) out.add('moderator')
    return out
  }

  /** `Permission` bits of the key at `at`; 0 while banned or timed out. */
  permissionsAt(key: KeyRef, at: number): number {
    if (this.banOf(key, at) || this.timeoutOf(key, at)) return 0
    const role = this.roleAt(key, at)
    const access = this.accessAt(at)
    if (isBuiltinRole(role)) return permissionsOf(role, access)
    return withAccess(this.roleDefs.get(role)?.at(at) ?? 0, access)
  }

  /**
   * Whether the key held `permission` at `at`. With `channel`, `post` also needs the channel to
   * be unarchived, not the admin channel, and the key's role at least the channel's `postRole`.
   */
  can(key: KeyRef, permission: Permission, at: number, channel?: string): boolean {
    if (permission === Permission.post && channel !== undefined) return this.mayIn(key, channel, 'post', at)
    return (this.permissionsAt(key, at) & permission) !== 0
  }

  /**
   * Whether the key may `act` in `channel` at `at`: it holds `post` (not banned, not timed
   * out), the channel is neither archived nor the admin channel, and the key's role is at
   * least `leastRoleTo(act, channel, at)`.
   */
  mayIn(key: KeyRef, channel: string, act: ChannelAct, at: number): boolean {
    if (!(this.permissionsAt(key, at) & Permission.post) || channel === ADMIN_CHANNEL) return false
    const ch = this.channelAt(channel, at)
    if (!ch) return true
    return !ch.archived && roleRank(this.roleAt(key, at)) >= roleRank(leastRole(ch, act))
  }

  /** The least role that may `act` in `channel` at `at`: `postRole`, or for `edit` `editRole ?? postRole`. */
  leastRoleTo(act: ChannelAct, channel: string, at: number): BuiltinRole {
    const ch = this.channelAt(channel, at)
    return ch ? leastRole(ch, act) : BuiltinRole.member
  }

  /** Whether `actor` may act on `target` at `at` (kick, timeout, ban, set its role): a strictly higher rank. */
  outranks(actor: KeyRef, target: KeyRef, at: number): boolean {
    return (
      keyText(actor) !== keyText(target) &&
      roleRank(this.roleAt(actor, at)) > roleRank(this.roleAt(target, at))
    )
  }

  /** The ban in force at `at`, if any. */
  banOf(key: KeyRef, at: number): BanInfo | undefined {
    const ban = this.keys.get(keyText(key))?.ban.at(at)
    return ban && (ban.until === undefined || at < ban.until) ? ban : undefined
  }

  /** The timeout in force at `at`, if any. */
  timeoutOf(key: KeyRef, at: number): TimeoutInfo | undefined {
    const t = this.keys.get(keyText(key))?.timeout.at(at)
    return t && at < t.until ? t : undefined
  }

  /**
   * How the key became a member, if it is one now: claimed, redeemed an invite, or was given a
   * role. A kick or a ban ends membership. Keys that joined an open community by logging in
   * leave no admin event, so this is what an invite-only relay admits without a new invite.
   */
  memberOf(key: KeyRef): Membership | undefined {
    return this.keys.get(keyText(key))?.member
  }

  /** Custom roles and their current permission bits. */
  customRoles(): ReadonlyMap<string, number> {
    const out = new Map<string, number>()
    for (const [name, h] of byKey(this.roleDefs)) out.set(name, h.current ?? 0)
    return out
  }

  /** Channels with admin settings, by channel name (current settings). */
  channels(): ReadonlyMap<string, ChannelInfo> {
    const out = new Map<string, ChannelInfo>()
    for (const [name, h] of byKey(this.channelSettings)) if (h.current) out.set(name, h.current)
    return out
  }

  /** A channel's settings at `at` (undefined: never updated, so defaults: anyone may post). */
  channelAt(channel: string, at = Number.POSITIVE_INFINITY): ChannelInfo | undefined {
    return this.channelSettings.get(channel)?.at(at)
  }

  /** Every tracked invite, by hex id. */
  invites(): ReadonlyMap<string, InviteInfo> {
    return new Map(byKey(this.inviteMap).map(([k, v]) => [k, { ...v }]))
  }

  inviteStatus(id: InviteRef, at: number): InviteStatus {
    const inv = this.inviteMap.get(inviteText(id))
    if (!inv || at < inv.createdAt) return 'unknown'
    if (inv.revokedAt !== undefined && at >= inv.revokedAt) return 'revoked'
    if (at >= inv.expiresAt) return 'expired'
    if (inv.usesLeft === 0) return 'used-up'
    return 'usable'
  }

  /** Whether a login by the link of this invite may be accepted at relay time `at`. */
  inviteUsable(id: InviteRef, at: number): boolean {
    return this.inviteStatus(id, at) === 'usable'
  }

  /** The last `AdminLimits.audit` (1000) accepted actions, oldest first. */
  audit(): AuditEntry[] {
    return this.auditLog.slice()
  }

  /** A canonical, JSON-ready snapshot: equal states give string-equal `JSON.stringify`. */
  toJSON(): unknown {
    return {
      owner: this.ownerKey ?? null,
      lastId: this.last ?? null,
      access: this.accessHistory,
      keys: byKey(this.keys),
      roles: byKey(this.roleDefs),
      channels: byKey(this.channelSettings),
      invites: byKey(this.inviteMap),
      audit: this.auditLog,
    }
  }

  // ---- the fold -----------------------------------------------------------------------------

  private record(key: string): KeyRecord {
    let r = this.keys.get(key)
    if (!r) {
      r = {
        role: new History<RoleName>(BuiltinRole.member),
        ban: new History<BanInfo | null>(null),
        timeout: new History<TimeoutInfo | null>(null),
        member: undefined,
      }
      this.keys.set(key, r)
    }
    return r
  }

  /** The verdict on `ev`, and what applying it changes (nothing for one that is not judged at all). */
  private judge(ev: StampedEvent): { verdict: AdminVerdict; commit?: () => void } {
    if (ev.channel !== ADMIN_CHANNEL)
      return { verdict: refuse('wrong-channel', `channel ${JSON.stringify(ev.channel)}`) }
    if (
      !(ev.author instanceof Uint8Array) ||
      ev.author.length !== 32 ||
      !(ev.clientNonce instanceof Uint8Array)
    )
      return { verdict: refuse('malformed', 'author or clientNonce is not well-formed') }
    const request = toHex(ev.author) + toHex(ev.clientNonce)
    const seen = this.requests.get(request)
    if (seen === ev.id) return { verdict: refuse('duplicate', `event ${ev.id} was judged already`) }
    if (seen !== undefined) return { verdict: refuse('replayed', `the same request was stamped as ${seen}`) }
    if (this.last !== undefined && ev.id <= this.last) {
      const reason = ev.id === this.last ? 'duplicate' : 'out-of-order'
      return { verdict: refuse(reason, `id ${ev.id} is not above the last judged ${this.last}`) }
    }
    // From here on the event takes its place in the admin log, accepted or not: like the log,
    // the fold keeps one event per request, so a restamp of a refused request stays refused.
    const advance = () => {
      this.requests.set(request, ev.id)
      this.last = ev.id
    }
    let action: AdminAction | undefined
    try {
      action = decodeAdminBody(ev.kind, ev.body)
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e
      return { verdict: refuse('malformed', e.message), commit: advance }
    }
    if (!action)
      return { verdict: refuse('unknown-kind', `kind ${JSON.stringify(ev.kind)}`), commit: advance }
    const author = publicKeyToText(ev.author)
    const ts = ulidTime(ev.id)
    const outcome = this.judgeAction(action, author, ev.id, ts)
    if (!outcome.ok) return { verdict: outcome, commit: advance }
    return {
      verdict: { ok: true, action },
      commit: () => {
        outcome.commit()
        advance()
      },
    }
  }

  private audited(entry: AuditEntry, apply: () => void): Accepted {
    return {
      ok: true,
      commit: () => {
        apply()
        this.auditLog.push(Object.freeze(entry))
        if (this.auditLog.length > AdminLimits.audit) this.auditLog.shift()
      },
    }
  }

  /** Refusal when `author` lacks `permission` at `ts`, or acts on itself or a key not below it. */
  private actOn(author: string, target: string, permission: Permission, ts: number): Refused | undefined {
    if (!(this.permissionsAt(author, ts) & permission)) return this.noPermission(author, permission)
    if (author === target) return refuse('self', 'a key does not act on itself')
    if (!this.outranks(author, target, ts))
      return refuse(
        'outranked',
        `${short(target)} (${this.roleAt(target, ts)}) is not below ${short(author)} (${this.roleAt(author, ts)})`,
      )
    return undefined
  }

  private noPermission(author: string, permission: Permission): Refused {
    const name = Object.keys(Permission).find((k) => Permission[k as keyof typeof Permission] === permission)
    return refuse('no-permission', `${short(author)} may not ${name}`)
  }

  private judgeAction(action: AdminAction, author: string, id: Ulid, ts: number): Refused | Accepted {
    const base = { id, ts, author, kind: action.kind }
    const ban = this.banOf(author, ts)
    if (ban) return refuse('banned', `${short(author)} is banned by ${ban.id}`)
    const timeout = this.timeoutOf(author, ts)
    if (timeout) return refuse('timed-out', `${short(author)} is timed out until ${timeout.until}`)
    switch (action.kind) {
      case AdminKind.claim: {
        if (this.ownerKey !== undefined) return refuse('already-owned', `owned by ${short(this.ownerKey)}`)
        return this.audited(base, () => {
          this.ownerKey = author
          const r = this.record(author)
          r.role.set(ts, BuiltinRole.owner)
          r.member ??= Object.freeze({ id, since: ts, via: 'claim' })
        })
      }
      case AdminKind.roleSet: {
        const target = publicKeyToText(action.body.target)
        const role = action.body.role
        const refused = this.actOn(author, target, Permission.manageRoles, ts)
        if (refused) return refused
        const own = this.roleAt(author, ts)
        if (!isBuiltinRole(role) && this.roleDefs.get(role)?.current === undefined)
          return refuse('unknown-role', `no role ${JSON.stringify(role)}`)
        if (role === BuiltinRole.owner) {
          if (own !== BuiltinRole.owner) return refuse('owner-only', 'only the owner hands ownership over')
        } else if (roleRank(role) >= roleRank(own))
          return refuse('outranked', `${own} may only give roles below its own, not ${role}`)
        if (this.banOf(target, ts)) return refuse('target-banned', `${short(target)} is banned: unban first`)
        return this.audited({ ...base, target, role }, () => {
          const r = this.record(target)
          r.role.set(ts, role)
          r.member ??= Object.freeze({ id, since: ts, via: 'role' })
          if (role === BuiltinRole.owner) {
            this.record(author).role.set(ts, BuiltinRole.admin)
            this.ownerKey = target
          }
        })
      }
      case AdminKind.roleDefine: {
        const { name, permissions } = action.body
        if (!(this.permissionsAt(author, ts) & Permission.manageRoles))
          return this.noPermission(author, Permission.manageRoles)
        if (isBuiltinRole(name)) return refuse('reserved-role', `${name} is a built-in role`)
        if (permissions & ~CUSTOM_ROLE_PERMISSIONS)
          return refuse('bad-permissions', 'a custom role may not ban, manage roles or the community')
        const known = this.roleDefs.get(name)
        if (!known && this.roleDefs.size >= AdminLimits.customRoles)
          return refuse('too-many-roles', `at most ${AdminLimits.customRoles} custom roles`)
        return this.audited({ ...base, role: name, permissions }, () => {
          let h = known
          if (!h) {
            h = new History<number | undefined>(undefined)
            this.roleDefs.set(name, h)
          }
          h.set(ts, permissions)
        })
      }
      case AdminKind.channelUpdate:
        return this.channelUpdate(action.body, author, base)
      case AdminKind.memberKick: {
        const target = publicKeyToText(action.body.target)
        const refused = this.actOn(author, target, Permission.moderate, ts)
        if (refused) return refused
        const reason = action.body.reason
        return this.audited({ ...base, target, reason }, () => this.expel(target, ts))
      }
      case AdminKind.memberBan: {
        const { reason, until } = action.body
        const target = publicKeyToText(action.body.target)
        const refused = this.actOn(author, target, Permission.ban, ts) ?? this.overBan(author, target, ts)
        if (refused) return refused
        if (until !== undefined && until <= ts)
          return refuse('bad-time', `ban ends (${until}) before it starts`)
        const ban: BanInfo = { id, ts, by: author, reason }
        if (until !== undefined) ban.until = until
        const entry: AuditEntry = { ...base, target, reason }
        if (until !== undefined) entry.until = until
        return this.audited(entry, () => {
          this.record(target).ban.set(ts, Object.freeze(ban))
          this.expel(target, ts)
        })
      }
      case AdminKind.memberUnban: {
        const target = publicKeyToText(action.body.target)
        if (!(this.permissionsAt(author, ts) & Permission.ban))
          return this.noPermission(author, Permission.ban)
        if (!this.banOf(target, ts)) return refuse('not-banned', `${short(target)} is not banned`)
        const refused = this.overBan(author, target, ts)
        if (refused) return refused
        return this.audited({ ...base, target }, () => this.record(target).ban.set(ts, null))
      }
      case AdminKind.memberTimeout: {
        const target = publicKeyToText(action.body.target)
        const until = action.body.until
        const refused = this.actOn(author, target, Permission.moderate, ts)
        if (refused) return refused
        if (until > ts + AdminLimits.timeout)
          return refuse('bad-time', `a timeout lasts at most ${AdminLimits.timeout} ms: ban instead`)
        return this.audited({ ...base, target, until }, () =>
          this.record(target).timeout.set(
            ts,
            until > ts ? Object.freeze({ id, ts, by: author, until }) : null,
          ),
        )
      }
      case AdminKind.inviteCreate: {
        const { expiresAt, uses } = action.body
        const invite = toHex(action.body.id)
        if (!(this.permissionsAt(author, ts) & Permission.invite))
          return this.noPermission(author, Permission.invite)
        if (expiresAt <= ts) return refuse('bad-time', `invite expires (${expiresAt}) before it is made`)
        if (this.inviteMap.has(invite)) return refuse('duplicate-invite', `invite ${invite} exists`)
        const full = this.inviteMap.size >= AdminLimits.invites
        if (full && !this.unusableInvites(ts).length)
          return refuse('too-many-invites', `${AdminLimits.invites} usable invites already`)
        return this.audited({ ...base, invite, until: expiresAt }, () => {
          if (full) for (const k of this.unusableInvites(ts)) this.inviteMap.delete(k)
          this.inviteMap.set(invite, {
            id: invite,
            by: author,
            createdAt: ts,
            expiresAt,
            uses,
            usesLeft: uses,
          })
        })
      }
      case AdminKind.inviteRevoke: {
        const invite = toHex(action.body.id)
        const inv = this.inviteMap.get(invite)
        if (!inv) return refuse('unknown-invite', `no invite ${invite}`)
        if (inv.revokedAt !== undefined)
          return refuse('invite-revoked', `invite ${invite} is revoked already`)
        if (inv.by !== author) {
          if (!(this.permissionsAt(author, ts) & Permission.invite))
            return this.noPermission(author, Permission.invite)
          if (!this.outranks(author, inv.by, ts))
            return refuse('outranked', `the invite's creator ${short(inv.by)} is not below ${short(author)}`)
        }
        return this.audited({ ...base, invite }, () => {
          inv.revokedAt = ts
        })
      }
      case AdminKind.inviteRedeem: {
        const invite = toHex(action.body.id)
        const status = this.inviteStatus(invite, ts)
        if (status !== 'usable') {
          const reason = status === 'unknown' ? 'unknown-invite' : (`invite-${status}` as const)
          return refuse(reason, `invite ${invite} is ${status}`)
        }
        return this.audited({ ...base, invite }, () => {
          this.inviteMap.get(invite)!.usesLeft--
          const r = this.record(author)
          r.member ??= Object.freeze({ id, since: ts, via: 'invite' })
        })
      }
      case AdminKind.accessSet: {
        const access = action.body.access
        if (!(this.permissionsAt(author, ts) & Permission.manageCommunity))
          return this.noPermission(author, Permission.manageCommunity)
        return this.audited({ ...base, access }, () => this.accessHistory.set(ts, access))
      }
    }
  }

  private channelUpdate(b: ChannelUpdateBody, author: string, base: AuditEntry): Refused | Accepted {
    const { id, ts } = base
    if (!(this.permissionsAt(author, ts) & Permission.manageChannels))
      return this.noPermission(author, Permission.manageChannels)
    if (b.channel === ADMIN_CHANNEL) return refuse('reserved-channel', 'the admin channel has no settings')
    const known = this.channelSettings.get(b.channel)
    if (!known && this.channelSettings.size >= AdminLimits.channels)
      return refuse('too-many-channels', `at most ${AdminLimits.channels} channels have settings`)
    const own = roleRank(this.roleAt(author, ts))
    if (b.postRole !== undefined && roleRank(b.postRole) > own)
      return refuse('outranked', `${short(author)} may not reserve a channel to ${b.postRole}`)
    // Editing follows the same rule; `null` hands it back to postRole, which must then be within reach.
    const editRole =
      b.editRole === null ? (b.postRole ?? known?.current?.postRole ?? BuiltinRole.member) : b.editRole
    if (editRole !== undefined && roleRank(editRole) > own)
      return refuse('outranked', `${short(author)} may not reserve editing #${b.channel} to ${editRole}`)
    return this.audited({ ...base, channel: b.channel }, () => {
      let h = known
      if (!h) {
        h = new History<ChannelInfo | undefined>(undefined)
        this.channelSettings.set(b.channel, h)
      }
      const next: ChannelInfo = { ...(h.current ?? defaultChannel(b.channel)), id }
      if (b.name !== undefined) next.name = b.name
      if (b.topic !== undefined) next.topic = b.topic
      if (b.position !== undefined) next.position = b.position
      if (b.archived !== undefined) next.archived = b.archived
      if (b.postRole !== undefined) next.postRole = b.postRole
      if (b.editRole === null) delete next.editRole
      else if (b.editRole !== undefined) next.editRole = b.editRole
      h.set(ts, Object.freeze(next))
    })
  }

  /** A ban is changed or lifted only by its author or a key of at least its author's rank. */
  private overBan(author: string, target: string, ts: number): Refused | undefined {
    const ban = this.banOf(target, ts)
    if (!ban || ban.by === author || roleRank(this.roleAt(author, ts)) >= roleRank(this.roleAt(ban.by, ts)))
      return undefined
    return refuse(
      'outranked',
      `the ban by ${short(ban.by)} (${this.roleAt(ban.by, ts)}) stands over ${short(author)}`,
    )
  }

  /** Kick and ban: out of the community, back to `member` (roles are not kept). */
  private expel(target: string, ts: number): void {
    const r = this.record(target)
    if (r.role.current !== BuiltinRole.member) r.role.set(ts, BuiltinRole.member)
    r.member = undefined
  }

  private unusableInvites(ts: number): string[] {
    return [...this.inviteMap.keys()].filter((k) => this.inviteStatus(k, ts) !== 'usable')
  }
}

const leastRole = (ch: ChannelInfo, act: ChannelAct): BuiltinRole =>
  act === 'edit' ? (ch.editRole ?? ch.postRole) : ch.postRole

/** A channel's settings before its first update. */
const defaultChannel = (channel: string): Omit<ChannelInfo, 'id'> => ({
  channel,
  topic: '',
  archived: false,
  postRole: BuiltinRole.member,
})

/** A deterministic order for events: by id, and (only for a hostile relay reusing an id) by content. */
function compareEvents(a: StampedEvent, b: StampedEvent): number {
  if (a.id !== b.id) return a.id < b.id ? -1 : 1
  const ka = contentKey(a)
  const kb = contentKey(b)
  return ka < kb ? -1 : ka > kb ? 1 : 0
}

const hex = (b: unknown): string => (b instanceof Uint8Array ? toHex(b) : '')
const contentKey = (e: StampedEvent): string =>
  [e.channel, e.kind, hex(e.author), hex(e.clientNonce), hex(e.body), hex(e.authorSig), hex(e.relaySig)].join(
    '|',
  )

/**
 * Folds a set of admin events from scratch: sorts them by id, drops exact duplicates, applies
 * each in turn. Any permutation or duplication of the same events gives the same state and
 * the same refusals (in id order).
 */
export function foldAdmin(events: Iterable<StampedEvent>): {
  state: AdminState
  refused: RefusedAdminEvent[]
} {
  const sorted = [...events].sort(compareEvents)
  const state = new AdminState()
  const refused: RefusedAdminEvent[] = []
  let prev: StampedEvent | undefined
  for (const ev of sorted) {
    if (prev && compareEvents(prev, ev) === 0) continue
    prev = ev
    const v = state.apply(ev)
    if (!v.ok) refused.push({ id: ev.id, reason: v.reason, detail: v.detail })
  }
  return { state, refused }
}
