/**
 * Builds a Vite page and measures its JavaScript (gzip -9) from the build manifest: what loads
 * first (the entries and every chunk they import statically) and named lazy parts (chunks
 * reached from dynamic imports, minus what already loaded first). Used by `bench:bundles` and
 * the packaging test.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const VITE = fileURLToPath(new URL('../tests/node_modules/vite/bin/vite.js', import.meta.url))

interface ManifestChunk {
  file: string
  isEntry?: boolean
  imports?: string[]
}

export interface PageSizes {
  outDir: string
  /** Gzip bytes of the initial JS. */
  initial: number
  /** Gzip bytes of each named lazy part (its closure, minus the initial JS). */
  lazy: Record<string, number>
  /** The initial JS and all JS, as text (to look for what must not be there). */
  initialText: string
  allText: string
}

export function buildPage(
  root: string,
  lazy: Record<string, RegExp> = {},
  extraArgs: string[] = [],
  cwd: string = root,
): PageSizes {
  const outDir = mkdtempSync(join(tmpdir(), 'peerchat-page-'))
  execFileSync(
    process.execPath,
    [
      VITE,
      'build',
      root,
      '--outDir',
      outDir,
      '--emptyOutDir',
      '--manifest',
      '--logLevel',
      'error',
      ...extraArgs,
    ],
    { cwd, stdio: ['ignore', 'ignore', 'inherit'] },
  )
  const manifest = JSON.parse(readFileSync(join(outDir, '.vite/manifest.json'), 'utf8')) as Record<
    string,
    ManifestChunk
  >
  const js = (k: string) =>
    manifest[k]!.file.endsWith('.js') ? readFileSync(join(outDir, manifest[k]!.file)) : undefined
  const closure = (keys: string[], seen = new Set<string>()): Set<string> => {
    for (const k of keys) {
      if (seen.has(k) || !manifest[k]) continue
      seen.add(k)
      closure(manifest[k].imports ?? [], seen)
    }
    return seen
  }
  const size = (keys: Iterable<string>) =>
    [...keys].reduce((n, k) => n + (js(k) ? gzipSync(js(k)!, { level: 9 }).length : 0), 0)
  const text = (keys: Iterable<string>) => [...keys].map((k) => js(k)?.toString() ?? '').join('\n')
  const initial = closure(Object.keys(manifest).filter((k) => manifest[k]!.isEntry))
  const lazyOut: Record<string, number> = {}
  for (const [name, re] of Object.entries(lazy))
    lazyOut[name] = size(
      [...closure(Object.keys(manifest).filter((k) => re.test(k)))].filter((k) => !initial.has(k)),
    )
  return {
    outDir,
    initial: size(initial),
    lazy: lazyOut,
    initialText: text(initial),
    allText: text(Object.keys(manifest)),
  }
}
