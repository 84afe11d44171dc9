/**
 * Profiles on the real network, in real Chromium: the relay CLI serves the app (built into a
 * directory of this file's own, so other browser tests building ui-vue/dist never swap it).
 * Ann picks a picture in her profile dialog; the app resizes it to a 128 px WebP square, pins
 * it as a blob and posts a profile naming its digest. Ben's people list and Ann's message show
 * the picture, fetched peer to peer and verified: the SHA-256 of the bytes behind Ben's <img>
 * equals the digest Ann's page shows; a rename keeps the picture, a reload restores it. The
 * community switcher remembers the relay across a reload, with the relay key pinned at first
 * join; a changed key is a warning until trusted. A page on a plain static server (like the
 * Vite dev server) joins with ?relay= and sees the picture too.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { noisePng } from './png.ts'
import {
  composer,
  joinAs,
  messageWith,
  type RealRelay,
  type RealStack,
  SHOTS,
  startRealStack,
} from './real-harness.ts'
import { serveStatic } from './static-server.ts'

const SEEN = { timeout: 15_000 }
const FETCHED = { timeout: 60_000 }

let relay: RealRelay
let browser: Browser

let stack: RealStack | undefined
beforeAll(async () => {
  stack = await startRealStack({ ownBuild: true })
  ;({ relay, browser } = stack)
})

afterAll(() => stack?.stop())

/** The digest a shown picture claims, and the SHA-256 (hex) of the bytes behind it. */
function shownAvatar(page: Page, scope: string): Promise<{ claimed: string; actual: string; type: string }> {
  return page.evaluate(async (scope) => {
    const img = document.querySelector<HTMLImageElement>(`${scope} img.avatar`)
    if (!img) throw new Error(`no picture in ${scope}`)
    const blob = await (await fetch(img.src)).blob()
    const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()))
    return {
      claimed: img.dataset.avatarDigest ?? '',
      actual: [...hash].map((b) => b.toString(16).padStart(2, '0')).join(''),
      type: blob.type,
    }
  }, scope)
}

const memberRow = (page: Page, name: string) => page.locator('.people-list .member', { hasText: name })

