import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

// A static build in ui-vue/dist that the relay serves as-is. `base: './'` keeps every asset
// URL relative, so the app works under any path the relay mounts it on. Nothing is fetched
// from the internet: no CDN fonts or scripts (system font stack only).
export default defineConfig({
  base: './',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
  },
  server: { host: '127.0.0.1' },
})
