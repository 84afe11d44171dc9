import { defineConfig } from 'vitest/config'

// The packaging test builds, packs and installs the packages outside the workspace: slow, and
// run on its own (`pnpm test:packaging`) so it never competes with the unit tests for the CPU.
export default defineConfig({
  test: {
    include: ['tests/packaging/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
})
