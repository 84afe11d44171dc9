/**
 * `CommunityAdmin`: the community's admin state as the app shows and changes it
 * (docs/protocol/admin.md). It folds the `admin` channel with the engine's `AdminState` (events
 * in id order; one that arrives below the last folded means a refold with `foldAdmin`), answers
 * the UI's questions (roles, bans, timeouts, invites, channel settings, audit log, who may post
 * where), and turns the UI's actions into admin events. Each action is first judged by the same
 * fold the relay runs (`check` on a probe at the current time): a refusal says why before
 * anything is signed; an accepted one is signed and queued like any write (`Outgoing`), so the
 * relay's own refusal still shows. Pure over its inputs: the client feeds it events and gives it
 * a `write` function; the clock is injectable.
 */
import {
  fromHex,
  type PublicKey,
  publicKeyFromText,
  publicKeyToText,
  randomBytes,
  type StampedEvent,
  toBase64url,
  toHex,
  type Ulid,
  ulidAtTime,
  ulidTime,
} from '@peerchat/engine'
import {
  type Access,
  ADMIN_CHANNEL,
  type AdminAction,
  AdminKind,
  AdminRefusal,
  AdminState,
  BuiltinRole,
  type ChannelAct,
  decodeAdminBody,
  encodeAdminBody,
  foldAdmin,
  inviteIdOf,
  isBuiltinRole,
  Kind,
  mayEdit,
  mayPost,
  newInviteSecret,
  Permission,
  type Role,
  roleRank,
} from '@peerchat/engine/chat'
import { formatTime } from '../lib/format.ts'
import type {
  AdminChannelPatch,
  AdminClient,
  AdminInviteView,
  AdminMemberView,
  AdminView,
  BlockedState,
  LinkState,
  Outgoing,
} from './types.ts'

/** Longest timeout (ms): 28 days, the fold's limit (`AdminLimits.timeout`). */
export const TIMEOUT_MAX_MS = 28 * 24 * 3600 * 1000
/** Longest invite lifetime offered (hours): 30 days. */
export const INVITE_HOURS_MAX = 30 * 24

/** An action this device's fold refuses: the message says why, for the user. */
export class AdminRefusedError extends Error {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message)
    this.name = 'AdminRefusedError'
  }
}

export interface CommunityAdminOptions {
  self: PublicKey
  /** Signs and queues an event in the admin channel (the client's local-first write). */
  write: (kind: AdminKind, body: Uint8Array) => Promise<Outgoing>
  /** Something the UI shows changed. */
  changed: () => void
  /** Keys of the people this client has seen (profiles, presence): listed as members too. */
  people?: () => Iterable<string>
  /** Where invite links point: the community's page, without a fragment. */
  linkBase?: () => string
  /**
   * Who may join before any `access.set` as the relay says (its `--access`, in its well-known
   * document): shown until the first `access.set`. The fold itself starts invite-only.
   */
  initialAccess?: () => Access | undefined
  now?: () => number
}

const EXPLAIN: Partial<Record<AdminRefusal, string>> = {
  [AdminRefusal.noPermission]: 'Your role does not allow that.',
  [AdminRefusal.outranked]:
    'You can act only on people whose role is below yours, and give only roles below your own.',
  [AdminRefusal.ownerOnly]: 'Only the owner can hand over ownership.',
  [AdminRefusal.self]: 'You cannot do that to yourself.',
  [AdminRefusal.alreadyOwned]: 'This community has an owner already.',
  [AdminRefusal.banned]: 'You are banned from this community.',
  [AdminRefusal.targetBanned]: 'That person is banned: unban them first.',
  [AdminRefusal.notBanned]: 'That person is not banned.',
  [AdminRefusal.badTime]:
    'That time is not valid: a timeout lasts at most 28 days, and an end must be later than now.',
  [AdminRefusal.unknownRole]: 'There is no such role.',
  [AdminRefusal.reservedChannel]: 'The admin channel has no settings.',
  [AdminRefusal.unknownInvite]: 'There is no such invite.',
  [AdminRefusal.inviteRevoked]: 'That invite is revoked already.',
  [AdminRefusal.duplicateInvite]: 'That invite exists already.',
  [AdminRefusal.tooManyInvites]: 'There are too many usable invites: revoke some first.',
  [AdminRefusal.tooManyChannels]: 'Too many channels have settings.',
  [AdminRefusal.malformed]: 'That is not a valid action.',
}

