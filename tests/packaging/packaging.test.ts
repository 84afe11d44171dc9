/**
 * The packages as a user gets them: built, packed, installed outside the workspace. Plain Node
 * runs them (no tsx), a strict consumer type-checks against their declarations, the guard
 * worker survives bundling, and a browser page on the relay transport carries no WebRTC.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildPage, type PageSizes } from '../../bench/vite-build.ts'
import { launchChromium } from '../e2e/browser.ts'
import { serveStatic } from '../e2e/static-server.ts'
import { buildPackAndInstall, type Installed, PACKAGES, packageName, ROOT } from './pack.ts'

let installed: Installed
beforeAll(() => {
  installed = buildPackAndInstall()
})

const node = (script: string, cwd: string): string =>
  execFileSync(process.execPath, [script], { cwd, encoding: 'utf8', timeout: 60_000 })

const tarList = (tgz: string): string[] =>
  execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).trim().split('\n')

interface Manifest {
  exports: Record<string, { types: string; import: string }>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
  sideEffects: boolean
}
const manifest = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(installed.app, 'node_modules', packageName(dir), 'package.json'), 'utf8'))

describe('packed packages', () => {
  it.each(PACKAGES)('%s ships built JS and declarations, no sources or tests, real version ranges', (dir) => {
    const files = tarList(installed.tarballs.get(dir)!)
    expect(
      files.filter((f) => !/^package\/(dist\/.*\.(js|d\.ts)|package\.json|README\.md)$/.test(f)),
    ).toEqual([])
    expect(files.filter((f) => /\.test\.|\/test\//.test(f))).toEqual([])
    const m = manifest(dir)
    expect(m.sideEffects).toBe(false)
    for (const [entry, target] of Object.entries(m.exports)) {
      expect(Object.keys(target), entry).toEqual(['types', 'import'])
      expect(files).toContain(`package/${target.types.slice(2)}`)
      expect(files).toContain(`package/${target.import.slice(2)}`)
    }
    for (const range of Object.values({ ...m.dependencies, ...m.peerDependencies }))
      expect(range).not.toMatch(/workspace:/)
  })

  it('keeps native WebRTC and ws out of the hard dependencies', () => {
    const t = manifest('transports')
    expect(Object.keys(t.dependencies ?? {})).not.toContain('@roamhq/wrtc')
    expect(Object.keys(t.dependencies ?? {})).not.toContain('ws')
    expect(existsSync(join(installed.app, 'node_modules/@roamhq'))).toBe(false)
    // (ws itself may still arrive: y-webrtc lists it for its signaling server binary.)
  })
})

describe('the installed packages', () => {
  it('run in plain Node: two replicas on the memory network converge', () => {
    const out = JSON.parse(node('two-replicas.mjs', installed.app))
    expect(out.ann).toEqual(['four', 'one', 'three', 'two'])
    expect(out.bob).toEqual(out.ann)
  })

  it.each(['tsconfig.json', 'tsconfig.bundler.json'])(
    'type-check in a strict consumer (%s: nodenext / bundler resolution, no special flags)',
    (config) => {
      const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
      const out = (() => {
        try {
          return execFileSync(process.execPath, [tsc, '-p', config], {
            cwd: installed.app,
            encoding: 'utf8',
          })
        } catch (e) {
          return String((e as { stdout?: string }).stdout ?? e)
        }
      })()
      expect(out).toBe('')
    },
  )

  it('start the Node guard worker, also from an esbuild bundle', async () => {
    const direct = JSON.parse(node('guard.mjs', installed.app))
    expect(direct).toEqual({ text: 'hello from a', refused: [] })
    const outfile = join(installed.app, 'bundled', 'guard.mjs')
    await build({
      entryPoints: [join(installed.app, 'guard.mjs')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile,
      logLevel: 'error',
    })
    // No node_modules next to the bundle: everything it needs is inside it.
    expect(JSON.parse(node(outfile, join(installed.app, 'bundled')))).toEqual(direct)
  })
})

/** Vite build of a consumer page, sized (initial JS vs lazy chunks) and printed for bench/README.md. */
function viteBuild(page: string): PageSizes {
  const sizes = buildPage(join(installed.app, page), { lazy: /./ }, ['--target', 'es2022'], installed.app)
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`
  console.log(
    `packaging: ${page} initial JS ${kb(sizes.initial)} gzip, lazy chunks ${kb(sizes.lazy.lazy!)} gzip`,
  )
  return sizes
}

// Markers of code that must not reach a relay-only page: the WebRTC stack and Node's ws.
const WEBRTC = /RTCPeerConnection|simple-peer/
const WS_NODE = /ws does not work in the browser|perMessageDeflate/

describe('browser bundles (vite build of pages using the installed packages)', () => {
  it('a page on the relay transport carries neither WebRTC nor ws', () => {
    const page = viteBuild('page-relay')
    expect(page.allText).not.toMatch(WEBRTC)
    expect(page.allText).not.toMatch(WS_NODE)
    expect(page.allText).not.toMatch(/@roamhq|wrtc/)
  })

  it('a page with Yjs documents starts the Web Worker guard from the bundle, in Chromium', async () => {
    const built = viteBuild('page-docs')
    const server = await serveStatic(built.outDir)
    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      await page.goto(server.url)
      await page.waitForFunction(() => document.title.startsWith('{'), undefined, { timeout: 60_000 })
      expect(JSON.parse(await page.title())).toEqual({ text: 'hello from a', refused: [] })
      expect(
        server.requests.filter((p) => p !== '/' && p !== '/favicon.ico' && !p.startsWith('/assets/')),
      ).toEqual([])
    } finally {
      await browser.close()
      await server.close()
    }
  })

  it('a page with the mesh loads WebRTC only in a lazy chunk', () => {
    const page = viteBuild('page-webrtc')
    expect(page.initialText).not.toMatch(WEBRTC)
    expect(page.allText).toMatch(WEBRTC)
    expect(page.allText).not.toMatch(WS_NODE)
  })
})
