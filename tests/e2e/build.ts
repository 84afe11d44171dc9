/** Builds ui-vue/dist once per run (vite, ~2 s) so the tests always drive the current code. */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const UI_DIR = fileURLToPath(new URL('../../ui-vue', import.meta.url))
export const DIST_DIR = `${UI_DIR}/dist`

export function buildUi(): void {
  execFileSync('pnpm', ['exec', 'vite', 'build', '--logLevel', 'warn'], { cwd: UI_DIR, stdio: 'inherit' })
}
