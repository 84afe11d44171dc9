/**
 * The tab's title carries the unread count; a message mentioning me while the tab is hidden
 * raises a desktop notification once I allowed them; channels can be muted (lib/attention.ts).
 */
import { publicKeyToText, toHex } from '@peerchat/engine'
import { type InjectionKey, onScopeDispose, provide, ref, watchEffect } from 'vue'
import type { ChatClient } from '../client/types.ts'
import { MutedChannels, notificationFor, titleFor } from '../lib/attention.ts'
import { conversationLabel } from '../lib/private-text.ts'
import { injectStrict } from './inject.ts'
import type { ChannelsState } from './useChannels.ts'

const permissionNow = (): NotificationPermission | 'unsupported' =>
  typeof Notification === 'function' ? Notification.permission : 'unsupported'

function createAttention(client: ChatClient, channels: ChannelsState, myName: () => string) {
  const baseTitle = document.title
  const store = new MutedChannels(globalThis.localStorage, `peerchat.muted.${toHex(client.relayKey)}`)
  const muted = ref<ReadonlySet<string>>(new Set(store.channels))
  const permission = ref(permissionNow())
  const selfId = publicKeyToText(client.self)
  // Allowed or blocked in the browser's own settings: the bell follows.
  void navigator.permissions
    ?.query({ name: 'notifications' })
    .then((status) => {
      status.onchange = () => {
        permission.value = permissionNow()
      }
    })
    .catch(() => {})

  const nameOf = (id: string): string =>
    client.members().find((m) => m.id === id)?.name ?? `${id.slice(0, 8)}…`
  const stopTitle = watchEffect(() => {
    document.title = titleFor(baseTitle, channels.channels.value, muted.value)
  })
  const off = client.on('event', (e) => {
    const note = notificationFor(e, {
      selfId,
      myName: myName(),
      hidden: document.visibilityState === 'hidden',
      permission: permissionNow(),
      muted: muted.value,
      now: Date.now(),
      nameOf,
      keyText: publicKeyToText,
      conversation: (channel) => {
        const info = channels.channels.value.find((c) => c.name === channel)?.private
        return info && { label: conversationLabel(info, nameOf, selfId), direct: info.kind === 'direct' }
      },
    })
    if (!note) return
    const shown = new Notification(note.title, { body: note.body, tag: note.tag })
    // Clicking it brings the tab back to that channel.
    shown.onclick = () => {
      window.focus()
      channels.select(e.event.channel)
      shown.close()
    }
  })
  onScopeDispose(() => {
    off()
    stopTitle()
    document.title = baseTitle
  })

  return {
    muted,
    permission,
    toggleMute(channel: string): void {
      store.toggle(channel)
      muted.value = new Set(store.channels)
    },
    /** Asks the browser (a click must lead here). */
    async allow(): Promise<void> {
      if (typeof Notification !== 'function') return
      permission.value = await Notification.requestPermission()
    },
  }
}

export type AttentionState = ReturnType<typeof createAttention>
const key: InjectionKey<AttentionState> = Symbol('attention')

export function provideAttention(
  client: ChatClient,
  channels: ChannelsState,
  myName: () => string,
): AttentionState {
  const state = createAttention(client, channels, myName)
  provide(key, state)
  return state
}

export const useAttention = (): AttentionState => injectStrict(key, 'attention')
