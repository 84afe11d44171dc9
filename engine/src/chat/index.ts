/** `@peerchat/engine/chat`: the chat's kinds, body codecs and projections (no Yjs). */
export { chatRolesFromAdmin, mayEdit, mayPost } from './admin/adapters.ts'
export {
  type AccessSetBody,
  type AdminAction,
  AdminLimits,
  type BanBody,
  type ChannelUpdateBody,
  type ClaimBody,
  decodeAdminBody,
  encodeAdminBody,
  type InviteCreateBody,
  type InviteRefBody,
  type KickBody,
  type RoleDefineBody,
  type RoleSetBody,
  type TimeoutBody,
  type UnbanBody,
} from './admin/bodies.ts'
export {
  AdminRefusal,
  AdminState,
  type AdminVerdict,
  type AuditEntry,
  type BanInfo,
  type ChannelAct,
  type ChannelInfo,
  foldAdmin,
  type InviteInfo,
  type InviteRef,
  type InviteStatus,
  type KeyRef,
  type Membership,
  type RefusedAdminEvent,
  type TimeoutInfo,
} from './admin/fold.ts'
export { INVITE_SECRET_BYTES, inviteIdOf, newInviteSecret } from './admin/invite-id.ts'
export { ADMIN_CHANNEL, AdminKind, isAdminKind } from './admin/kinds.ts'
export {
  type Access,
  ALL_PERMISSIONS,
  BuiltinRole,
  CUSTOM_ROLE_PERMISSIONS,
  isBuiltinRole,
  isValidRoleName,
  MAX_ROLE_NAME,
  Permission,
  permissionNames,
  permissionsOf,
  type RoleName,
  roleRank,
} from './admin/permissions.ts'
export * from './bodies.ts'
export * from './channel-view.ts'
export { Kind } from './kinds.ts'
export * from './roles.ts'
export { SORTED_IDS_CHUNK, SortedIds } from './sorted-ids.ts'
