import { type InjectionKey, provide } from 'vue'
import type { ChatClient } from '../client/types.ts'
import { injectStrict } from './inject.ts'

const key: InjectionKey<ChatClient> = Symbol('ChatClient')

export function provideClient(client: ChatClient): void {
  provide(key, client)
}

export const useClient = (): ChatClient => injectStrict(key, 'useClient')
