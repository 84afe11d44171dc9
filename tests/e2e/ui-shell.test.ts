/**
 * The web app shell in real Chromium, on the simulated network: first run, sending, replies,
 * edits, reactions, theme, phone layout, virtualization — with screenshots of the main views
 * (tests/e2e/screenshots/, gitignored).
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.ts'
import { buildUi, DIST_DIR } from './build.ts'
import { type StaticServer, serveStatic } from './static-server.ts'

const SHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url))
const DESKTOP = { width: 1280, height: 800 }
const PHONE = { width: 390, height: 844 }

let server: StaticServer
let browser: Browser

beforeAll(async () => {
  buildUi()
  mkdirSync(SHOTS, { recursive: true })
  server = await serveStatic(DIST_DIR)
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

/** A fresh profile (own localStorage) on a quiet simulated network. */
async function openApp(query: string, viewport = DESKTOP): Promise<Page> {
  const context = await browser.newContext({ viewport, colorScheme: 'light' })
  const page = await context.newPage()
  page.on('pageerror', (e) => {
    throw e
  })
  await page.goto(`${server.url}?${query}`)
  return page
}

async function createIdentity(page: Page, name: string): Promise<void> {
  await page.getByLabel('Display name').fill(name)
  await page.getByRole('button', { name: 'Create my key and start' }).click()
  await page.getByRole('log', { name: 'Messages in general' }).waitFor()
}

/** The newest row is fully in view (the list sticks to the bottom while the user is there). */
async function expectNewestInView(page: Page): Promise<void> {
  await expect
    .poll(() =>
      page.evaluate(() => {
        const list = document.querySelector('.vlist')!.getBoundingClientRect()
        const rows = document.querySelectorAll('.vlist-row')
        const last = rows[rows.length - 1]!.getBoundingClientRect()
        return last.bottom <= list.bottom + 1
      }),
    )
    .toBe(true)
}

const composer = (page: Page) => page.getByRole('textbox', { name: 'Message #general' })
const lastMessage = (page: Page) => page.locator('article.msg').last()

