/**
 * The packages as a user gets them: built, packed, installed outside the workspace. Plain Node
 * runs them (no tsx), a strict consumer type-checks against their declarations, the guard
 * worker survives bundling, and a browser page on the relay transport carries no WebRTC.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { beforeAll, describe, expect, it } from 'vitest'
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

  it('type-check in a strict consumer (tsc, nodenext, no special flags)', () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
    const out = (() => {
      try {
        return execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], {
          cwd: installed.app,
          encoding: 'utf8',
        })
      } catch (e) {
        return String((e as { stdout?: string }).stdout ?? e)
      }
    })()
    expect(out).toBe('')
  })

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

function viteBuild(page: string): { entry: number; lazy: number; text: string; entryText: string } {
  const out = join(installed.app, 'out', page)
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'tests/node_modules/vite/bin/vite.js'),
      'build',
      join(installed.app, page),
      '--outDir',
      out,
      '--target',
      'es2022',
      '--logLevel',
      'error',
    ],
    { cwd: installed.app, stdio: 'inherit' },
  )
  const html = readFileSync(join(out, 'index.html'), 'utf8')
  const entryName = /src="\.?\/?assets\/([^"]+\.js)"/.exec(html)?.[1] ?? /assets\/([^"]+\.js)/.exec(html)?.[1]
  const assets = readdirSync(join(out, 'assets')).filter((f) => f.endsWith('.js'))
  const read = (f: string) => readFileSync(join(out, 'assets', f))
  const gz = (f: string) => gzipSync(read(f)).length
  const entry = assets.filter((f) => f === entryName)
  const lazy = assets.filter((f) => f !== entryName)
  const sum = (fs: string[]) => fs.reduce((n, f) => n + gz(f), 0)
  const result = {
    entry: sum(entry),
    lazy: sum(lazy),
    text: assets.map((f) => read(f).toString()).join('\n'),
    entryText: entry.map((f) => read(f).toString()).join('\n'),
  }
  console.log(
    `packaging: ${page} initial ${(result.entry / 1024).toFixed(1)} KB gzip, lazy ${(result.lazy / 1024).toFixed(1)} KB gzip`,
  )
  return result
}

// Markers of code that must not reach a relay-only page: the WebRTC stack and Node's ws.
const WEBRTC = /RTCPeerConnection|simple-peer/
const WS_NODE = /ws does not work in the browser|perMessageDeflate/

describe('browser bundles (vite build of pages using the installed packages)', () => {
  it('a page on the relay transport carries neither WebRTC nor ws', () => {
    const page = viteBuild('page-relay')
    expect(page.text).not.toMatch(WEBRTC)
    expect(page.text).not.toMatch(WS_NODE)
    expect(page.text).not.toMatch(/@roamhq|wrtc/)
  })

  it('a page with Yjs documents starts the Web Worker guard from the bundle, in Chromium', async () => {
    viteBuild('page-docs')
    const server = await serveStatic(join(installed.app, 'out', 'page-docs'))
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
    expect(page.entryText).not.toMatch(WEBRTC)
    expect(page.text).toMatch(WEBRTC)
    expect(page.text).not.toMatch(WS_NODE)
  })
})
