/**
 * Who is here: members with their privileges, online first, and who is typing where. In a
 * community past the relay's presence head, how many are online (`onlineCount`) and "Show more"
 * (`loadMore`) for the rest of the list.
 */
import { publicKeyToText } from '@peerchat/engine'
import { computed, type InjectionKey, onScopeDispose, provide, shallowRef } from 'vue'
import type { ChatClient, Member } from '../client/types.ts'
import { injectStrict } from './inject.ts'

function createPresence(client: ChatClient) {
  const members = shallowRef<readonly Member[]>(client.members())
  const connection = shallowRef(client.connection())
  /** Sessions online as the relay counts them, when the list holds fewer (undefined: it holds all). */
  const onlineCount = shallowRef(client.onlineCount?.())
  /** Whether "Show more" has more of those online to list, and whether a page is loading. */
  const more = shallowRef(client.moreMembers?.() ?? false)
  const loading = shallowRef(false)
  const offMembers = client.on('members', (list) => {
    members.value = list
    onlineCount.value = client.onlineCount?.()
    more.value = client.moreMembers?.() ?? false
  })
  const offConnection = client.on('connection', (state) => {
    connection.value = state
  })
  onScopeDispose(() => {
    offMembers()
    offConnection()
  })

  const sorted = computed(() =>
    [...members.value].sort((a, b) => Number(b.online) - Number(a.online) || a.name.localeCompare(b.name)),
  )
  const byId = computed(() => new Map(members.value.map((m) => [m.id, m])))
  const selfId = publicKeyToText(client.self)

  /** Names of the others typing in `channel`. */
  const typingIn = (channel: string): string[] =>
    members.value.filter((m) => m.typingIn === channel && m.id !== selfId).map((m) => m.name)

  const nameOf = (id: string): string => byId.value.get(id)?.name ?? `${id.slice(0, 8)}…`

  /** Whether I may redact others' messages (moderator or admin by my attestation, or by the admin fold). */
  const iModerate = computed(() => {
    const privileges = byId.value.get(selfId)?.privileges ?? []
    return privileges.includes('moderator') || privileges.includes('admin') || client.admin.may('moderate')
  })

  /** Lists the next page of those online. */
  async function loadMore(): Promise<void> {
    if (loading.value || !client.loadMoreMembers) return
    loading.value = true
    try {
      await client.loadMoreMembers()
    } finally {
      loading.value = false
      more.value = client.moreMembers?.() ?? false
    }
  }

  return {
    members: sorted,
    connection,
    byId,
    selfId,
    iModerate,
    typingIn,
    nameOf,
    onlineCount,
    more,
    loading,
    loadMore,
  }
}

export type PresenceState = ReturnType<typeof createPresence>
const key: InjectionKey<PresenceState> = Symbol('presence')

export function providePresence(client: ChatClient): PresenceState {
  const state = createPresence(client)
  provide(key, state)
  return state
}

export const usePresence = (): PresenceState => injectStrict(key, 'usePresence')