describe('profiles on the real relay and WebRTC mesh', () => {
  it('a picture set by Ann reaches Ben peer to peer, verified; communities are remembered with pinned keys', async () => {
    const ann = await joinAs(browser, relay.appUrl, 'Ann')
    const ben = await joinAs(browser, relay.appUrl, 'Ben')
    for (const page of [ann, ben])
      await expect
        .poll(() => page.locator('.people-list .member:not(.away) .name').count(), SEEN)
        .toBeGreaterThanOrEqual(2)
    await composer(ann).fill('hello with a face')
    await composer(ann).press('Enter')
    await expect.poll(() => messageWith(ben, 'hello with a face').count(), SEEN).toBe(1)

    // Ann picks a 640x400 PNG in her profile dialog.
    await ann.getByRole('button', { name: 'Your key and name' }).click()
    const dialog = ann.getByRole('dialog', { name: 'Your key' })
    await dialog.waitFor()
    await ann
      .getByTestId('avatar-input')
      .setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: noisePng(640, 400, 3) })
    await expect.poll(() => dialog.getByRole('status').textContent(), SEEN).toMatch(/Picture saved/)
    await dialog.locator('img.avatar').waitFor(SEEN)
    const mine = await shownAvatar(ann, 'dialog')
    expect(mine.actual).toBe(mine.claimed)
    expect(mine.type).toMatch(/^image\/(webp|png)$/)
    // Resized to a 128 px square.
    expect(
      await dialog
        .locator('img.avatar')
        .evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]),
    ).toEqual([128, 128])
    await ann.screenshot({ path: `${SHOTS}real-profile-dialog-light.png` })
    await ann.keyboard.press('Escape')
    await dialog.waitFor({ state: 'detached' })

    // Ben fetches it from Ann over WebRTC, checks it, and shows it: same bytes as Ann's.
    await memberRow(ben, 'Ann').locator('img.avatar').waitFor(FETCHED)
    const seen = await shownAvatar(ben, '.people-list .member:has(img.avatar)')
    expect(seen.claimed).toBe(mine.claimed)
    expect(seen.actual).toBe(mine.claimed)
    await messageWith(ben, 'hello with a face').locator('img.avatar').waitFor(SEEN)
    // Ben has no picture: initials.
    expect(await memberRow(ben, 'Ben').locator('img.avatar').count()).toBe(0)
    expect(await memberRow(ben, 'Ben').locator('span.avatar').textContent()).toBe('BE')
    await ben.screenshot({ path: `${SHOTS}real-profile-people-light.png` })
    await ben.emulateMedia({ colorScheme: 'dark' })
    await ben.screenshot({ path: `${SHOTS}real-profile-people-dark.png` })

    // A rename keeps the picture (every profile names it).
    await ann.getByRole('button', { name: 'Your key and name' }).click()
    await dialog.waitFor()
    await dialog.getByLabel('Display name').fill('Ann B')
    await dialog.getByRole('button', { name: 'Save name' }).click()
    await ann.keyboard.press('Escape')
    await expect.poll(() => memberRow(ben, 'Ann B').count(), SEEN).toBe(1)
    expect((await shownAvatar(ben, '.people-list .member:has(img.avatar)')).actual).toBe(mine.claimed)

    // After a reload Ann still has her picture (its reference kept, its bytes pinned locally).
    await ann.reload()
    await ann.locator('.conn.online').waitFor({ timeout: 30_000 })
    await memberRow(ann, 'Ann B').locator('img.avatar').waitFor(SEEN)
    expect((await shownAvatar(ann, '.people-list .member:has(img.avatar)')).actual).toBe(mine.claimed)
    await ann.emulateMedia({ colorScheme: 'dark' })
    await ann.getByRole('button', { name: 'Your key and name' }).click()
    await dialog.waitFor()
    await ann.screenshot({ path: `${SHOTS}real-profile-dialog-dark.png` })
    await ann.keyboard.press('Escape')
    await dialog.waitFor({ state: 'detached' })

    // The community switcher: this relay was remembered at the first join and survives the reload.
    const host = new URL(relay.appUrl).host
    const switcher = ann.getByRole('button', { name: /switch community/ })
    expect(await switcher.textContent()).toContain(host)
    await switcher.click()
    const list = ann.getByRole('list', { name: 'Communities' })
    const here = list.getByRole('link', { name: new RegExp(host.replace(/[.]/g, '\\.')) })
    expect(await here.getAttribute('aria-current')).toBe('page')
    expect(await here.getAttribute('href')).toBe(relay.appUrl)
    const remembered = await ann.evaluate(() =>
      JSON.parse(localStorage.getItem('peerchat.communities.v1') ?? '[]'),
    )
    expect(remembered).toHaveLength(1)
    expect(remembered[0].url).toBe(relay.appUrl.replace(/\/$/, ''))
    await ann.screenshot({ path: `${SHOTS}real-profile-communities-dark.png` })
    await ann.emulateMedia({ colorScheme: 'light' })
    await ann.screenshot({ path: `${SHOTS}real-profile-communities-light.png` })

    // A relay key that differs from the pinned one is a warning, not a silent login.
    await ben.evaluate(() => {
      const list = JSON.parse(localStorage.getItem('peerchat.communities.v1') ?? '[]')
      list[0].relayKey = 'A'.repeat(43)
      localStorage.setItem('peerchat.communities.v1', JSON.stringify(list))
    })
    await ben.reload()
    const warning = ben.getByRole('alert').filter({ hasText: "This community's relay key changed" })
    await warning.waitFor(SEEN)
    expect(await warning.textContent()).toContain('A'.repeat(43))
    expect(await ben.locator('.conn').count()).toBe(0)
    await ben.screenshot({ path: `${SHOTS}real-profile-key-changed-dark.png` })
    await ben.emulateMedia({ colorScheme: 'light' })
    await ben.screenshot({ path: `${SHOTS}real-profile-key-changed-light.png` })
    // Trusting the new key is explicit, and it is pinned from then on.
    await ben.getByRole('button', { name: 'Trust the new key and connect' }).click()
    await ben.locator('.conn.online').waitFor({ timeout: 30_000 })
    const pinned = await ben.evaluate(
      () => JSON.parse(localStorage.getItem('peerchat.communities.v1') ?? '[]')[0].relayKey,
    )
    expect(pinned).not.toBe('A'.repeat(43))
    await ben.reload()
    await ben.locator('.conn.online').waitFor({ timeout: 30_000 })

    // A page not served by a relay (like the Vite dev server) names one with ?relay=: Cat joins
    // the same community from there, sees Ann's picture, and her switcher keeps ?relay= links.
    const dev = await serveStatic(stack!.dist)
    try {
      const origin = relay.appUrl.replace(/\/$/, '')
      const cat = await joinAs(
        browser,
        `${dev.url.replace(/\/?$/, '/')}`,
        'Cat',
        `?relay=${encodeURIComponent(origin)}`,
      )
      await memberRow(cat, 'Ann B').locator('img.avatar').waitFor(FETCHED)
      expect((await shownAvatar(cat, '.people-list .member:has(img.avatar)')).actual).toBe(mine.claimed)
      await cat.getByRole('button', { name: /switch community/ }).click()
      const link = cat.getByRole('list', { name: 'Communities' }).getByRole('link')
      expect(await link.getAttribute('href')).toBe(
        `${dev.url.replace(/\/?$/, '/')}?relay=${encodeURIComponent(origin)}`,
      )
      await cat.context().close()
    } finally {
      await dev.close()
    }

    await ann.context().close()
    await ben.context().close()
  })
})
