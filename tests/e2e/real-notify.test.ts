/**
 * Notifications (issue #17, first part) in real Chromium on the relay CLI: with notifications
 * allowed and the tab hidden, a message mentioning Ann raises a desktop notification naming its
 * author and channel; a muted channel raises none; the tab's title carries the unread count.
 * Chromium headless cannot show notifications, so the page records what it constructs (the real
 * `Notification`, wrapped), and the tab is made hidden through `document.visibilityState`.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composer, joinAs, messageWith, type RealStack, startRealStack } from './real-harness.ts'

const SEEN = { timeout: 30_000 }

/** Records every notification the app creates, and lets the test hide the tab. */
const RECORD_NOTIFICATIONS = `
  window.__notes = []
  window.__hidden = false
  const Real = window.Notification
  class Recording extends Real {
    constructor(title, options) {
      super(title, options)
      window.__notes.push({ title, body: options && options.body })
    }
  }
  Object.defineProperty(window, 'Notification', { value: Recording, configurable: true })
  Object.defineProperty(Document.prototype, 'visibilityState', {
    get: () => (window.__hidden ? 'hidden' : 'visible'),
    configurable: true,
  })
`

let stack: RealStack | undefined
beforeAll(async () => {
  stack = await startRealStack()
})
afterAll(() => stack?.stop())

const notes = (page: Page) =>
  page.evaluate(() => (window as unknown as { __notes: { title: string; body: string }[] }).__notes)
const hide = (page: Page, hidden: boolean) =>
  page.evaluate((h) => {
    ;(window as unknown as { __hidden: boolean }).__hidden = h
  }, hidden)

async function send(page: Page, text: string): Promise<void> {
  await composer(page).fill(text)
  await composer(page).press('Enter')
  await expect.poll(() => messageWith(page, text).count(), SEEN).toBe(1)
}

describe('notifications', () => {
  it('a mention in a hidden tab raises a notification, a muted channel none', {
    timeout: 180_000,
  }, async () => {
    const { relay, browser } = stack!
    const ann = await joinAs(browser, relay.appUrl, 'Ann', '', { initScript: RECORD_NOTIFICATIONS })
    await ann.context().grantPermissions(['notifications'], { origin: new URL(relay.appUrl).origin })
    const ben = await joinAs(browser, relay.appUrl, 'Ben')
    // Ann's profile (her name) must reach Ben's page before he can mention her by it.
    await expect.poll(() => ben.locator('.people-list').textContent(), SEEN).toContain('Ann')

    await hide(ann, true)
    await send(ben, '@Ann the room is booked')
    await expect
      .poll(() => notes(ann), SEEN)
      .toEqual([{ title: 'Ben in #general', body: '@Ann the room is booked' }])
    await send(ben, 'no mention here')

    // Muted: the bell of #general (permission is granted, so it mutes).
    await ann.getByRole('button', { name: 'Mute #general' }).click()
    await send(ben, '@Ann while muted')
    await ann.getByRole('button', { name: 'Unmute #general' }).click()
    await send(ben, '@Ann after unmuting')
    await expect
      .poll(async () => (await notes(ann)).map((n) => n.body), SEEN)
      .toEqual(['@Ann the room is booked', '@Ann after unmuting'])

    // The tab's title carries the unread count (what counts as read is the channel view's call).
    expect(await ann.title()).toMatch(/^\([1-9]\d*\) peerchat$/)
    await hide(ann, false)
    await ann.context().close()
    await ben.context().close()
  })
})