const roleLabel = (role: string): string => (role === BuiltinRole.member ? 'members' : `${role}s`)

export class CommunityAdmin implements AdminClient {
  private state = new AdminState()
  /** Every admin event held, by id (a refold reads them all). */
  private readonly events = new Map<Ulid, StampedEvent>()
  /** Keys named by admin events (authors and targets), for the member and ban lists. */
  private readonly named = new Set<string>()
  /** Links of the invites made in this session (the secret exists nowhere else). */
  private readonly links = new Map<string, string>()
  private readonly selfId: string
  private readonly now: () => number
  private linkState: LinkState | undefined
  private blockedState: BlockedState | undefined
  private loaded = false

  constructor(private readonly o: CommunityAdminOptions) {
    this.selfId = publicKeyToText(o.self)
    this.now = o.now ?? Date.now
  }

  // ---- fed by the client ------------------------------------------------------------------

  /** Admin events held (stored or arriving, in any order): folded in id order. */
  take(events: readonly StampedEvent[]): void {
    let refold = false
    let applied = false
    for (const e of [...events].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      if (e.channel !== ADMIN_CHANNEL || this.events.has(e.id)) continue
      this.events.set(e.id, e)
      this.name(e)
      const last = this.state.lastId
      if (refold || (last !== undefined && e.id <= last)) refold = true
      else this.state.apply(e)
      applied = true
    }
    if (refold) this.state = foldAdmin(this.events.values()).state
    if (applied || !this.loaded) {
      this.loaded = true
      this.o.changed()
    }
  }

  /** Events that left the log (a request stamped twice keeps its smaller id): refold without them. */
  drop(ids: readonly Ulid[]): void {
    let dropped = false
    for (const id of ids) dropped = this.events.delete(id) || dropped
    if (!dropped) return
    this.state = foldAdmin(this.events.values()).state
    this.o.changed()
  }

  /** The link this session logs in with, and what became of it. */
  setLink(link: LinkState | undefined): void {
    this.linkState = link
    this.o.changed()
  }

  /** This session is out of the community (kicked, banned, refused at login), or back in. */
  setBlocked(blocked: BlockedState | undefined): void {
    this.blockedState = blocked
    this.o.changed()
  }

  get blocked(): BlockedState | undefined {
    return this.blockedState
  }

  // ---- questions --------------------------------------------------------------------------

  /** Whether the community has (ever had) an owner. */
  get claimed(): boolean {
    return this.state.owner !== undefined
  }

  /** Open or invite-only now: the last `access.set`, else what the relay says it starts with. */
  get access(): Access {
    const set = this.state.audit().some((e) => e.kind === AdminKind.accessSet)
    return set
      ? this.state.accessAt(this.now())
      : (this.o.initialAccess?.() ?? this.state.accessAt(this.now()))
  }

  /** A key's current role (`member` unless given another). */
  roleOf(id: string): string {
    return this.state.roleOf(id)
  }

  /** The ban in force on `id` now, if any. */
  bannedNow(id: string): boolean {
    return this.state.banOf(id, this.now()) !== undefined
  }

  /** The state as the chat's `Roles` (who may redact others' messages, set topics). */
  rolesAt(key: PublicKey, ts: number): ReadonlySet<Role> {
    return this.state.rolesAt(key, ts)
  }

