/**
 * Media on the real network, in real Chromium: the relay CLI serves the built app; Ann shares a
 * 1.3 MB PNG from the composer's file picker; Ben and Cat see its thumbnail, then the full image
 * pulled over WebRTC from the others (byte-identical: SHA-256 of what their <img> shows), while the
 * relay's byte counters grow by a small fraction of the image (it stamps the metadata only).
 * A lightbox opens and closes with the keyboard; an SVG dropped on the composer is a file card
 * that downloads byte-identical; a file over 25 MB is refused with a clear error; a reload of Ben,
 * with nobody else online, shows the image from IndexedDB. A new profile that gets the history
 * pulls the image only when it scrolls into view, showing the thumbnail meanwhile.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { relayTraffic } from '../peer/scenario.ts'
import { noisePng } from './png.ts'
import {
  composer,
  joinAs,
  messageWith,
  type RealRelay,
  type RealStack,
  SHOTS,
  shownDigest,
  startRealStack,
} from './real-harness.ts'

const SEEN = { timeout: 15_000 }
const FETCHED = { timeout: 60_000 }

let relay: RealRelay
let browser: Browser

let stack: RealStack | undefined
beforeAll(async () => {
  stack = await startRealStack()
  ;({ relay, browser } = stack)
})

afterAll(() => stack?.stop())

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

const relayBytes = () => relayTraffic(relay.process)

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><script>alert(1)</script><circle cx="32" cy="32" r="30" fill="teal"/></svg>`

/** Drops a file on the composer (the drop target is the whole chat), as a drag from the desktop would. */
async function dropFile(page: Page, name: string, type: string, text: string): Promise<void> {
  await page.evaluate(
    ([name, type, text]) => {
      const dt = new DataTransfer()
      dt.items.add(new File([text], name, { type }))
      const form = document.querySelector('form.composer')!
      form.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }))
      form.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
    },
    [name, type, text] as const,
  )
}

