/** Builds ui-vue/dist once per run (vite, ~2 s) so the tests always drive the current code. */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const UI_DIR = fileURLToPath(new URL('../../ui-vue', import.meta.url))
export const DIST_DIR = `${UI_DIR}/dist`

/** `outDir` (default ui-vue/dist): a test file may build into its own directory so that runs of other files never replace the app it serves. */
export function buildUi(outDir = DIST_DIR): void {
  execFileSync('pnpm', ['exec', 'vite', 'build', '--logLevel', 'warn', '--outDir', outDir, '--emptyOutDir'], {
    cwd: UI_DIR,
    stdio: 'inherit',
  })
}
