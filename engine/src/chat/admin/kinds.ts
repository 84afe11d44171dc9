/**
 * The admin event kinds (docs/protocol/admin.md). They live in one reserved channel,
 * `ADMIN_CHANNEL`, so a community's whole admin history is one small log that every replica
 * and the relay fold the same way (fold.ts).
 */

/** The reserved channel of admin events; no ordinary event belongs in it. */
export const ADMIN_CHANNEL = 'admin'

export const AdminKind = {
  /** The first owner (stamped by the relay only with a valid one-time claim code). */
  claim: 'admin.claim',
  /** Gives a key a role; `owner` is the hand-over. */
  roleSet: 'role.set',
  /** Defines (or redefines) a custom role's permissions. */
  roleDefine: 'role.define',
  /** Names, orders, archives a channel, or sets who may post in it. */
  channelUpdate: 'channel.update',
  memberKick: 'member.kick',
  memberBan: 'member.ban',
  memberUnban: 'member.unban',
  memberTimeout: 'member.timeout',
  inviteCreate: 'invite.create',
  inviteRevoke: 'invite.revoke',
  /** Stamped by the relay on a successful login by link; the author is the invitee. */
  inviteRedeem: 'invite.redeem',
  accessSet: 'access.set',
} as const
export type AdminKind = (typeof AdminKind)[keyof typeof AdminKind]

const KINDS: ReadonlySet<string> = new Set(Object.values(AdminKind))
export const isAdminKind = (kind: string): kind is AdminKind => KINDS.has(kind)
