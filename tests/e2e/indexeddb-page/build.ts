/** Builds the IndexedDB check page (main.ts) with Vite's defaults into a fresh temp dir (test and bench). */
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { UI_DIR } from '../build.ts'

const PAGE_DIR = fileURLToPath(new URL('.', import.meta.url))

export function buildIndexedDbPage(): string {
  const outDir = mkdtempSync(join(tmpdir(), 'peerchat-idb-page-'))
  // No config file in the page's folder: Vite builds with its defaults (ui-vue only supplies Vite).
  execFileSync(
    'pnpm',
    [
      'exec',
      'vite',
      'build',
      PAGE_DIR,
      '--outDir',
      outDir,
      '--emptyOutDir',
      '--base',
      './',
      '--logLevel',
      'warn',
    ],
    { cwd: UI_DIR, stdio: 'inherit' },
  )
  return outDir
}