  /** Whether I hold `permission` now (`manageChannels`, `moderate`, …). */
  may(permission: keyof typeof Permission): boolean {
    return (this.state.permissionsAt(this.selfId, this.now()) & Permission[permission]) !== 0
  }

  /**
   * Whether an ordinary event counts: its author could post there at its relay time (not
   * banned, not timed out, the channel open to its role). The relay refuses the others; one
   * it stamped anyway (before a ban reached it, or a hostile relay) is not shown.
   */
  allows(e: StampedEvent): boolean {
    if (e.kind === Kind.yjs) return this.allowsEdit(e)
    return this.couldPost(e.author, e.channel, e.ts)
  }

  /** Whether `author` could post in `channel` at relay time `ts` (what `allows` checks of a post). */
  couldPost(author: PublicKey, channel: string, ts: number): boolean {
    return channel === ADMIN_CHANNEL || mayPost(this.state, author, channel, ts)
  }

  /**
   * Whether a `yjs` event counts: its author could edit its channel's documents at its relay
   * time (`mayEdit`: the channel's `editRole`, else its `postRole`). A canvas's `authorize`:
   * the relay refuses the others; one it stamped anyway never reaches the Y.Doc.
   */
  allowsEdit(e: StampedEvent): boolean {
    return mayEdit(this.state, e.author, e.channel, e.ts)
  }

  /** Why I may not post in `channel` now (banned, timed out, read-only), or null. */
  whyNotPost(channel: string): string | null {
    if (channel === ADMIN_CHANNEL) return 'The admin channel takes only admin actions.'
    if (mayPost(this.state, this.selfId, channel, this.now())) return null
    return this.whyNot(channel, 'post')
  }

  /** Why I may not edit the canvas of `channel` now (banned, timed out, archived, role too low), or null. */
  whyNotEdit(channel: string): string | null {
    if (channel === ADMIN_CHANNEL) return 'The admin channel has no canvas.'
    if (mayEdit(this.state, this.selfId, channel, this.now())) return null
    return this.whyNot(channel, 'edit')
  }

  /** Whether I may act on `target` with `permission` now (a strictly lower rank, not myself). */
  canActOn(target: string, permission: 'moderate' | 'ban' | 'manageRoles'): boolean {
    const now = this.now()
    return this.may(permission) && this.state.outranks(this.selfId, target, now)
  }

  /** The roles I may give `target` now (strictly below mine; `owner` for the owner: the hand-over). */
  assignableRoles(target: string): string[] {
    if (!this.canActOn(target, 'manageRoles')) return []
    const mine = this.state.roleOf(this.selfId)
    const custom = [...this.state.customRoles().keys()]
    const all = [BuiltinRole.owner, BuiltinRole.admin, BuiltinRole.moderator, ...custom, BuiltinRole.member]
    return all.filter((r) =>
      r === BuiltinRole.owner ? mine === BuiltinRole.owner : roleRank(r) < roleRank(mine),
    )
  }

  view(): AdminView {
    const now = this.now()
    const s = this.state
    const keys = new Set<string>([this.selfId, ...this.named, ...(this.o.people?.() ?? [])])
    const members: AdminMemberView[] = [...keys].map((id) => {
      const m: AdminMemberView = { id, role: s.roleOf(id) }
      const via = s.memberOf(id)?.via
      if (via) m.via = via
      const ban = s.banOf(id, now)
      if (ban)
        m.ban = { reason: ban.reason, by: ban.by, since: ban.ts, ...(ban.until ? { until: ban.until } : {}) }
      const timeout = s.timeoutOf(id, now)
      if (timeout) m.timeoutUntil = timeout.until
      return m
    })
    members.sort((a, b) => roleRank(b.role) - roleRank(a.role) || (a.id < b.id ? -1 : 1))
    const invites: AdminInviteView[] = [...s.invites().values()]
      .map((i) => {
        const link = this.links.get(i.id)
        return { ...i, status: s.inviteStatus(i.id, now), ...(link ? { link } : {}) }
      })
      .sort((a, b) => b.createdAt - a.createdAt)
    const may = Object.fromEntries(
      (Object.keys(Permission) as (keyof typeof Permission)[]).map((p) => [p, this.may(p)]),
    ) as AdminView['may']
    return {
      loaded: this.loaded,
      owner: s.owner ?? null,
      self: this.selfId,
      myRole: s.roleOf(this.selfId),
      may,
      access: this.access,
      members,
      invites,
      channels: [...s.channels().values()],
      audit: s.audit().reverse(),
      ...(this.linkState ? { link: this.linkState } : {}),
      // A ban's event may be folded only after the relay closed the session (its frame was still being checked).
      ...(this.blockedState
        ? {
            blocked: {
              ...this.blockedState,
              banned: this.blockedState.banned || this.bannedNow(this.selfId),
            },
          }
        : {}),
    }
  }

