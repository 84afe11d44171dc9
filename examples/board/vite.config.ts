import { defineConfig } from 'vite'

// A static build in dist/ that any file server can serve: `base: './'` keeps every URL relative.
// Nothing is fetched from the internet (no CDN, system fonts); the page talks to the relay only.
export default defineConfig({
  base: './',
  build: {
    target: 'es2022',
    rollupOptions: {
      // The workspace packages have no import-time side effects (`sideEffects: false`, which the
      // bundler does not apply to linked sources): modules a chunk does not use stay out of it, so
      // WebRTC and Yjs stay in their lazy chunks.
      treeshake: { moduleSideEffects: (id) => !/\/(engine|transports|stores\/[a-z]+)\/src\//.test(id) },
    },
  },
  worker: { format: 'es' },
  server: { host: '127.0.0.1' },
})
