/** Builds ui-vue/dist once per run (vite, ~2 s) so the tests always drive the current code. */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const UI_DIR = fileURLToPath(new URL('../../ui-vue', import.meta.url))
export const DIST_DIR = `${UI_DIR}/dist`

/** `outDir` (default ui-vue/dist): a test file may build into its own directory so that runs of other files never replace the app it serves. */
export function buildUi(outDir = DIST_DIR): void {
  buildPage(UI_DIR, outDir)
}

/** A production Vite build of the page project in `dir` (the web app, examples/board) into `outDir`. */
export function buildPage(dir: string, outDir: string): void {
  execFileSync('pnpm', ['exec', 'vite', 'build', '--logLevel', 'warn', '--outDir', outDir, '--emptyOutDir'], {
    cwd: dir,
    stdio: 'inherit',
    // The build that ships: vitest sets NODE_ENV=test, which Vite would carry into the bundle
    // (Vue in development mode, `import.meta.env.PROD` false).
    env: { ...process.env, NODE_ENV: 'production' },
  })
}
