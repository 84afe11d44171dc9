/**
 * Body codecs of the admin kinds (docs/protocol/admin.md §1). Binary, like the chat bodies:
 * a version byte (1) first, keys as 32 raw bytes, invite ids as 16, times as varuint
 * milliseconds, strings as varuint-length UTF-8, optional fields behind a flags byte whose
 * unknown bits are refused, so one value has exactly one encoding. Decoders bound every
 * length before allocating and throw only `DecodeError`; encoders throw `RangeError` or
 * `TypeError` for what the decoder would refuse.
 */
import { begin, checkText, readFlags, readNonEmpty, readVersion } from '../../body-codec.ts'
import { abytes } from '../../bytes.ts'
import {
  decodeWith,
  finish,
  type Reader,
  writeBytes,
  writeU8,
  writeVarString,
  writeVarUint,
} from '../../codec.ts'
import { DecodeError } from '../../errors.ts'
import { isValidChannel, Limits } from '../../event.ts'
import { isValidPosition } from '../../kit/position.ts'
import { MAX_TIME } from '../../ulid.ts'
import { AdminKind, isAdminKind } from './kinds.ts'
import {
  type Access,
  ALL_PERMISSIONS,
  type BuiltinRole,
  isBuiltinRole,
  isValidRoleName,
  MAX_ROLE_NAME,
  type RoleName,
} from './permissions.ts'

/** Bounds of the admin bodies and of the fold's state. Every one is tested past its edge. */
export const AdminLimits = {
  /** UTF-8 bytes of a kick or ban reason. */
  reason: 512,
  /** UTF-8 bytes of a channel's display name. */
  channelName: 64,
  /** UTF-8 bytes of a channel topic. */
  topic: 1024,
  /** Characters of a channel position (a kit position, `between`). */
  position: 128,
  /** Uses of one invite. */
  inviteUses: 1000,
  /** Bytes of an invite id. */
  inviteId: 16,
  /** Longest timeout (ms): 28 days. Longer is a ban. */
  timeout: 28 * 24 * 3600 * 1000,
  /** Changes kept per key (role, ban, timeout) and per channel; older ones fold into the oldest kept. */
  history: 256,
  /** Accepted actions kept for the audit log (the last ones). */
  audit: 1000,
  /** Custom roles a community may define. */
  customRoles: 64,
  /** Channels with admin settings. */
  channels: 1000,
  /** Invites tracked at once (unusable ones are dropped first when full). */
  invites: 10_000,
} as const

export type ClaimBody = Record<string, never>
export interface RoleSetBody {
  target: Uint8Array
  role: RoleName
}
export interface RoleDefineBody {
  name: string
  /** `Permission` bits. */
  permissions: number
}
/** Absent fields stay as they were. */
export interface ChannelUpdateBody {
  channel: string
  name?: string
  topic?: string
  position?: string
  archived?: boolean
  /** The least role that may post (default `member`). */
  postRole?: BuiltinRole
  /**
   * The least role that may edit the channel's documents (its canvas: `yjs` events). `null`
   * makes it follow `postRole` again, as it does until first set.
   */
  editRole?: BuiltinRole | null
}
export interface KickBody {
  target: Uint8Array
  reason: string
}
export interface BanBody {
  target: Uint8Array
  reason: string
  /** Relay time (ms) the ban ends; absent = for ever. */
  until?: number
}
export interface UnbanBody {
  target: Uint8Array
}
export interface TimeoutBody {
  target: Uint8Array
  /** Relay time (ms) the timeout ends; at or before the event's own time it lifts one. */
  until: number
}
export interface InviteCreateBody {
  /** `inviteIdOf(secret)`: the secret itself travels only in the link. */
  id: Uint8Array
  expiresAt: number
  uses: number
}
/** `invite.revoke` and `invite.redeem`. */
export interface InviteRefBody {
  id: Uint8Array
}
export interface AccessSetBody {
  access: Access
}

