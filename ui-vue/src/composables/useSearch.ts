/**
 * The search box's state: what is typed, the results of this device's index (newest first, a
 * page at a time), how far the index is, and opening a result (the channel, then the message).
 */
import type { Ulid } from '@peerchat/engine'
import { type InjectionKey, onScopeDispose, provide, ref, shallowRef, watch } from 'vue'
import type { ChatClient, SearchProgress, SearchResults } from '../client/types.ts'
import type { SearchHit } from '../lib/search-index.ts'
import { SEARCH_LIMIT } from '../lib/search-query.ts'
import { injectStrict } from './inject.ts'
import type { ChannelsState } from './useChannels.ts'
import type { MessagesState } from './useMessages.ts'

/** Typing pauses this long before a query runs (default 120 ms). */
export const SEARCH_DEBOUNCE_MS = 120
/** While the index grows, open results are refreshed at most this often (default 1 s). */
export const SEARCH_REFRESH_MS = 1_000

function createSearch(client: ChatClient, channels: ChannelsState, messages: MessagesState) {
  const text = ref('')
  const open = ref(false)
  const results = shallowRef<SearchResults | null>(null)
  const hits = shallowRef<readonly SearchHit[]>([])
  const progress = shallowRef<SearchProgress | null>(null)
  const error = ref<string | null>(null)
  const running = ref(false)
  let seq = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let refreshAt = 0

  async function run(): Promise<void> {
    const mine = ++seq
    const query = text.value.trim()
    if (!query || !client.search) {
      results.value = null
      hits.value = []
      return
    }
    running.value = true
    try {
      const r = await client.search(query)
      if (mine !== seq) return
      results.value = r
      hits.value = r.hits
      progress.value = r.progress
      error.value = null
      await fill(mine)
    } catch (e) {
      if (mine === seq) error.value = `Search failed: ${(e as Error).message}`
    } finally {
      if (mine === seq) running.value = false
    }
  }

  /**
   * A search call stops after its time budget (a query with few matches reads every month); the
   * rest is asked for between frames until a page is full or nothing older is left.
   */
  async function fill(mine: number): Promise<void> {
    while (mine === seq && results.value?.more && hits.value.length < SEARCH_LIMIT) {
      await new Promise((resolve) => setTimeout(resolve, 0))
      if (mine !== seq) return
      await next(mine)
    }
  }

  async function next(mine: number): Promise<void> {
    const from = results.value?.next
    if (!from || !client.search) return
    const r = await client.search(text.value.trim(), { before: from })
    if (mine !== seq) return
    results.value = r
    hits.value = [...hits.value, ...r.hits]
  }

  /** The next (older) page of the same query. */
  async function more(): Promise<void> {
    if (!results.value?.more) return
    const mine = seq
    const had = hits.value.length
    await next(mine)
    // A page's worth, as the first one.
    while (mine === seq && results.value?.more && hits.value.length - had < SEARCH_LIMIT) await next(mine)
  }

  /** Older history being fetched from peers for search (events added so far), or its outcome. */
  const fetching = shallowRef<{ added: number; done: boolean } | null>(null)
  const stopFetching = new AbortController()
  /** Asks peers for the history older than what this device holds, then searches again. */
  async function fetchOlder(): Promise<void> {
    if (!client.fetchOlderHistory || (fetching.value && !fetching.value.done)) return
    fetching.value = { added: 0, done: false }
    try {
      const added = await client.fetchOlderHistory((p) => {
        fetching.value = { added: p.added, done: false }
      }, stopFetching.signal)
      fetching.value = { added, done: true }
    } catch (e) {
      fetching.value = { added: fetching.value?.added ?? 0, done: true }
      error.value = `Could not fetch older history: ${(e as Error).message}`
    }
    void run()
  }

  /** Opens the result's channel and brings the message into view (loading its page). */
  async function jump(hit: SearchHit): Promise<boolean> {
    open.value = false
    channels.select(hit.doc.channel)
    return messages.jumpTo(hit.doc.channel, hit.doc.id as Ulid)
  }

  watch(text, () => {
    clearTimeout(timer)
    open.value = text.value.trim() !== ''
    timer = setTimeout(() => void run(), SEARCH_DEBOUNCE_MS)
  })
  const off = client.on('search', (p) => {
    progress.value = p
    // Results found so far grow as channels are read: refresh them now and then.
    if (!open.value || !text.value.trim()) return
    const now = Date.now()
    if (!p.busy || now >= refreshAt) {
      refreshAt = now + SEARCH_REFRESH_MS
      void run()
    }
  })
  onScopeDispose(() => {
    clearTimeout(timer)
    stopFetching.abort()
    off()
  })

  return { text, open, results, hits, progress, error, running, run, more, jump, fetching, fetchOlder }
}

export type SearchState = ReturnType<typeof createSearch>
const key: InjectionKey<SearchState> = Symbol('search')

export function provideSearch(
  client: ChatClient,
  channels: ChannelsState,
  messages: MessagesState,
): SearchState {
  const state = createSearch(client, channels, messages)
  provide(key, state)
  return state
}

export const useSearch = (): SearchState => injectStrict(key, 'useSearch')
