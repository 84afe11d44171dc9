/**
 * Registers the service worker of a production build (pwa/sw.js: the app opens with no network)
 * and says when a new version has installed and waits. Taking it is the user's call
 * (`applyUpdate`): the new worker takes over and the page reloads, so a tab never runs files of
 * two versions.
 */
import { ref } from 'vue'

/** A new version is installed and waits for this tab to take it. */
export const updateReady = ref(false)
let waiting: ServiceWorker | null = null

export function registerServiceWorker(): void {
  // Builds only: Vite's dev server has no sw.js.
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return
  navigator.serviceWorker
    .register('./sw.js')
    .then((registration) => {
      // Waiting while a worker already controls the page: an update (a first install is not).
      const check = () => {
        if (!registration.waiting || !navigator.serviceWorker.controller) return
        waiting = registration.waiting
        updateReady.value = true
      }
      check()
      registration.addEventListener('updatefound', () =>
        registration.installing?.addEventListener('statechange', check),
      )
    })
    // No service worker (a private window, say): the app still works, online.
    .catch((e: Error) => console.warn(`the app will not open offline: ${e.message}`))
}

/** Lets the waiting version take over, then reloads into it. */
export function applyUpdate(): void {
  if (!waiting) return
  navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true })
  waiting.postMessage('skip-waiting')
}