  // ---- actions ----------------------------------------------------------------------------

  claim(): Promise<Outgoing> {
    return this.act({ kind: AdminKind.claim, body: {} })
  }

  setRole(key: string, role: string): Promise<Outgoing> {
    return this.act({ kind: AdminKind.roleSet, body: { target: keyBytes(key), role } })
  }

  kick(key: string, reason: string): Promise<Outgoing> {
    return this.act({ kind: AdminKind.memberKick, body: { target: keyBytes(key), reason: reason.trim() } })
  }

  ban(key: string, reason: string, until?: number): Promise<Outgoing> {
    const body = { target: keyBytes(key), reason: reason.trim(), ...(until !== undefined ? { until } : {}) }
    return this.act({ kind: AdminKind.memberBan, body })
  }

  unban(key: string): Promise<Outgoing> {
    return this.act({ kind: AdminKind.memberUnban, body: { target: keyBytes(key) } })
  }

  timeout(key: string, until: number): Promise<Outgoing> {
    return this.act({
      kind: AdminKind.memberTimeout,
      body: { target: keyBytes(key), until: Math.round(until) },
    })
  }

  async createInvite(o: {
    expiresInHours: number
    uses: number
  }): Promise<{ outgoing: Outgoing; link: string; id: string }> {
    if (!Number.isFinite(o.expiresInHours) || o.expiresInHours <= 0 || o.expiresInHours > INVITE_HOURS_MAX)
      throw new AdminRefusedError(
        `An invite lasts from a few minutes to ${INVITE_HOURS_MAX} hours.`,
        'bad-time',
      )
    if (!Number.isInteger(o.uses) || o.uses < 1 || o.uses > 1000)
      throw new AdminRefusedError('An invite is good for 1 to 1000 uses.', 'malformed')
    const secret = newInviteSecret()
    const idBytes = inviteIdOf(secret)
    const expiresAt = Math.round(this.now() + o.expiresInHours * 3_600_000)
    const outgoing = await this.act({
      kind: AdminKind.inviteCreate,
      body: { id: idBytes, expiresAt, uses: o.uses },
    })
    const base = this.o.linkBase?.() ?? globalThis.location?.href.split('#')[0] ?? ''
    const link = `${base}#invite=${toBase64url(secret)}`
    const id = toHex(idBytes)
    this.links.set(id, link)
    this.o.changed()
    return { outgoing, link, id }
  }

  revokeInvite(id: string): Promise<Outgoing> {
    return this.act({ kind: AdminKind.inviteRevoke, body: { id: hexBytes(id) } })
  }

  updateChannel(channel: string, patch: AdminChannelPatch): Promise<Outgoing> {
    const body: Extract<AdminAction, { kind: 'channel.update' }>['body'] = { channel }
    if (patch.topic !== undefined) body.topic = patch.topic
    if (patch.archived !== undefined) body.archived = patch.archived
    if (patch.position !== undefined) body.position = patch.position
    if (patch.postRole !== undefined) {
      if (!isBuiltinRole(patch.postRole)) throw new AdminRefusedError('Pick a built-in role.', 'malformed')
      body.postRole = patch.postRole
    }
    if (patch.editRole !== undefined) {
      if (patch.editRole !== null && !isBuiltinRole(patch.editRole))
        throw new AdminRefusedError('Pick a built-in role.', 'malformed')
      body.editRole = patch.editRole
    }
    return this.act({ kind: AdminKind.channelUpdate, body })
  }

