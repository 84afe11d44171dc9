/**
 * The open channel's messages as list rows: a `ChannelTimeline` (the engine's ChannelView
 * plus the outbox) per channel, kept while the app runs so switching back is instant, fed by
 * pages of history (what the device holds, read at once), live and backfilled events, and the
 * states of this device's writes (pending, failed with retry, stamped).
 */
import type { Ulid } from '@peerchat/engine'
import { computed, type InjectionKey, onScopeDispose, provide, type Ref, shallowRef, watch } from 'vue'
import { ChannelTimeline, type ChatMessage, refusalText, writeKeyOf } from '../client/channel-view.ts'
import { rolesOf } from '../client/roles.ts'
import type { ChatClient } from '../client/types.ts'
import { buildRows } from '../lib/rows.ts'
import { injectStrict } from './inject.ts'

/** Events loaded when a channel opens (default 500): a few screens, the rest on scroll-back. */
export const FIRST_PAGE = 500
/** Events loaded per scroll-back step (default 500). */
export const OLDER_PAGE = 500
/** Longest a jump to a message waits for its page, from this device and then its peers (default 30 s). */
export const JUMP_WAIT_MS = 30_000

/** A message to bring into view (a search result): the list scrolls to it once its row exists. */
export interface JumpTarget {
  channel: string
  id: Ulid
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface ChannelState {
  view: ChannelTimeline
  /** Its first page was asked for (it follows writes and events from then on). */
  started: boolean
  oldest: Ulid | undefined
  complete: boolean
  loading: boolean
  /** Peers finished a backfill while a page was loading: ask again after it. */
  again: boolean
  /**
   * The store had nothing older and peers are being asked: older pages wait for them (a
   * `backfill` end), instead of asking the store again and again.
   */
  drained: boolean
  /** The client is asking peers for this channel's older history. */
  fromPeers: boolean
}

/** Page sizes: the first page of a channel, and each older one. */
export interface PageSizes {
  firstPage?: number
  olderPage?: number
}

/** The state behind `provideMessages` (exported for tests, which run it in an effect scope). */
export function createMessages(client: ChatClient, channel: Ref<string>, pages: PageSizes = {}) {
  const firstPage = pages.firstPage ?? FIRST_PAGE
  const olderPage = pages.olderPage ?? OLDER_PAGE
  const states = new Map<string, ChannelState>()
  /** Bumped on every change of the open channel's view (the view itself is not reactive). */
  const version = shallowRef(0)
  const error = shallowRef<string | null>(null)
  const target = shallowRef<JumpTarget | null>(null)
  const bump = (): void => {
    version.value++
  }

  function stateOf(name: string): ChannelState {
    let state = states.get(name)
    if (!state) {
      const view = new ChannelTimeline(name, client.self, rolesOf(client))
      state = {
        view,
        started: false,
        oldest: undefined,
        complete: false,
        loading: false,
        again: false,
        drained: false,
        fromPeers: false,
      }
      states.set(name, state)
    }
    return state
  }

  async function loadPage(name: string, limit: number): Promise<void> {
    const state = stateOf(name)
    if (state.loading || state.complete || state.drained) return
    state.loading = true
    state.again = false
    if (name === channel.value) bump()
    try {
      const page = await client.history(name, { before: state.oldest, limit })
      state.view.apply(page.events)
      if (page.events[0]) state.oldest = page.events[0].id
      state.complete = page.complete
      state.drained = page.events.length === 0 && !page.complete
      error.value = null
    } catch (e) {
      error.value = `Could not load history: ${(e as Error).message}`
    } finally {
      state.loading = false
      if (name === channel.value) bump()
    }
    if (state.again) void loadPage(name, olderPage)
  }

  /** First look at a channel: this device's writes waiting for their stamp, then the newest page. */
  function start(name: string): void {
    const state = stateOf(name)
    state.started = true
    for (const w of client.writes(name)) state.view.setWrite(w)
    void loadPage(name, firstPage)
  }

  /**
   * Loads the channel's pages back to the message `id` (older history comes from peers when this
   * device has none: `history` asks them), then sets it as the `target`. False when it cannot be
   * had (the channel's start was reached, `JUMP_WAIT_MS` passed, or another channel was opened).
   */
  async function jumpTo(name: string, id: Ulid): Promise<boolean> {
    const state = stateOf(name)
    if (!state.started) start(name)
    const deadline = Date.now() + JUMP_WAIT_MS
    while (!state.view.get(id)) {
      if (channel.value !== name) return false
      if ((state.complete && !state.loading) || Date.now() > deadline) {
        error.value = 'That message could not be found on this device or its peers.'
        return false
      }
      // A page is loading, or peers are being asked (their `backfill` end loads the next page).
      if (state.loading || state.drained) await sleep(50)
      else await loadPage(name, olderPage)
    }
    target.value = { channel: name, id }
    bump()
    return true
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
    // The start, once known, wins over a scroll-back still running (nothing older can come).
    const edge = state.complete ? 'start' : state.fromPeers ? 'peers' : state.loading ? 'loading' : 'more'
    return buildRows(state.view.messages(), edge)
  })

  watch(
    channel,
    (name) => {
      performance.mark(`open:${name}`)
      if (!stateOf(name).started) start(name)
      else bump()
    },
    { immediate: true },
  )

  const offEvent = client.on('event', ({ event }) => {
    const state = states.get(event.channel)
    if (!state?.started) return // read from the store when the channel opens
    if (state.view.apply([event]) > 0 && event.channel === channel.value) bump()
  })
  const offRemoved = client.on('removed', ({ channel: name, ids }) => {
    const state = states.get(name)
    if (state?.started && state.view.remove(ids) > 0 && name === channel.value) bump()
  })
  const offWrite = client.on('write', (w) => {
    const state = states.get(w.request.channel)
    const shown = state?.started ? state.view.setWrite(w) : false
    if (shown && w.request.channel === channel.value) bump()
    // A refused write without a row of its own (a reaction, an edit, a profile) says so here.
    if (w.state === 'failed' && !shown) error.value = `Not sent: ${refusalText(w.error)}.`
  })
  const offBackfill = client.on('backfill', ({ channel: name, active }) => {
    const state = stateOf(name)
    state.fromPeers = active
    // Peers are done: what they sent is in the store, or the channel's start is known now.
    if (!active && state.started && !state.complete) {
      state.drained = false
      if (state.loading) state.again = true
      else void loadPage(name, olderPage)
    }
    if (name === channel.value) bump()
  })
  onScopeDispose(() => {
    offEvent()
    offRemoved()
    offWrite()
    offBackfill()
  })

  return {
    rows,
    error,
    /** The message the list brings into view (a search result), once its row exists. */
    target,
    jumpTo,
    /** Loads the next older page of the open channel (no-op while loading or at the start). */
    loadOlder: () => loadPage(channel.value, olderPage),
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
    /** Sends a refused message again. */
    retry: (message: ChatMessage): void => {
      const key = writeKeyOf(message)
      if (key) void client.retry(key).catch(report)
    },
    /** Gives up on a refused message: its row goes. */
    discard: (message: ChatMessage): void => {
      const key = writeKeyOf(message)
      if (!key) return
      const name = channel.value
      void client
        .discard(key)
        .then(() => {
          if (stateOf(name).view.removePending(key) && name === channel.value) bump()
        })
        .catch(report)
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

export function provideMessages(client: ChatClient, channel: Ref<string>, pages?: PageSizes): MessagesState {
  const state = createMessages(client, channel, pages)
  provide(key, state)
  return state
}

export const useMessages = (): MessagesState => injectStrict(key, 'useMessages')
