/** Voice for the chat screen: one VoiceSession per client (when it has a mesh), its state as a ref. */
import { type InjectionKey, onScopeDispose, provide, shallowRef } from 'vue'
import type { ChatClient } from '../client/types.ts'
import { VoiceSession, type VoiceState } from '../client/voice/session.ts'
import { injectStrict } from './inject.ts'

function createVoice(client: ChatClient) {
  const session = client.voice ? new VoiceSession(client.voice) : undefined
  const state = shallowRef<VoiceState | null>(session?.state ?? null)
  const off = session?.subscribe((s) => {
    state.value = s
  })
  onScopeDispose(() => {
    off?.()
    session?.stop()
  })
  return {
    /** Null where voice is unavailable (the simulation has no mesh). */
    state,
    join: (channel: string) => session?.join(channel) ?? Promise.resolve(),
    leave: () => session?.leave(),
    setMuted: (muted: boolean) => session?.setMuted(muted),
    selectDevice: (id: string) => session?.selectDevice(id) ?? Promise.resolve(),
    dismissError: () => session?.dismissError(),
    audioStats: () => session?.audioStats() ?? Promise.resolve([]),
  }
}

export type VoiceComposable = ReturnType<typeof createVoice>
const key: InjectionKey<VoiceComposable> = Symbol('voice')

export function provideVoice(client: ChatClient): VoiceComposable {
  const state = createVoice(client)
  provide(key, state)
  return state
}

export const useVoice = (): VoiceComposable => injectStrict(key, 'useVoice')
