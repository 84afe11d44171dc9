import { publicKeyToText } from '@peerchat/engine'
import type { Roles } from '@peerchat/engine/chat'
import type { ChatClient } from './types.ts'

/**
 * Who could moderate when (who may redact others' messages): the relay's attested privileges
 * and the admin fold's roles. Privileges come from the relay's attestations; the sim's never
 * change, so this is pure as the projections require.
 */
export function rolesOf(client: Pick<ChatClient, 'members' | 'admin'>): Roles {
  return (key, ts) => {
    const id = publicKeyToText(key)
    const roles = new Set<string>(client.members().find((m) => m.id === id)?.privileges ?? [])
    for (const r of client.admin.rolesAt(key, ts)) roles.add(r)
    return roles as ReturnType<Roles>
  }
}
