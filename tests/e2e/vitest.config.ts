import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Browser tests: build the web app, serve it, drive Debian's Chromium with playwright-core.
// Kept out of the root run (slow, needs /usr/bin/chromium); `pnpm test:e2e` runs them.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['tests/e2e/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
    dangerouslyIgnoreUnhandledErrors: false,
  },
})
