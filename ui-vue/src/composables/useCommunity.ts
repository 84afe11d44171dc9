/** The community as the relay describes it (invite mode), and channel creation for the privileged. */
import { computed, type InjectionKey, onScopeDispose, provide, shallowRef, watch } from 'vue'
import type { ChatClient } from '../client/types.ts'
import { injectStrict } from './inject.ts'
import type { ChannelsState } from './useChannels.ts'

function createCommunity(client: ChatClient, channels: ChannelsState) {
  const info = shallowRef(client.community())
  // Privileges come with each login's attestation: re-read them when the connection or members change.
  const reread = (): void => {
    info.value = client.community()
  }
  const offs = [client.on('connection', reread), client.on('members', reread)]
  onScopeDispose(() => {
    for (const off of offs) off()
  })
  const canCreate = computed(() => info.value.canCreateChannels)
  const access = computed(() => info.value.access)
  /** The community's URL (real network) and whether this page is served by its relay. */
  const url = computed(() => info.value.url)
  const servedByRelay = computed(() => info.value.servedByRelay ?? false)
  /** Channel created by me and not yet in the list: opened as soon as the relay announces it. */
  const pending = shallowRef<string | null>(null)

  /** Creates `#name`; resolves with an error message for the user, or null once it exists. */
  async function createChannel(name: string): Promise<string | null> {
    const trimmed = name.trim().replace(/^#/, '')
    try {
      const outgoing = await client.createChannel(trimmed)
      pending.value = trimmed
      await outgoing.stamped
    } catch (e) {
      pending.value = null
      const message = (e as Error).message
      return /forbidden/.test(message) ? 'The relay does not let you create channels.' : message
    }
    return null
  }

  // Open the new channel when it shows up in the list.
  watch([channels.channels, pending], ([list, name]) => {
    if (name && list.some((c) => c.name === name)) {
      channels.select(name)
      pending.value = null
    }
  })

  return { canCreate, access, url, servedByRelay, createChannel }
}

export type CommunityState = ReturnType<typeof createCommunity>
const key: InjectionKey<CommunityState> = Symbol('community')

export function provideCommunity(client: ChatClient, channels: ChannelsState): CommunityState {
  const state = createCommunity(client, channels)
  provide(key, state)
  return state
}

export const useCommunity = (): CommunityState => injectStrict(key, 'useCommunity')
