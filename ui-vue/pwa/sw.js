/**
 * The app's service worker (issue #17): the app opens with no network. Written by
 * pwa/plugin.ts at build time, which fills in the build's files and a version.
 *
 * - Install: every file of the build is cached under this version (the app shell, the lazy
 *   chunks too, so an offline page can still open a canvas or the settings).
 * - Pages: the network first (a deployed version shows at once), the cached shell offline.
 * - Files of the build: from the cache (their names carry a hash); anything else: the network.
 * - A new version installs beside the running one and waits: the page offers to reload, then
 *   tells it to take over (`skip-waiting`); old caches go when it does. A tab never mixes the
 *   files of two versions.
 */
const VERSION = '__VERSION__'
const FILES = __FILES__
const CACHE = `peerchat-${VERSION}`

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(FILES.map((f) => new Request(f, { cache: 'reload' })))),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys())
        if (name.startsWith('peerchat-') && name !== CACHE) await caches.delete(name)
      await self.clients.claim()
    })(),
  )
})

self.addEventListener('message', (event) => {
  if (event.data === 'skip-waiting') self.skipWaiting()
})

self.addEventListener('fetch', (event) => {
  const request = event.request
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return
  if (request.mode === 'navigate') {
    event.respondWith(
      fetch(request).catch(async () => {
        const shell = await caches.match(new URL('./index.html', self.registration.scope).href, {
          cacheName: CACHE,
        })
        return shell ?? Response.error()
      }),
    )
    return
  }
  event.respondWith(caches.match(request, { cacheName: CACHE }).then((hit) => hit ?? fetch(request)))
})
