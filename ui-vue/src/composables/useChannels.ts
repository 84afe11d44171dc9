/** The channel list (with unread and mention counts) and the open channel. */
import { isPrivateChannel } from '@peerchat/engine'
import { computed, type InjectionKey, onScopeDispose, provide, ref, shallowRef } from 'vue'
import type { ChannelInfo, ChatClient } from '../client/types.ts'
import { injectStrict } from './inject.ts'

export const CHANNEL_STORAGE_KEY = 'peerchat.channel'

function createChannels(client: ChatClient) {
  const channels = shallowRef<readonly ChannelInfo[]>(client.channels())
  const stored = localStorage.getItem(CHANNEL_STORAGE_KEY)
  const current = ref<string>(stored ?? channels.value[0]?.name ?? 'general')
  // An encrypted conversation opened last time is listed once the device's conversations loaded.
  const waiting = (name: string) => {
    const state = client.conversationsState?.()
    return isPrivateChannel(name) && (state === 'loading' || state === 'elsewhere')
  }
  const off = client.on('channels', (list) => {
    channels.value = list
    if (!list.some((c) => c.name === current.value) && list[0] && !waiting(current.value))
      current.value = list[0].name
  })
  onScopeDispose(off)

  const currentInfo = computed(() => channels.value.find((c) => c.name === current.value))

  function select(name: string): void {
    current.value = name
    localStorage.setItem(CHANNEL_STORAGE_KEY, name)
  }

  /** Moves to the previous (-1) or next (+1) channel, wrapping around (Alt+Up / Alt+Down). */
  function step(direction: 1 | -1): void {
    const list = channels.value
    const i = list.findIndex((c) => c.name === current.value)
    const next = list[(i + direction + list.length) % list.length]
    if (next) select(next.name)
  }

  return { channels, current, currentInfo, select, step }
}

export type ChannelsState = ReturnType<typeof createChannels>
const key: InjectionKey<ChannelsState> = Symbol('channels')

export function provideChannels(client: ChatClient): ChannelsState {
  const state = createChannels(client)
  provide(key, state)
  return state
}

export const useChannels = (): ChannelsState => injectStrict(key, 'useChannels')