/** An admin event's kind and decoded body. */
export type AdminAction =
  | { kind: typeof AdminKind.claim; body: ClaimBody }
  | { kind: typeof AdminKind.roleSet; body: RoleSetBody }
  | { kind: typeof AdminKind.roleDefine; body: RoleDefineBody }
  | { kind: typeof AdminKind.channelUpdate; body: ChannelUpdateBody }
  | { kind: typeof AdminKind.memberKick; body: KickBody }
  | { kind: typeof AdminKind.memberBan; body: BanBody }
  | { kind: typeof AdminKind.memberUnban; body: UnbanBody }
  | { kind: typeof AdminKind.memberTimeout; body: TimeoutBody }
  | { kind: typeof AdminKind.inviteCreate; body: InviteCreateBody }
  | { kind: typeof AdminKind.inviteRevoke; body: InviteRefBody }
  | { kind: typeof AdminKind.inviteRedeem; body: InviteRefBody }
  | { kind: typeof AdminKind.accessSet; body: AccessSetBody }

// ---- checks shared by encoders -----------------------------------------------------------

const checkKey = (k: Uint8Array, what: string): void => void abytes(k, 32, what)
const checkInviteId = (id: Uint8Array): void => void abytes(id, AdminLimits.inviteId, 'invite id')
function checkTime(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_TIME)
    throw new RangeError(`${what} must be a ms time in [0, 2^48 - 1]`)
}
function checkRole(role: string, what: string): void {
  if (!isValidRoleName(role)) throw new RangeError(`invalid ${what} ${JSON.stringify(role)}`)
}

// ---- readers ------------------------------------------------------------------------------

const readKey = (r: Reader, what: string): Uint8Array => r.bytes(32, what)
const readTime = (r: Reader, what: string): number => r.varUint(MAX_TIME, what)
function readRole(r: Reader, what: string): string {
  const role = r.varString(MAX_ROLE_NAME, what)
  if (!isValidRoleName(role)) throw new DecodeError(`invalid ${what}`)
  return role
}

const CHANNEL_FLAGS = { name: 1, topic: 2, position: 4, archived: 8, postRole: 16, editRole: 32 } as const
const ALL_CHANNEL_FLAGS = 63

/** `postRole` and `editRole`: a built-in role name. */
function builtinRole(role: string, what: string): BuiltinRole {
  if (!isValidRoleName(role)) throw new DecodeError(`invalid ${what}`)
  if (!isBuiltinRole(role)) throw new DecodeError(`${what} must be a built-in role`)
  return role
}

function encodeChannelUpdate(w: ReturnType<typeof begin>, b: ChannelUpdateBody): void {
  if (!isValidChannel(b.channel)) throw new RangeError(`invalid channel ${JSON.stringify(b.channel)}`)
  let flags = 0
  if (b.name !== undefined) {
    checkText(b.name, AdminLimits.channelName, 'channel name')
    if (b.name.length === 0) throw new RangeError('channel name must not be empty')
    flags |= CHANNEL_FLAGS.name
  }
  if (b.topic !== undefined) {
    checkText(b.topic, AdminLimits.topic, 'topic')
    flags |= CHANNEL_FLAGS.topic
  }
  if (b.position !== undefined) {
    if (!isValidPosition(b.position) || b.position.length > AdminLimits.position)
      throw new RangeError(`invalid channel position ${JSON.stringify(b.position)}`)
    flags |= CHANNEL_FLAGS.position
  }
  if (b.archived !== undefined) {
    if (typeof b.archived !== 'boolean') throw new TypeError('archived must be a boolean')
    flags |= CHANNEL_FLAGS.archived
  }
  if (b.postRole !== undefined) {
    if (!isBuiltinRole(b.postRole)) throw new RangeError(`postRole must be a built-in role`)
    flags |= CHANNEL_FLAGS.postRole
  }
  if (b.editRole !== undefined) {
    if (b.editRole !== null && !isBuiltinRole(b.editRole))
      throw new RangeError(`editRole must be a built-in role or null`)
    flags |= CHANNEL_FLAGS.editRole
  }
  if (flags === 0) throw new RangeError('channel.update changes nothing')
  writeVarString(w, b.channel)
  writeU8(w, flags)
  if (b.name !== undefined) writeVarString(w, b.name)
  if (b.topic !== undefined) writeVarString(w, b.topic)
  if (b.position !== undefined) writeVarString(w, b.position)
  if (b.archived !== undefined) writeU8(w, b.archived ? 1 : 0)
  if (b.postRole !== undefined) writeVarString(w, b.postRole)
  if (b.editRole !== undefined) writeVarString(w, b.editRole ?? '')
}

