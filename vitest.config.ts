import { defineConfig } from 'vitest/config'

// One run for the whole workspace. Unit tests live beside their package,
// cross-package tests under tests/. Unhandled rejections fail the run.
export default defineConfig({
  test: {
    include: [
      '{engine,transports,relay,virtual-client,ui-vue}/test/**/*.test.ts',
      'stores/*/test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'tests/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', 'tests/e2e/**', 'tests/packaging/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    dangerouslyIgnoreUnhandledErrors: false,
  },
})
