/**
 * The real network for browser tests and the latency bench: the relay CLI as a child process
 * serving the built app on a free loopback port, and browser contexts that each create an
 * identity on the page it serves (the app picks the real client from the relay's well-known JSON).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'
import { launchChromium } from './browser.ts'
import { buildUi, DIST_DIR } from './build.ts'

/** Where the browser tests save their screenshots. */
export const SHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url))

export interface RealRelay {
  readonly process: RelayProcess
  /** http://127.0.0.1:PORT/ — the app served by the relay. */
  appUrl: string
  /** Stops the relay process (its port and key are kept for `restart`). */
  kill(): Promise<void>
  /** Starts it again on the same port with the same key (data directory); `args` replace the extra arguments. */
  restart(args?: string[]): Promise<void>
  stop(): Promise<void>
  /**
   * The claim link the relay printed at start (`claim link (…): <url>/#claim=<code>`, printed
   * while the community has no owner); rejects if none shows within `timeoutMs`.
   */
  claimLink(timeoutMs?: number): Promise<string>
}

/** The URL of the relay's start-up claim line in `output`, if it printed one. */
export function claimLinkIn(output: string): string | undefined {
  return /^claim link \([^)]*\): (\S+#claim=[A-Za-z0-9_-]+)$/m.exec(output)?.[1]
}

/**
 * Every browser context connects from 127.0.0.1, so the per-address frame limits (sized for one
 * person per address) are raised; the per-key limits stay at their defaults.
 */
export async function startRealRelay(extra: string[] = [], staticDir = DIST_DIR): Promise<RealRelay> {
  const dataDir = mkdtempSync(join(tmpdir(), 'peerchat-e2e-'))
  const spawnOn = (port: number, args = extra) =>
    spawnRelay([
      '--static-dir',
      staticDir,
      '--data-dir',
      dataDir,
      '--limit',
      'framesPerSecondPerAddress=5000',
      '--limit',
      'frameBurstPerAddress=10000',
      ...(port ? ['--port', String(port)] : []),
      ...args,
    ])
  let current = await spawnOn(0)
  const port = current.port
  return {
    get process() {
      return current
    },
    appUrl: `${current.url.replace(/^ws:/, 'http:')}/`,
    async kill() {
      await current.stop()
    },
    async restart(args?: string[]) {
      current = await spawnOn(port, args)
    },
    async stop() {
      await current.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
    async claimLink(timeoutMs = 5_000) {
      const end = Date.now() + timeoutMs
      for (;;) {
        const link = claimLinkIn(current.output())
        if (link) return link
        if (Date.now() > end) throw new Error(`the relay printed no claim link:\n${current.output()}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
  }
}

export interface JoinOptions {
  /** Import this secret key (text) instead of creating one. */
  secretKey?: string
  /** Script run in the page before the app (e.g. to record RTCPeerConnections). */
  initScript?: string
}

/** A fresh profile on the relay's page; creates (or imports) a key named `name` and waits until online. */
export async function joinAs(
  browser: Browser,
  appUrl: string,
  name: string,
  query = '',
  o: JoinOptions = {},
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })
  if (o.initScript) await context.addInitScript(o.initScript)
  const page = await context.newPage()
  page.on('pageerror', (e) => {
    throw e
  })
  await page.goto(`${appUrl}${query}`)
  if (o.secretKey) {
    await page.getByRole('button', { name: 'I already have a key' }).click()
    await page.getByLabel('Secret key').fill(o.secretKey)
    await page.getByLabel('Display name').fill(name)
    await page.getByRole('button', { name: 'Import key' }).click()
  } else {
    await page.getByLabel('Display name').fill(name)
    await page.getByRole('button', { name: 'Create my key and start' }).click()
  }
  await page.getByRole('log', { name: 'Messages in general' }).waitFor({ timeout: 30_000 })
  await page.locator('.conn.online').waitFor({ timeout: 30_000 })
  return page
}

export const composer = (page: Page, channel = 'general') =>
  page.getByRole('textbox', { name: `Message #${channel}` })

/** The message row whose own text (not a quoted reply) contains `text`. */
export const messageWith = (page: Page, text: string) =>
  page.locator('article.msg').filter({ has: page.locator('p.text', { hasText: text }) })

/** Where the app says the row with `text` came from: the text of its verification panel. */
export async function originOf(page: Page, text: string): Promise<string> {
  const row = messageWith(page, text)
  await row.getByRole('button', { name: /show verification/ }).click()
  const panel = row.locator('.panel')
  await panel.filter({ hasText: /from / }).waitFor({ timeout: 30_000 })
  const origin = (await panel.textContent()) ?? ''
  await row.getByRole('button', { name: /verification/ }).click()
  return origin
}

export interface RealStack {
  relay: RealRelay
  browser: Browser
  /** The built app the relay serves. */
  dist: string
  stop(): Promise<void>
}

/**
 * What a browser test file starts first: the app built (into a directory of its own with
 * `ownBuild`, so that other files' builds never replace what its relay serves), the relay CLI
 * serving it with `relayArgs`, and Chromium with `chromiumArgs`.
 */
export async function startRealStack(
  o: { relayArgs?: string[]; ownBuild?: boolean; chromiumArgs?: string[] } = {},
): Promise<RealStack> {
  const dist = o.ownBuild ? mkdtempSync(join(tmpdir(), 'peerchat-e2e-dist-')) : DIST_DIR
  buildUi(dist)
  mkdirSync(SHOTS, { recursive: true })
  const relay = await startRealRelay(o.relayArgs, dist)
  const browser = await launchChromium(o.chromiumArgs)
  return {
    relay,
    browser,
    dist,
    async stop() {
      await browser.close()
      await relay.stop()
      if (o.ownBuild) rmSync(dist, { recursive: true, force: true })
    },
  }
}

/** SHA-256 (hex) of the bytes behind the full image shown in the page. */
export function shownDigest(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const img = document.querySelector<HTMLImageElement>('img.full')
    if (!img) throw new Error('no full image')
    const bytes = await (await fetch(img.src)).arrayBuffer()
    const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
    return [...hash].map((b) => b.toString(16).padStart(2, '0')).join('')
  })
}
