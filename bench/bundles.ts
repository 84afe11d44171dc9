/**
 * Bundle sizes (issue #12): what a page pays for each engine entry, and what the web app loads
 * first. Everything is minified and gzipped (level 9); the baseline in the same run is the
 * same build with Yjs / WebRTC added, printed as a ratio.
 *
 *   pnpm bench:bundles                      core, core + /docs, board page, web app
 *   pnpm bench:bundles --ui <dir>           also the web app of another checkout (before/after:
 *                                           git worktree add /tmp/before <rev> && pnpm -C /tmp/before install)
 */
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { buildPage } from './vite-build.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
if (args.includes('--help')) {
  console.log('usage: pnpm bench:bundles [--ui <ui-vue dir of another checkout>]')
  process.exit(0)
}
const otherUi = args.includes('--ui') ? resolve(args[args.indexOf('--ui') + 1] ?? '') : undefined
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`
const gz = (b: Uint8Array | string) => gzipSync(b, { level: 9 }).length

/**
 * esbuild bundle of a snippet (browser, minified, tree-shaken, code splitting): the gzip size of
 * what loads first (the entry and the chunks it imports statically; dynamic imports excluded).
 */
async function snippet(code: string): Promise<number> {
  const out = await build({
    stdin: { contents: code, resolveDir: join(ROOT, 'tests'), loader: 'ts' },
    bundle: true,
    minify: true,
    write: false,
    splitting: true,
    outdir: join(tmpdir(), 'peerchat-snippet'),
    metafile: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'error',
  })
  const outputs = out.metafile.outputs
  const byPath = new Map(out.outputFiles.map((f) => [f.path, f.contents]))
  const entry = Object.keys(outputs).find((k) => outputs[k]!.entryPoint)!
  const seen = new Set<string>()
  const walk = (k: string) => {
    if (seen.has(k)) return
    seen.add(k)
    for (const i of outputs[k]!.imports) if (i.kind === 'import-statement' && outputs[i.path]) walk(i.path)
  }
  walk(entry)
  return [...seen].reduce((n, k) => n + gz(byPath.get(resolve(k))!), 0)
}

const rows: string[][] = []
const row = (...cells: string[]) => {
  rows.push(cells)
  console.log(cells.join(' | '))
}

console.log('entry | gzip | vs baseline')
const core = await snippet(`export * from '@peerchat/engine'`)
const withDocs = await snippet(`export * from '@peerchat/engine'; export * from '@peerchat/engine/docs'`)
const replicaOnly = await snippet(
  `import { Replica, MemoryStore } from '@peerchat/engine'; console.log(Replica, MemoryStore)`,
)
row(
  'core entry, every export (`@peerchat/engine`)',
  kb(core),
  `${(core / withDocs).toFixed(2)}x of core + /docs`,
)
row('core + /docs (Yjs)', kb(withDocs), '1.00x')
row(
  'Replica + MemoryStore only (tree-shaken)',
  kb(replicaOnly),
  `${(replicaOnly / core).toFixed(2)}x of the core`,
)

const board = join(ROOT, 'examples/board')
if (existsSync(join(board, 'index.html'))) {
  const b = buildPage(board, {
    webrtc: /webrtc-transport/,
    docs: /engine\/src\/docs\/index\.ts$|description-editor/,
  })
  row('board page, initial JS (relay transport)', kb(b.initial), '1.00x')
  row(
    'board page + WebRTC (lazy chunk)',
    kb(b.initial + b.lazy.webrtc!),
    `${((b.initial + b.lazy.webrtc!) / b.initial).toFixed(2)}x`,
  )
  row(
    'board page + description editor (Yjs, lazy)',
    kb(b.initial + b.lazy.docs!),
    `${((b.initial + b.lazy.docs!) / b.initial).toFixed(2)}x`,
  )
}

const appLazy = {
  real: /src\/client\/real\.ts$/,
  webrtc: /webrtc-transport/,
  // A channel canvas (issue #15): its pane's closure holds CodeMirror, the canvas client and Yjs.
  canvas: /components\/canvas\/CanvasPane\.vue$/,
}
const app = buildPage(join(ROOT, 'ui-vue'), appLazy)
row('web app, initial JS (entry + static imports)', kb(app.initial), '1.00x')
row('web app, + real client (loaded at start)', kb(app.initial + app.lazy.real!), '')
row(
  'web app, + a channel canvas (lazy; bench:canvas has the details)',
  kb(app.initial + app.lazy.canvas!),
  `${((app.initial + app.lazy.canvas!) / app.initial).toFixed(2)}x`,
)
if (otherUi) {
  const before = buildPage(otherUi, appLazy)
  row(
    `web app at ${otherUi}, initial JS`,
    kb(before.initial),
    `now ${(app.initial / before.initial).toFixed(2)}x`,
  )
  row(
    `web app at ${otherUi}, + real client`,
    kb(before.initial + before.lazy.real!),
    `now ${((app.initial + app.lazy.real!) / (before.initial + before.lazy.real!)).toFixed(2)}x`,
  )
}