function readChannelUpdate(r: Reader): ChannelUpdateBody {
  const channel = r.varString(Limits.channel, 'channel')
  if (!isValidChannel(channel)) throw new DecodeError('invalid channel')
  const flags = readFlags(r, ALL_CHANNEL_FLAGS, 'channel.update')
  if (flags === 0) throw new DecodeError('channel.update changes nothing')
  const b: ChannelUpdateBody = { channel }
  if (flags & CHANNEL_FLAGS.name) b.name = readNonEmpty(r, AdminLimits.channelName, 'channel name')
  if (flags & CHANNEL_FLAGS.topic) b.topic = r.varString(AdminLimits.topic, 'topic')
  if (flags & CHANNEL_FLAGS.position) {
    const position = r.varString(AdminLimits.position, 'position')
    if (!isValidPosition(position)) throw new DecodeError('invalid channel position')
    b.position = position
  }
  if (flags & CHANNEL_FLAGS.archived) {
    const a = r.u8('archived')
    if (a > 1) throw new DecodeError(`archived must be 0 or 1, got ${a}`)
    b.archived = a === 1
  }
  if (flags & CHANNEL_FLAGS.postRole)
    b.postRole = builtinRole(r.varString(MAX_ROLE_NAME, 'postRole'), 'postRole')
  if (flags & CHANNEL_FLAGS.editRole) {
    // The empty string is `null` (follow postRole again); any other value is checked as postRole is.
    const role = r.varString(MAX_ROLE_NAME, 'editRole')
    b.editRole = role === '' ? null : builtinRole(role, 'editRole')
  }
  return b
}

const ACCESS: readonly Access[] = ['invite', 'open']

/** Encodes an admin event's body; throws RangeError/TypeError for what the decoder refuses. */
export function encodeAdminBody(action: AdminAction): Uint8Array {
  const w = begin()
  switch (action.kind) {
    case AdminKind.claim:
      break
    case AdminKind.roleSet: {
      checkKey(action.body.target, 'target')
      checkRole(action.body.role, 'role')
      writeBytes(w, action.body.target)
      writeVarString(w, action.body.role)
      break
    }
    case AdminKind.roleDefine: {
      const { name, permissions } = action.body
      checkRole(name, 'role name')
      if (!Number.isInteger(permissions) || permissions < 0 || permissions & ~ALL_PERMISSIONS)
        throw new RangeError('unknown permission bits')
      writeVarString(w, name)
      writeU8(w, permissions)
      break
    }
    case AdminKind.channelUpdate:
      encodeChannelUpdate(w, action.body)
      break
    case AdminKind.memberKick: {
      checkKey(action.body.target, 'target')
      checkText(action.body.reason, AdminLimits.reason, 'reason')
      writeBytes(w, action.body.target)
      writeVarString(w, action.body.reason)
      break
    }
    case AdminKind.memberBan: {
      const { target, reason, until } = action.body
      checkKey(target, 'target')
      checkText(reason, AdminLimits.reason, 'reason')
      if (until !== undefined) checkTime(until, 'until')
      writeBytes(w, target)
      writeVarString(w, reason)
      writeU8(w, until !== undefined ? 1 : 0)
      if (until !== undefined) writeVarUint(w, until)
      break
    }
    case AdminKind.memberUnban:
      checkKey(action.body.target, 'target')
      writeBytes(w, action.body.target)
      break
    case AdminKind.memberTimeout:
      checkKey(action.body.target, 'target')
      checkTime(action.body.until, 'until')
      writeBytes(w, action.body.target)
      writeVarUint(w, action.body.until)
      break
    case AdminKind.inviteCreate: {
      const { id, expiresAt, uses } = action.body
      checkInviteId(id)
      checkTime(expiresAt, 'expiresAt')
      if (!Number.isInteger(uses) || uses < 1 || uses > AdminLimits.inviteUses)
        throw new RangeError(`uses must be an integer in [1, ${AdminLimits.inviteUses}]`)
      writeBytes(w, id)
      writeVarUint(w, expiresAt)
      writeVarUint(w, uses)
      break
    }
    case AdminKind.inviteRevoke:
    case AdminKind.inviteRedeem:
      checkInviteId(action.body.id)
      writeBytes(w, action.body.id)
      break
    case AdminKind.accessSet: {
      const code = ACCESS.indexOf(action.body.access)
      if (code < 0) throw new RangeError(`access must be 'open' or 'invite'`)
      writeU8(w, code)
      break
    }
    default:
      throw new RangeError(`not an admin kind: ${JSON.stringify((action as { kind: unknown }).kind)}`)
  }
  return finish(w)
}

