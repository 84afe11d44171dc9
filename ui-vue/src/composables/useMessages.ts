/**
 * The open channel's messages as list rows: a `ChannelTimeline` (the engine's ChannelView
 * plus the outbox) per channel, kept while the app runs so switching back is instant, fed by
 * pages of history and live events.
 */
import { publicKeyToText, type Roles, type Ulid } from '@peerchat/engine'
import { computed, type InjectionKey, onScopeDispose, provide, type Ref, shallowRef, watch } from 'vue'
import { ChannelTimeline, type ChatMessage } from '../client/channel-view.ts'
import type { ChatClient } from '../client/types.ts'
import { buildRows } from '../lib/rows.ts'
import { injectStrict } from './inject.ts'

/** Events loaded when a channel opens (default 500): a few screens, the rest on scroll-back. */
export const FIRST_PAGE = 500
/** Events loaded per scroll-back step (default 500). */
export const OLDER_PAGE = 500

/**
 * Moderators may redact others' messages. Privileges come from the relay's attestations; the
 * sim's never change, so this is pure as the view requires. (Time-aware roles: issue 8.)
 */
function rolesOf(client: ChatClient): Roles {
  return (key) => {
    const id = publicKeyToText(key)
    return new Set(client.members().find((m) => m.id === id)?.privileges ?? [])
  }
}

interface ChannelState {
  view: ChannelTimeline
  oldest: Ulid | undefined
  complete: boolean
  loading: boolean
  /** The client is asking peers for this channel's older history. */
  fromPeers: boolean
}

function createMessages(client: ChatClient, channel: Ref<string>, firstPage = FIRST_PAGE) {
  const states = new Map<string, ChannelState>()
  /** Bumped on every change of the open channel's view (the view itself is not reactive). */
  const version = shallowRef(0)
  const error = shallowRef<string | null>(null)
  const bump = (): void => {
    version.value++
  }

  function stateOf(name: string): ChannelState {
    let state = states.get(name)
    if (!state) {
      const view = new ChannelTimeline(name, client.self, rolesOf(client))
      state = { view, oldest: undefined, complete: false, loading: false, fromPeers: false }
      states.set(name, state)
    }
    return state
  }

  async function loadPage(name: string, limit: number): Promise<void> {
    const state = stateOf(name)
    if (state.loading || state.complete) return
    state.loading = true
    if (name === channel.value) bump()
    try {
      const page = await client.history(name, { before: state.oldest, limit })
      state.view.apply(page.events)
      if (page.events[0]) state.oldest = page.events[0].id
      state.complete = page.complete
      error.value = null
    } catch (e) {
      error.value = `Could not load history: ${(e as Error).message}`
    } finally {
      state.loading = false
      if (name === channel.value) bump()
    }
  }

  const report = (e: Error): void => {
    error.value = e.message
  }

  const current = computed(() => {
    version.value
    return stateOf(channel.value)
  })

  const rows = computed(() => {
    version.value
    const state = stateOf(channel.value)
    const edge = state.fromPeers ? 'peers' : state.loading ? 'loading' : state.complete ? 'start' : 'more'
    return buildRows(state.view.messages(), edge)
  })

  watch(
    channel,
    (name) => {
      performance.mark(`open:${name}`)
      if (!states.has(name)) void loadPage(name, firstPage)
      else bump()
    },
    { immediate: true },
  )

  const offEvent = client.on('event', ({ event }) => {
    const state = states.get(event.channel)
    if (!state) return // loaded from the local log when the channel opens
    if (state.view.apply([event]) > 0 && event.channel === channel.value) bump()
  })
  const offOutgoing = client.on('outgoing', ({ request, stamped }) => {
    stateOf(request.channel).view.addPending(request)
    if (request.channel === channel.value) bump()
    stamped.catch((e: Error) => {
      if (stateOf(request.channel).view.markFailed(request) && request.channel === channel.value) bump()
      error.value = `Not sent: ${e.message}`
    })
  })
  const offBackfill = client.on('backfill', ({ channel: name, active }) => {
    stateOf(name).fromPeers = active
    if (name === channel.value) bump()
  })
  onScopeDispose(() => {
    offEvent()
    offOutgoing()
    offBackfill()
  })

  return {
    rows,
    error,
    /** Loads the next older page of the open channel (no-op while loading or at the start). */
    loadOlder: () => loadPage(channel.value, OLDER_PAGE),
    get: (id: Ulid): ChatMessage | undefined => current.value.view.get(id),
    /** The newest own message that can still be edited (for Up in an empty composer). */
    lastOwn: (): ChatMessage | undefined => {
      const list = current.value.view.messages()
      for (let i = list.length - 1; i >= 0; i--) {
        const m = list[i]!
        if (m.authorId === current.value.view.selfId && !m.pending && !m.redacted && !m.attachment) return m
      }
      return undefined
    },
    /** Toggles my `emoji` reaction on a message. */
    react: (message: ChatMessage, emoji: string): void => {
      if (!message.id) return
      const mine = message.reactions.some((r) => r.emoji === emoji && r.mine)
      void client.react(channel.value, message.id, emoji, !mine).catch(report)
    },
    /** Deletes (redacts) one of my messages. */
    redact: (message: ChatMessage): void => {
      if (message.id) void client.redact(channel.value, message.id).catch(report)
    },
    /** Verification and origin of a stamped message, for the trust details. */
    provenance: (message: ChatMessage) =>
      message.id ? client.provenance(channel.value, message.id) : Promise.resolve(undefined),
    markRead: () => {
      const newest = current.value.view.newestId()
      if (newest) client.markRead(channel.value, newest)
    },
  }
}

export type MessagesState = ReturnType<typeof createMessages>
const key: InjectionKey<MessagesState> = Symbol('messages')

export function provideMessages(client: ChatClient, channel: Ref<string>, firstPage?: number): MessagesState {
  const state = createMessages(client, channel, firstPage)
  provide(key, state)
  return state
}

export const useMessages = (): MessagesState => injectStrict(key, 'useMessages')
