/** The trust & sync panel's data: a snapshot of the client's status, re-read every second while shown. */
import { onScopeDispose, shallowRef } from 'vue'
import type { SyncStatus } from '../client/types.ts'
import { useClient } from './useClient.ts'
import { useVoice } from './useVoice.ts'

/** How often the open panel re-reads the status (default 1 s). */
export const STATUS_REFRESH_MS = 1000

export function useSyncStatus() {
  const client = useClient()
  const voice = useVoice()
  const status = shallowRef<SyncStatus | null>(null)
  /** Audio of the voice calls in progress (empty when not in voice). */
  const audio = shallowRef<Awaited<ReturnType<typeof voice.audioStats>>>([])
  const error = shallowRef<string | null>(null)
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined

  async function refresh(): Promise<void> {
    try {
      const [next, calls] = await Promise.all([client.syncStatus(), voice.audioStats()])
      if (stopped) return
      status.value = next
      audio.value = calls
      error.value = null
    } catch (e) {
      if (!stopped) error.value = (e as Error).message
    }
    if (!stopped) timer = setTimeout(() => void refresh(), STATUS_REFRESH_MS)
  }
  void refresh()
  onScopeDispose(() => {
    stopped = true
    clearTimeout(timer)
  })
  return { status, audio, error }
}