function readAction(kind: AdminKind, r: Reader): AdminAction {
  readVersion(r, kind)
  switch (kind) {
    case AdminKind.claim:
      return { kind, body: {} }
    case AdminKind.roleSet:
      return { kind, body: { target: readKey(r, 'target'), role: readRole(r, 'role') } }
    case AdminKind.roleDefine: {
      const name = readRole(r, 'role name')
      const permissions = r.u8('permissions')
      if (permissions & ~ALL_PERMISSIONS) throw new DecodeError('unknown permission bits')
      return { kind, body: { name, permissions } }
    }
    case AdminKind.channelUpdate:
      return { kind, body: readChannelUpdate(r) }
    case AdminKind.memberKick:
      return {
        kind,
        body: { target: readKey(r, 'target'), reason: r.varString(AdminLimits.reason, 'reason') },
      }
    case AdminKind.memberBan: {
      const target = readKey(r, 'target')
      const reason = r.varString(AdminLimits.reason, 'reason')
      const flags = readFlags(r, 1, 'member.ban')
      return { kind, body: flags & 1 ? { target, reason, until: readTime(r, 'until') } : { target, reason } }
    }
    case AdminKind.memberUnban:
      return { kind, body: { target: readKey(r, 'target') } }
    case AdminKind.memberTimeout:
      return { kind, body: { target: readKey(r, 'target'), until: readTime(r, 'until') } }
    case AdminKind.inviteCreate: {
      const id = r.bytes(AdminLimits.inviteId, 'invite id')
      const expiresAt = readTime(r, 'expiresAt')
      const uses = r.varUint(AdminLimits.inviteUses, 'uses')
      if (uses === 0) throw new DecodeError('uses must not be 0')
      return { kind, body: { id, expiresAt, uses } }
    }
    case AdminKind.inviteRevoke:
    case AdminKind.inviteRedeem:
      return { kind, body: { id: r.bytes(AdminLimits.inviteId, 'invite id') } }
    case AdminKind.accessSet: {
      const code = r.u8('access')
      const access = ACCESS[code]
      if (access === undefined) throw new DecodeError(`unknown access ${code}`)
      return { kind, body: { access } }
    }
  }
}

/**
 * Decodes the body of an admin kind. Returns undefined for a kind that is not an admin kind;
 * throws DecodeError for a malformed body of one.
 */
export function decodeAdminBody(kind: string, body: Uint8Array): AdminAction | undefined {
  if (!isAdminKind(kind)) return undefined
  return decodeWith(body, (r) => readAction(kind, r), `${kind} body`)
}
