/**
 * Who may moderate, as the projection sees it. The relay's session attestations carry each
 * key's privileges (the `Privilege` bits of protocol/session.ts; `admin` maps to
 * `Role.admin`); the caller turns them into this pure function so every replica given the
 * same attestations decides the same way, whatever the order of arrival.
 */
import type { PublicKey } from '../identity/keys.ts'

export const Role = {
  admin: 'admin',
  moderator: 'moderator',
} as const
export type Role = (typeof Role)[keyof typeof Role] | (string & {})

/** The roles `key` held at relay time `ts` (ms). Must be pure: same inputs, same answer. */
export type Roles = (key: PublicKey, ts: number) => ReadonlySet<Role>

const NONE: ReadonlySet<Role> = new Set()

/** Nobody is privileged: only authors may redact their own messages. */
export const noRoles: Roles = () => NONE

/** May redact anyone's message and set the channel's topic and pins. */
export function canModerate(roles: ReadonlySet<Role>): boolean {
  return roles.has(Role.admin) || roles.has(Role.moderator)
}
