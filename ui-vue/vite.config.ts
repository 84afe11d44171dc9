import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'
import { serviceWorker } from './pwa/plugin.ts'

// A static build in ui-vue/dist that the relay serves as-is. `base: './'` keeps every asset
// URL relative, so the app works under any path the relay mounts it on. Nothing is fetched
// from the internet: no CDN fonts or scripts (system font stack only).
export default defineConfig({
  base: './',
  // The service worker (pwa/): the built app opens with no network.
  plugins: [vue(), serviceWorker()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
    rollupOptions: {
      // Our packages have no import-time side effects (they say `sideEffects: false`, which the
      // bundler did not apply to these linked workspace sources: 64 KB gzip of initial JS instead
      // of 37): a module none of whose exports a chunk uses is left out of that chunk's graph, so
      // code only the real client uses (the blob exchange, WebRTC) stays in its lazy chunk.
      treeshake: { moduleSideEffects: (id) => !/\/(engine|transports|stores\/[a-z]+)\/src\//.test(id) },
    },
  },
  server: { host: '127.0.0.1' },
})
