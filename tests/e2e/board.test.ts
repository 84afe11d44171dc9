/**
 * The board example (examples/board) in real Chromium: its page built with Vite and served as
 * static files, a relay process, and a Node member's board (`openBoardNode`: files, WebRTC over
 * @roamhq/wrtc). Tasks and descriptions go both ways; the page fetches nothing from the
 * internet, and WebRTC and the description editor stay out of its initial JavaScript.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BoardNode, openBoardNode } from '@peerchat/example-board/node'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../peer/scenario.ts'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'
import { launchChromium } from './browser.ts'
import { buildPage } from './build.ts'
import { SHOTS } from './real-harness.ts'
import { type StaticServer, serveStatic } from './static-server.ts'

const BOARD_DIR = fileURLToPath(new URL('../../examples/board', import.meta.url))
const SEEN = { timeout: 30_000 }

let dist: string
let dir: string
let relay: RelayProcess
let server: StaticServer
let browser: Browser
let node: BoardNode

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), 'peerchat-e2e-board-'))
  buildPage(BOARD_DIR, dist)
  // Every member connects from 127.0.0.1: the per-address frame limits are raised.
  relay = await spawnRelay([
    '--channel',
    'board',
    '--quiet',
    ...['--limit', 'framesPerSecondPerAddress=5000', '--limit', 'frameBurstPerAddress=10000'],
  ])
  server = await serveStatic(dist)
  browser = await launchChromium()
  dir = mkdtempSync(join(tmpdir(), 'peerchat-e2e-board-node-'))
  node = await openBoardNode({ relayUrl: relay.url, relayKey: relay.relayKey, dir })
})

afterAll(async () => {
  await browser?.close()
  await node?.close()
  await server?.close()
  await relay?.stop()
  for (const d of [dist, dir]) if (d) rmSync(d, { recursive: true, force: true })
})

/** The scripts the built page loads up front: its entry and the modules it preloads. */
function initialScripts(): string[] {
  const html = readFileSync(join(dist, 'index.html'), 'utf8')
  return [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!)
}

const column = (page: Page, name: string) => page.getByRole('region', { name })

describe('the board example in Chromium', () => {
  it('keeps WebRTC and Yjs out of the initial JavaScript', () => {
    const scripts = initialScripts()
    expect(scripts.length).toBeGreaterThan(0)
    for (const script of scripts) {
      const code = readFileSync(join(dist, script), 'utf8')
      expect(code, script).not.toContain('RTCPeerConnection')
      expect(code, script).not.toContain('Yjs was already imported')
    }
  })

  it('shares tasks and descriptions with a Node member over a real relay and WebRTC', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 640 }, colorScheme: 'light' })
    const page = await context.newPage()
    page.on('pageerror', (e) => {
      throw e
    })
    const requests: string[] = []
    page.on('request', (r) => void requests.push(r.url()))
    await page.goto(`${server.url}?relay=${encodeURIComponent(relay.url)}&key=${relay.relayKey}`)
    // Online, and linked to the Node member over WebRTC.
    await page.getByRole('status').filter({ hasText: 'online · 1 peer over WebRTC' }).waitFor(SEEN)

    // Browser -> Node.
    const add = page.getByRole('form', { name: 'Add a task' })
    await add.getByLabel('New task').fill('Written in Chromium')
    await add.getByLabel('Assignee').fill('ann')
    await add.getByRole('button', { name: 'Add' }).click()
    await until(
      () => node.board.tasks().some((t) => t.title === 'Written in Chromium' && t.assignee === 'ann'),
      "the browser's task on the Node board",
    )
    const fromBrowser = node.board.tasks().find((t) => t.title === 'Written in Chromium')!.id

    // Node -> browser.
    const fromNode = await node.board.add('Written in Node', { status: 'doing', assignee: 'ben' })
    await column(page, 'Doing').getByText('Written in Node').waitFor(SEEN)

    // A move in the browser: before the Node task, in Doing.
    await page.getByRole('button', { name: 'Move "Written in Chromium" to doing' }).click()
    await page.getByRole('button', { name: 'Move "Written in Chromium" up' }).click()
    await until(
      () =>
        node.board
          .columns()
          .doing.map((t) => t.id)
          .join() === [fromBrowser, fromNode].join(),
      'the move on the Node board',
    )

    // The description editor (Yjs documents) loads when a task is opened.
    const lazy = (url: string) => /\/(docs|description-editor)-[^/]+\.js$/.test(url)
    expect(requests.filter(lazy)).toEqual([])
    await page.getByRole('button', { name: 'Written in Node', exact: true }).click()
    const description = page.getByLabel('Description')
    await expect.poll(() => description.isEnabled(), SEEN).toBe(true)
    expect(requests.filter(lazy)).toHaveLength(2)
    await description.pressSequentially('Typed in Chromium.')
    await until(
      async () => (await node.board.description(fromNode)).toString() === 'Typed in Chromium.',
      "the browser's typing in the Node member's description",
    )
    const text = await node.board.description(fromNode)
    text.insert(text.length, ' Then in Node.')
    await expect.poll(() => description.inputValue(), SEEN).toBe('Typed in Chromium. Then in Node.')
    // Two more tasks, so the screenshots show every column.
    await node.board.add('Write the README', { assignee: 'cat' })
    await node.board.add('Try it offline', { status: 'done' })
    await column(page, 'Done').getByText('Try it offline').waitFor(SEEN)
    await page.screenshot({ path: join(SHOTS, 'board-task-light.png') })
    await page.keyboard.press('Escape')
    await page.screenshot({ path: join(SHOTS, 'board-light.png') })

    // Nothing but the page's server and the relay (WebSockets are not requests).
    expect(requests.filter((url) => !url.startsWith(server.url) && !url.startsWith('blob:'))).toEqual([])
    await context.close()
  })
})
