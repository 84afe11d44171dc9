import { type InjectionKey, inject } from 'vue'

/** `inject` that fails loudly: a composable used outside its provider is a programming error. */
export function injectStrict<T>(key: InjectionKey<T>, what: string): T {
  const value = inject(key)
  if (value === undefined) throw new Error(`${what} is not provided: call it inside ChatShell`)
  return value
}
