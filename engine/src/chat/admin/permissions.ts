/**
 * Roles and permissions of a community (docs/protocol/admin.md §2). Pure: no state here; the
 * fold (fold.ts) says who holds which role when.
 *
 * Built-in roles, by rank: owner > admin > moderator > (custom roles) > member.
 *
 * | role      | permissions                                                     |
 * | --------- | --------------------------------------------------------------- |
 * | owner     | all, and the hand-over (`role.set owner`)                        |
 * | admin     | all                                                             |
 * | moderator | post, moderate (kick, timeout, redact others), ban, invite      |
 * | member    | post (+ invite while the community is open)                     |
 * | custom    | exactly its `role.define` bits, within `CUSTOM_ROLE_PERMISSIONS` |
 *
 * Moderators ban too (as the community's front line, issue #14); only members and custom roles
 * below them, and a ban they made is lifted by them or a higher rank.
 * While a community is open, every key that may post may also invite.
 */

export const Permission = {
  /** `channel.update`: name, topic, position, archive, who may post. */
  manageChannels: 1,
  post: 2,
  /** Kick, timeout, and redact others' messages. */
  moderate: 4,
  /** Ban and unban. */
  ban: 8,
  /** Create invites (and revoke one's own or a lower role's). */
  invite: 16,
  /** Give and take roles strictly below one's own; define custom roles. */
  manageRoles: 32,
  /** `access.set`: open or invite-only. */
  manageCommunity: 64,
} as const
export type Permission = (typeof Permission)[keyof typeof Permission]

export const ALL_PERMISSIONS = 0x7f
/** What a custom role may carry: never ban, roles or the community's access. */
export const CUSTOM_ROLE_PERMISSIONS =
  Permission.manageChannels | Permission.post | Permission.moderate | Permission.invite

export const BuiltinRole = {
  owner: 'owner',
  admin: 'admin',
  moderator: 'moderator',
  member: 'member',
} as const
export type BuiltinRole = (typeof BuiltinRole)[keyof typeof BuiltinRole]
/** A built-in role or a custom role's name. */
export type RoleName = BuiltinRole | (string & {})

export type Access = 'open' | 'invite'

/** Bytes of a role name: `[a-z][a-z0-9-]{0,31}`. */
export const MAX_ROLE_NAME = 32
const ROLE_RE = /^[a-z][a-z0-9-]{0,31}$/
export const isValidRoleName = (name: string): boolean => typeof name === 'string' && ROLE_RE.test(name)
export const isBuiltinRole = (name: string): name is BuiltinRole =>
  name === 'owner' || name === 'admin' || name === 'moderator' || name === 'member'

/** Rank of a role: a key acts only on keys of a strictly lower rank. Custom roles share one. */
export function roleRank(role: RoleName): number {
  switch (role) {
    case 'owner':
      return 40
    case 'admin':
      return 30
    case 'moderator':
      return 20
    case 'member':
      return 10
    default:
      return 15
  }
}

const BUILTIN: Record<BuiltinRole, number> = {
  owner: ALL_PERMISSIONS,
  admin: ALL_PERMISSIONS,
  moderator: Permission.post | Permission.moderate | Permission.ban | Permission.invite,
  member: Permission.post,
}

/** The open-community rule: whoever may post may invite. */
export const withAccess = (bits: number, access: Access): number =>
  access === 'open' && bits & Permission.post ? bits | Permission.invite : bits

/** Permission bits of a built-in role (custom roles: `AdminState.permissionsAt`). */
export function permissionsOf(role: BuiltinRole, access: Access = 'invite'): number {
  const bits = BUILTIN[role]
  if (bits === undefined) throw new RangeError(`not a built-in role: ${JSON.stringify(role)}`)
  return withAccess(bits, access)
}

/** Names of the bits set in `bits`, in `Permission` order (for logs and the UI). */
export function permissionNames(bits: number): (keyof typeof Permission)[] {
  return (Object.keys(Permission) as (keyof typeof Permission)[]).filter((k) => bits & Permission[k])
}
