/** Light, dark or the system's choice; remembered per browser and applied as `data-theme` on <html>. */
import { computed, ref, watchEffect } from 'vue'

export type ThemeChoice = 'system' | 'light' | 'dark'
export const THEME_STORAGE_KEY = 'peerchat.theme'

const stored = typeof localStorage === 'undefined' ? null : localStorage.getItem(THEME_STORAGE_KEY)
const choice = ref<ThemeChoice>(stored === 'light' || stored === 'dark' ? stored : 'system')
const systemDark = ref(false)

let started = false
function start(): void {
  if (started || typeof window === 'undefined') return
  started = true
  const media = window.matchMedia('(prefers-color-scheme: dark)')
  systemDark.value = media.matches
  media.addEventListener('change', (e) => {
    systemDark.value = e.matches
  })
  watchEffect(() => {
    document.documentElement.dataset.theme = effective.value
    localStorage.setItem(THEME_STORAGE_KEY, choice.value)
  })
}

const effective = computed<'light' | 'dark'>(() =>
  choice.value === 'system' ? (systemDark.value ? 'dark' : 'light') : choice.value,
)

export function useTheme() {
  start()
  const toggle = (): void => {
    choice.value = effective.value === 'dark' ? 'light' : 'dark'
  }
  return { choice, effective, toggle }
}
