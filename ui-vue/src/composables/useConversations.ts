/**
 * Encrypted conversations in the UI: which listed channels are direct messages or private
 * channels, what to call them, who may manage their members, and starting, adding, removing.
 */
import { computed } from 'vue'
import type { ChannelInfo } from '../client/types.ts'
import { conversationLabel } from '../lib/private-text.ts'
import { useChannels } from './useChannels.ts'
import { useClient } from './useClient.ts'
import { usePresence } from './usePresence.ts'

/** Runs an action: null once done, else why it failed (in words). */
async function attempt(action: () => Promise<unknown>): Promise<string | null> {
  try {
    await action()
    return null
  } catch (e) {
    return (e as Error)?.message ?? String(e)
  }
}

export function useConversations() {
  const client = useClient()
  const { channels, currentInfo, select } = useChannels()
  const { nameOf, selfId } = usePresence()

  const available = client.createConversation !== undefined
  const conversations = computed(() => channels.value.filter((c) => c.private))
  const publicChannels = computed(() => channels.value.filter((c) => !c.private))
  const current = computed(() => currentInfo.value?.private)
  /** Another tab of this browser holds the conversations now (re-read with every channel list). */
  const elsewhere = computed(() => {
    void channels.value
    return client.conversationsState?.() === 'elsewhere'
  })
  const labelOf = (c: ChannelInfo): string =>
    c.private ? conversationLabel(c.private, nameOf, selfId) : c.name
  /** Whether I may add and remove in `c`: anyone in a direct message, the creator of a private channel. */
  const canManage = (c: ChannelInfo | undefined): boolean =>
    !!c?.private?.member && (c.private.kind === 'direct' || c.private.creator === selfId)

  /** Starts a conversation (a private channel when titled) and opens it; null, or why it failed. */
  const start = (members: readonly string[], title?: string) =>
    attempt(async () => select(await client.createConversation!(members, title?.trim() || undefined)))
  const add = (channel: string, members: readonly string[]) =>
    attempt(() => client.addMembers!(channel, members))
  const remove = (channel: string, members: readonly string[]) =>
    attempt(() => client.removeMembers!(channel, members))

  return {
    available,
    conversations,
    publicChannels,
    current,
    elsewhere,
    labelOf,
    canManage,
    start,
    add,
    remove,
  }
}