describe('media on the real relay and WebRTC mesh', () => {
  it('an image reaches two browsers peer to peer, byte-identical, without the relay carrying it', async () => {
    const ann = await joinAs(browser, relay.appUrl, 'Ann')
    const ben = await joinAs(browser, relay.appUrl, 'Ben')
    const cat = await joinAs(browser, relay.appUrl, 'Cat')
    const all = [ann, ben, cat]
    for (const page of all)
      await expect
        .poll(() => page.locator('.people-list .member:not(.away) .name').count(), SEEN)
        .toBeGreaterThanOrEqual(3)

    const png = noisePng(800, 600, 7)
    const digest = sha256(png)
    const before = await relayBytes()
    await ann
      .getByTestId('attach-input')
      .setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: png })

    // Everyone shows the full image once its digest verified; the thumbnail came in the event.
    for (const page of all) await expect.poll(() => page.locator('img.full').count(), FETCHED).toBe(1)
    for (const page of [ben, cat]) expect(await shownDigest(page)).toBe(digest)
    // The event carried a small inline thumbnail (a canvas re-encoding), shown until then.
    const thumbBytes = Number(await ben.locator('.tile').getAttribute('data-thumbnail-bytes'))
    expect(thumbBytes).toBeGreaterThan(0)
    expect(thumbBytes).toBeLessThanOrEqual(8 * 1024)
    await expect.poll(() => ann.locator('.share').textContent(), FETCHED).toMatch(/Shared with 2 peers/)
    const carried = (await relayBytes()) - before
    console.log(
      `real-media: image ${png.length} bytes reached 2 browsers; relay bytes in+out+forwarded grew by ${carried}`,
    )
    // The relay stamped and fanned out the attachment event (thumbnail included), nothing more:
    // two copies of the image would be 2.7 MB.
    expect(carried).toBeLessThan(png.length / 10)
    await ann.screenshot({ path: `${SHOTS}real-media-image-light.png` })

    // The trust & sync panel counts the attachment bytes that came from peers.
    await ben.getByRole('button', { name: 'Trust and sync status' }).click()
    const panel = ben.getByRole('dialog', { name: 'Trust & sync status' })
    await expect
      .poll(() => panel.locator('section', { hasText: 'Attachments (peer to peer)' }).textContent(), SEEN)
      .toMatch(/1 file, 1\.3 MB.*1\.3 MB received \(1 verified\)/s)
    await ben.screenshot({ path: `${SHOTS}real-media-status-light.png` })
    await ben.keyboard.press('Escape')
    await panel.waitFor({ state: 'detached' })

    // The lightbox: opened from the image, closed by Escape, focus back on the image.
    const open = ben.getByRole('button', { name: 'Open image gradient.png' })
    await open.click()
    const box = ben.getByRole('dialog', { name: 'Image gradient.png' })
    await box.waitFor()
    await ben.screenshot({ path: `${SHOTS}real-media-lightbox-light.png` })
    await ben.keyboard.press('Escape')
    await box.waitFor({ state: 'detached' })
    expect(await ben.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(
      'Open image gradient.png',
    )

    // SVG is active content: a file card (never an inline image), downloaded byte-identical.
    await dropFile(cat, 'drawing.svg', 'image/svg+xml', SVG)
    const card = ann.locator('.card', { hasText: 'drawing.svg' })
    await card.waitFor(FETCHED)
    expect(await ann.locator('img.full').count()).toBe(1)
    const [download] = await Promise.all([
      ann.waitForEvent('download', FETCHED),
      card.getByRole('button', { name: /Download drawing\.svg/ }).click(),
    ])
    expect(download.suggestedFilename()).toBe('drawing.svg')
    expect(readFileSync(await download.path()).toString()).toBe(SVG)
    // A file on the clipboard, pasted into the composer, is shared too.
    await composer(ben).evaluate((el) => {
      const dt = new DataTransfer()
      dt.items.add(new File(['meeting notes'], 'notes.txt', { type: 'text/plain' }))
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
    })
    await ann.locator('.card', { hasText: 'notes.txt' }).waitFor(FETCHED)
    expect(await composer(ben).inputValue()).toBe('')
    await ann.screenshot({ path: `${SHOTS}real-media-file-light.png` })

    // Dark theme views.
    await ben.emulateMedia({ colorScheme: 'dark' })
    await ben.locator('.card', { hasText: 'drawing.svg' }).waitFor(FETCHED)
    await ben.screenshot({ path: `${SHOTS}real-media-image-dark.png` })
    await open.click()
    await box.waitFor()
    await ben.screenshot({ path: `${SHOTS}real-media-lightbox-dark.png` })
    await ben.keyboard.press('Escape')
    await box.waitFor({ state: 'detached' })
    await ben.setViewportSize({ width: 390, height: 844 })
    await ben.screenshot({ path: `${SHOTS}real-media-phone-dark.png` })
    await ben.setViewportSize({ width: 1280, height: 800 })

    // Over the cap: refused before anything is stored or posted.
    await cat.getByTestId('attach-input').setInputFiles({
      name: 'huge.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(25 * 1024 * 1024 + 1),
    })
    await expect
      .poll(() => cat.locator('.composer [role=alert]').textContent(), SEEN)
      .toMatch(/huge\.bin is too large to share .*files are limited to 25 MB/)
    await cat.screenshot({ path: `${SHOTS}real-media-too-large-light.png` })

    // Alone, Ben reloads: the image comes from IndexedDB (nobody else could serve it).
    await ann.context().close()
    await cat.context().close()
    await ben.reload()
    await ben.getByRole('log', { name: 'Messages in general' }).waitFor()
    await expect.poll(() => ben.locator('img.full').count(), FETCHED).toBe(1)
    expect(await shownDigest(ben)).toBe(digest)

    // Lazy pull: Ben chats on, so the image is far above the newest messages. A new profile, Dan,
    // gets the history from Ben but not the image, which is not in view. Ben leaves; Dan scrolls
    // up: the thumbnail shows while Dan looks for a peer that has the image; Ben comes back and
    // Dan gets it from him.
    for (let i = 1; i <= 50; i++) {
      await composer(ben).fill(`line ${i} after the picture`)
      await composer(ben).press('Enter')
    }
    await expect.poll(() => messageWith(ben, 'line 50 after').count(), SEEN).toBe(1)
    const dan = await joinAs(browser, relay.appUrl, 'Dan')
    await expect.poll(() => messageWith(dan, 'line 50 after').count(), FETCHED).toBe(1)
    expect(await dan.locator('img.full').count()).toBe(0)
    await ben.goto('about:blank')
    await dan.getByRole('log', { name: 'Messages in general' }).evaluate((el) => {
      el.scrollTop = 0
    })
    const tile = dan.locator(`[data-digest="${digest}"]`)
    await expect
      .poll(() => tile.locator('.overlay').textContent(), FETCHED)
      .toContain('Looking for a peer that has it')
    expect(await tile.locator('img.thumb').count()).toBe(1)
    await dan.screenshot({ path: `${SHOTS}real-media-thumbnail-light.png` })
    await ben.goto(relay.appUrl)
    await expect.poll(() => dan.locator('img.full').count(), FETCHED).toBe(1)
    expect(await shownDigest(dan)).toBe(digest)
    await dan.context().close()
    await ben.context().close()
  })
})