  setAccess(access: Access): Promise<Outgoing> {
    return this.act({ kind: AdminKind.accessSet, body: { access } })
  }

  // ---- internals --------------------------------------------------------------------------

  /** Why `mayPost` or `mayEdit` (`act`) says no to me in `channel` now. */
  private whyNot(channel: string, act: ChannelAct): string {
    const now = this.now()
    const ban = this.state.banOf(this.selfId, now)
    if (ban) return `You are banned from this community${ban.reason ? `: ${ban.reason}` : ''}.`
    const timeout = this.state.timeoutOf(this.selfId, now)
    if (timeout) return `You are timed out until ${formatTime(timeout.until)}.`
    const ch = this.state.channelAt(channel, now)
    if (ch?.archived)
      return `#${channel} is archived: nobody ${act === 'edit' ? 'edits its canvas' : 'posts in it'} any more.`
    const least = this.state.leastRoleTo(act, channel, now)
    if (roleRank(this.state.roleAt(this.selfId, now)) < roleRank(least))
      return act === 'edit'
        ? `The canvas of #${channel} is read-only: only ${roleLabel(least)} and above may edit it.`
        : `#${channel} is read-only: only ${roleLabel(least)} and above may post.`
    return act === 'edit' ? 'Your role may not edit this canvas.' : 'Your role may not post here.'
  }

  /** Judges the action as the relay will (now, by this device's fold), then signs and queues it. */
  private async act(action: AdminAction): Promise<Outgoing> {
    let body: Uint8Array
    try {
      body = encodeAdminBody(action)
    } catch (e) {
      throw new AdminRefusedError((e as Error).message, 'malformed')
    }
    const last = this.state.lastId
    const at = Math.max(this.now(), last ? ulidTime(last) + 1 : 0)
    const probe: StampedEvent = {
      id: ulidAtTime(at),
      ts: at,
      channel: ADMIN_CHANNEL,
      kind: action.kind,
      author: this.o.self,
      clientNonce: randomBytes(16),
      body,
      authorSig: new Uint8Array(64),
      relaySig: new Uint8Array(64),
    }
    const verdict = this.state.check(probe)
    if (!verdict.ok) throw new AdminRefusedError(this.explain(verdict.reason, at), verdict.reason)
    return this.o.write(action.kind, body)
  }

  private explain(reason: AdminRefusal, at: number): string {
    if (reason === AdminRefusal.timedOut) {
      const t = this.state.timeoutOf(this.selfId, at)
      return t ? `You are timed out until ${formatTime(t.until)}.` : 'You are timed out.'
    }
    if (reason === AdminRefusal.noPermission)
      return `Your role (${this.state.roleOf(this.selfId)}) does not allow that.`
    return EXPLAIN[reason] ?? `Not allowed (${reason}).`
  }

  private name(e: StampedEvent): void {
    this.named.add(publicKeyToText(e.author))
    try {
      const action = decodeAdminBody(e.kind, e.body)
      const target = action && 'target' in action.body ? action.body.target : undefined
      if (target instanceof Uint8Array) this.named.add(publicKeyToText(target))
    } catch {
      // malformed: the fold refuses it too
    }
  }
}

function keyBytes(key: string): Uint8Array {
  try {
    return publicKeyFromText(key)
  } catch {
    throw new AdminRefusedError('That is not a member key.', 'malformed')
  }
}

function hexBytes(hex: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new AdminRefusedError('That is not an invite id.', 'malformed')
  return fromHex(hex.toLowerCase())
}
