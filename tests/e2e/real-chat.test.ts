/**
 * The web app on the real network, in real Chromium: the relay CLI (a child process) serves the
 * built app and stamps; three browser contexts, each with its own key, chat, reply, react and
 * edit, and each sees the others. Then a brand-new fourth profile gets the earlier history from
 * the other browsers over WebRTC: the relay keeps no history, so nothing else could supply it,
 * and the trust panel says which peer and link it came from. A reload restores history from
 * IndexedDB.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  composer,
  joinAs,
  messageWith,
  type RealRelay,
  type RealStack,
  SHOTS,
  startRealStack,
} from './real-harness.ts'

const SEEN = { timeout: 15_000 }

let relay: RealRelay
let browser: Browser

let stack: RealStack | undefined
beforeAll(async () => {
  stack = await startRealStack()
  ;({ relay, browser } = stack)
})

afterAll(() => stack?.stop())

async function send(page: Page, text: string): Promise<void> {
  await composer(page).fill(text)
  await composer(page).press('Enter')
  await expect.poll(() => messageWith(page, text).count(), SEEN).toBe(1)
}

/** The trust panel of the message containing `text` (the first row of its author group). */
async function trustOf(page: Page, text: string): Promise<string> {
  const row = messageWith(page, text)
  await row.getByRole('button', { name: /show verification/ }).click()
  const panel = row.locator('.panel')
  await expect.poll(() => panel.textContent(), SEEN).toMatch(/from /)
  return (await panel.textContent()) ?? ''
}

describe('web app on the real relay and WebRTC mesh', () => {
  it('three browsers chat, reply, react and edit; a fourth gets the history from peers', async () => {
    const ann = await joinAs(browser, relay.appUrl, 'Ann')
    const ben = await joinAs(browser, relay.appUrl, 'Ben')
    const cat = await joinAs(browser, relay.appUrl, 'Cat')
    const all = [ann, ben, cat]

    // Presence comes from the relay's signed attestations, names from profile events.
    for (const page of all)
      await expect
        .poll(() => page.locator('.people-list .member:not(.away) .name').allTextContents(), SEEN)
        .toEqual(
          expect.arrayContaining([
            expect.stringContaining('Ann'),
            expect.stringContaining('Ben'),
            expect.stringContaining('Cat'),
          ]),
        )

    // Typing hints travel by WebRTC awareness (hints only: shown for keys the relay has online).
    await composer(ann).fill('hello from')
    await expect.poll(() => ben.locator('.typing').textContent(), SEEN).toContain('Ann is typing')
    await composer(ann).fill('')
    await expect.poll(() => ben.locator('.typing').textContent(), SEEN).toBe('')

    await send(ann, 'hello from Ann')
    await send(ben, 'hi Ann, Ben here')
    await send(cat, 'Cat says hello')
    for (const page of all)
      for (const text of ['hello from Ann', 'hi Ann, Ben here', 'Cat says hello'])
        await expect.poll(() => messageWith(page, text).count(), SEEN).toBe(1)
    // Authors are shown by their profile names.
    await expect
      .poll(() => messageWith(ben, 'hello from Ann').locator('.author').textContent(), SEEN)
      .toBe('Ann')

    // Ben replies to Ann's message.
    const annOnBen = messageWith(ben, 'hello from Ann')
    await annOnBen.hover()
    await annOnBen.getByRole('button', { name: 'Reply' }).click()
    await ben.keyboard.type('a reply to Ann')
    await ben.keyboard.press('Enter')
    for (const page of all)
      await expect
        .poll(() => messageWith(page, 'a reply to Ann').locator('.quote').textContent(), SEEN)
        .toContain('hello from Ann')

    // Cat reacts to Ann's message.
    const annOnCat = messageWith(cat, 'hello from Ann')
    await annOnCat.hover()
    await annOnCat.getByRole('button', { name: 'Add reaction' }).click()
    await annOnCat.getByRole('button', { name: 'React 🎉' }).click()
    for (const page of all)
      await expect
        .poll(() => messageWith(page, 'hello from Ann').locator('.chip').textContent(), SEEN)
        .toContain('🎉')

    // Ann edits her message (Up in the empty composer edits the last own message).
    await composer(ann).click()
    await ann.keyboard.press('ArrowUp')
    await expect(composer(ann).inputValue()).resolves.toBe('hello from Ann')
    await composer(ann).fill('hello from Ann, edited')
    await composer(ann).press('Enter')
    for (const page of all)
      await expect
        .poll(() => messageWith(page, 'hello from Ann, edited').textContent(), SEEN)
        .toContain('(edited)')

    // Live messages arrive through the relay; both signatures verify in the page.
    expect(await trustOf(ben, 'Cat says hello')).toMatch(/✓ author signature.*✓ relay stamp.*from the relay/s)
    // What arrives while the newest row is in view is read: no unread badge on the open channel.
    for (const page of all)
      await expect
        .poll(() => page.getByRole('button', { name: /^general, \d+ unread/ }).count(), SEEN)
        .toBe(0)
    await ben.screenshot({ path: `${SHOTS}real-chat-light.png` })

    // A brand-new profile: the relay holds no history, the other browsers serve it.
    const dan = await joinAs(browser, relay.appUrl, 'Dan')
    for (const text of ['hello from Ann, edited', 'hi Ann, Ben here', 'Cat says hello', 'a reply to Ann'])
      await expect.poll(() => messageWith(dan, text).count(), SEEN).toBe(1)
    await expect
      .poll(() => messageWith(dan, 'hello from Ann').locator('.chip').textContent(), SEEN)
      .toContain('🎉')
    const origin = await trustOf(dan, 'Cat says hello')
    expect(origin).toMatch(/✓ author signature.*✓ relay stamp/s)
    // Served by one of the three others, over a WebRTC data channel (not the relay's forwarding).
    expect(origin).toMatch(/from peer (Ann|Ben|Cat) over webrtc/)
    await dan.screenshot({ path: `${SHOTS}real-history-from-peers-light.png` })

    // A reload restores the history from IndexedDB before any peer is asked.
    await ben.reload()
    await ben.getByRole('log', { name: 'Messages in general' }).waitFor()
    for (const text of ['hello from Ann, edited', 'Cat says hello', 'a reply to Ann'])
      await expect.poll(() => messageWith(ben, text).count(), SEEN).toBe(1)
    expect(await trustOf(ben, 'Cat says hello')).toMatch(/from local storage/)

    for (const page of [...all, dan]) await page.context().close()
  })
})
