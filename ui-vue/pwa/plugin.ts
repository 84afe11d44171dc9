/**
 * Writes the service worker (pwa/sw.js) into the build with the list of the build's files and a
 * version derived from their names (hashed): a deployment that changes any file changes sw.js,
 * which is how browsers notice a new version.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Plugin } from 'vite'

const TEMPLATE = new URL('./sw.js', import.meta.url)

export function serviceWorker(): Plugin {
  return {
    name: 'peerchat-service-worker',
    apply: 'build',
    generateBundle(_, bundle) {
      // The page itself, the files Vite made, and what public/ holds (copied as is).
      const names = new Set(['', 'index.html', 'manifest.webmanifest', 'icon.svg', ...Object.keys(bundle)])
      names.delete('sw.js')
      const files = [...names].map((f) => `./${f}`).sort()
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16)
      const source = readFileSync(TEMPLATE, 'utf8')
        .replace("'__VERSION__'", JSON.stringify(version))
        .replace('__FILES__', JSON.stringify(files))
      this.emitFile({ type: 'asset', fileName: 'sw.js', source })
    },
  }
}