describe('web app shell (simulated network)', () => {
  it('first run creates a key, sends a message, switches theme and adapts to a phone', async () => {
    const page = await openApp('history=400&activity=0&seed=3')
    const foreign: string[] = []
    page.on('request', (r) => {
      if (!r.url().startsWith(server.url) && !/^(data|blob):/.test(r.url())) foreign.push(r.url())
    })
    await expect(page.getByRole('heading', { name: 'Welcome to peerchat' }).isVisible()).resolves.toBe(true)
    await page.screenshot({ path: `${SHOTS}welcome-light.png` })
    await createIdentity(page, 'Tess')

    // The key is kept (for now) in localStorage, in the engine's export format.
    const stored = await page.evaluate(() => localStorage.getItem('peerchat.identity.v1'))
    expect(JSON.parse(stored!).secret).toMatch(/^peerchat-secret-key-v1\./)

    await composer(page).fill('hello from the browser test')
    await composer(page).press('Enter')
    await expect
      .poll(() => lastMessage(page).textContent(), { timeout: 10_000 })
      .toContain('hello from the browser test')
    // Stamped by the (simulated) relay: the pending state goes away.
    await expect.poll(() => lastMessage(page).getByText('Sending…').count(), { timeout: 10_000 }).toBe(0)
    await expect(composer(page).inputValue()).resolves.toBe('')
    await expectNewestInView(page)
    await page.screenshot({ path: `${SHOTS}desktop-light.png` })

    await page.getByRole('button', { name: 'Switch to dark theme' }).click()
    await expect(page.evaluate(() => document.documentElement.dataset.theme)).resolves.toBe('dark')
    await page.screenshot({ path: `${SHOTS}desktop-dark.png` })

    // The trust & sync panel, opened and closed with the keyboard; the simulation says what it is.
    await page.getByRole('button', { name: 'Trust and sync status' }).focus()
    await page.keyboard.press('Enter')
    const status = page.getByRole('dialog', { name: 'Trust & sync status' })
    await expect.poll(() => status.textContent()).toContain('simulated network')
    await expect
      .poll(() => status.getByRole('table', { name: /^History/ }).textContent())
      .toContain('#general')
    // The simulation has no mesh: voice is not offered.
    expect(await page.getByRole('button', { name: /voice/ }).count()).toBe(0)
    await page.screenshot({ path: `${SHOTS}status-dark.png` })
    await page.keyboard.press('Escape')
    await expect.poll(() => status.count()).toBe(0)

    await page.setViewportSize(PHONE)
    await expect(page.locator('#channels').isVisible()).resolves.toBe(false)
    await page.screenshot({ path: `${SHOTS}phone-dark.png` })
    await page.getByRole('button', { name: 'Channels' }).click()
    await expect(page.locator('#channels').isVisible()).resolves.toBe(true)
    await page.screenshot({ path: `${SHOTS}phone-drawer-dark.png` })
    await page.keyboard.press('Escape')
    await expect(page.locator('#channels').isVisible()).resolves.toBe(false)

    await page.getByRole('button', { name: 'Switch to light theme' }).click()
    await page.screenshot({ path: `${SHOTS}phone-light.png` })
    // Nothing was fetched from anywhere but the server of the app (no CDN fonts or scripts).
    expect(foreign).toEqual([])
    await page.context().close()
  })

  it('exports the key behind a warning and imports it in another profile as the same identity', async () => {
    const page = await openApp('history=20&activity=0&seed=6')
    await createIdentity(page, 'Wren')
    await page.getByRole('button', { name: 'Your key and name' }).click()
    const dialog = page.getByRole('dialog', { name: 'Your key' })
    await expect(dialog.getByRole('note').textContent()).resolves.toContain('Keep your secret key private')
    await dialog.getByRole('button', { name: 'Show secret key' }).click()
    const secret = await dialog.getByRole('textbox', { name: 'Secret key' }).inputValue()
    expect(secret).toMatch(/^peerchat-secret-key-v1\./)
    const publicId = await dialog.locator('code.id').textContent()
    await page.screenshot({ path: `${SHOTS}key-dialog-light.png` })
    await page.keyboard.press('Escape')
    await page.context().close()

    const other = await openApp('history=20&activity=0&seed=6')
    await other.getByRole('button', { name: 'I already have a key' }).click()
    await other.getByRole('textbox', { name: 'Secret key' }).fill(`${secret.slice(0, -3)}AAA`)
    await other.getByLabel('Display name').fill('Wren')
    await other.getByRole('button', { name: 'Import key' }).click()
    await expect.poll(() => other.getByRole('alert').textContent()).toMatch(/corrupted|invalid|non-canonical/)
    await other.getByRole('textbox', { name: 'Secret key' }).fill(secret)
    await other.getByRole('button', { name: 'Import key' }).click()
    await other.getByRole('log', { name: 'Messages in general' }).waitFor()
    await other.getByRole('button', { name: 'Your key and name' }).click()
    await expect(other.locator('dialog code.id').textContent()).resolves.toBe(publicId)
    await other.context().close()
  })

  it('moves between channels with Alt+Arrow keys and shows unread counts', async () => {
    const page = await openApp('history=30&activity=0&seed=8')
    await createIdentity(page, 'Xan')
    // Unread counts come from a background scan of the store after the first page: wait for them.
    await expect.poll(() => page.getByRole('button', { name: /^design, \d+ unread/ }).count()).toBe(1)
    await composer(page).press('Alt+ArrowDown')
    await page.getByRole('log', { name: 'Messages in dev' }).waitFor()
    await expect(
      page.getByRole('button', { name: 'dev', exact: true }).getAttribute('aria-current'),
    ).resolves.toBe('page')
    await page.keyboard.press('Alt+ArrowUp')
    await page.getByRole('log', { name: 'Messages in general' }).waitFor()
    await page.context().close()
  })

  it('composer: Shift+Enter adds a line, Up edits the last message, replies and reactions', async () => {
    const page = await openApp('history=50&activity=0&seed=4')
    await createIdentity(page, 'Uma')

    await composer(page).click()
    await page.keyboard.type('first line')
    await page.keyboard.press('Shift+Enter')
    await page.keyboard.type('second line')
    await page.keyboard.press('Enter')
    await expect.poll(() => lastMessage(page).textContent()).toContain('first line\nsecond line')
    await expect.poll(() => lastMessage(page).getByText('Sending…').count()).toBe(0)

    await page.keyboard.press('ArrowUp')
    await expect(composer(page).inputValue()).resolves.toBe('first line\nsecond line')
    await composer(page).fill('edited text')
    await page.keyboard.press('Enter')
    await expect.poll(() => lastMessage(page).textContent()).toContain('edited text (edited)')

    await lastMessage(page).hover()
    await lastMessage(page).getByRole('button', { name: 'Reply' }).click()
    await page.keyboard.type('a reply')
    await page.keyboard.press('Enter')
    await expect.poll(() => lastMessage(page).textContent()).toContain('a reply')
    await expect(lastMessage(page).locator('.quote').textContent()).resolves.toContain('edited text')
    // Trust details of the reply (a reply always has a header): both signatures re-verified in
    // the page, delivered by the relay.
    await lastMessage(page)
      .getByRole('button', { name: /show verification/ })
      .click()
    await expect
      .poll(() => lastMessage(page).locator('.panel').textContent())
      .toMatch(/✓ author signature.*✓ relay stamp.*from the relay/)

    await lastMessage(page).hover()
    await lastMessage(page).getByRole('button', { name: 'Add reaction' }).click()
    await lastMessage(page).getByRole('button', { name: 'React 🎉' }).click()
    await expect.poll(() => lastMessage(page).locator('.chip.mine').textContent()).toContain('🎉')
    // As the admin of this (simulated) community I may delete someone else's message.
    const theirs = page.locator('article.msg:not(.grouped)').filter({ hasNotText: 'Uma' }).last()
    const theirId = await theirs.getAttribute('data-message-id')
    await theirs.hover()
    await theirs.getByRole('button', { name: 'Delete' }).click()
    await expect
      .poll(() => page.locator(`article[data-message-id="${theirId}"]`).textContent())
      .toContain('Message deleted')
    await composer(page).click()
    await page.keyboard.type('typing a draft')
    await page.screenshot({ path: `${SHOTS}conversation-light.png` })
    await page.context().close()
  })

  it('offline: a sent message stays pending in the outbox and goes out on reconnect', async () => {
    const page = await openApp('history=20&activity=0&seed=12')
    await createIdentity(page, 'Olu')
    await page.getByRole('button', { name: /Simulate losing the network/ }).click()
    await expect.poll(() => page.locator('.conn').textContent()).toContain('offline')
    await composer(page).fill('sent while offline')
    await composer(page).press('Enter')
    await expect.poll(() => lastMessage(page).textContent()).toContain('sent while offline')
    await page.waitForTimeout(300)
    await expect(lastMessage(page).getByText('Sending…').count()).resolves.toBe(1)
    await expectNewestInView(page)
    await page.screenshot({ path: `${SHOTS}offline-outbox-light.png` })
    await page.getByRole('button', { name: /Simulate getting the network back/ }).click()
    await expect.poll(() => lastMessage(page).getByText('Sending…').count()).toBe(0)
    await expect(lastMessage(page).textContent()).resolves.toContain('sent while offline')
    await page.context().close()
  })

  it('is alive: simulated peers type and post, and their messages appear', async () => {
    const page = await openApp('history=20&activity=250&peers=3&seed=9')
    await createIdentity(page, 'Yara')
    const before = await page.locator('article.msg').count()
    await expect
      .poll(() => page.locator('.typing').textContent(), { timeout: 15_000 })
      .toMatch(/is typing|are typing/)
    await expect.poll(() => page.locator('article.msg').count(), { timeout: 15_000 }).toBeGreaterThan(before)
    await page.context().close()
  })

  it('scrolling back past the local history shows the loading state while a peer serves it', async () => {
    const page = await openApp('history=800&local=120&peerDelay=1500&activity=0&seed=10&page=100')
    await createIdentity(page, 'Zed')
    const log = page.getByRole('log', { name: 'Messages in general' })
    const edge = page.locator('.edge')
    let sawLoading = false
    for (let i = 0; i < 20 && !sawLoading; i++) {
      await log.evaluate((el) => {
        el.scrollTop = 0
      })
      await page.waitForTimeout(100)
      sawLoading =
        ((await edge.count()) > 0 &&
          (await edge.textContent())?.includes('Loading older messages from peers')) === true
    }
    expect(sawLoading).toBe(true)
    await page.screenshot({ path: `${SHOTS}loading-from-peers-light.png` })
    await page.context().close()
  })

  it('shows a channel of 10,000 messages with a few dozen rows in the DOM and scrolls back through pages', async () => {
    const page = await openApp('history=10000&activity=0&seed=5')
    await createIdentity(page, 'Vic')
    const rowsInDom = () => page.locator('.vlist-row').count()
    await expect.poll(rowsInDom).toBeGreaterThan(5)
    expect(await rowsInDom()).toBeLessThan(120)

    // Scroll to the top repeatedly: older pages load, the DOM stays small.
    const log = page.getByRole('log', { name: 'Messages in general' })
    for (let i = 0; i < 6; i++) {
      await log.evaluate((el) => {
        el.scrollTop = 0
      })
      await page.waitForTimeout(150)
    }
    const loaded = await page.locator('.vlist-spacer').evaluate((el) => el.getBoundingClientRect().height)
    expect(loaded).toBeGreaterThan(100_000)
    expect(await rowsInDom()).toBeLessThan(120)
    await page.context().close()
  })
})
