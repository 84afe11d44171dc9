/**
 * The app opens with no network (issue #17, the service worker): the relay CLI serves the built
 * app and its service worker; with the relay stopped, a reload comes from the worker's cache,
 * shows the stored history and takes a message, which is sent once the relay is back. The relay
 * runs the `ws` shell, which can be stopped and started again on the same port.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composer, joinAs, messageWith, type RealStack, SHOTS, startRealStack } from './real-harness.ts'

const SEEN = { timeout: 30_000 }

let stack: RealStack | undefined
beforeAll(async () => {
  stack = await startRealStack({ relayArgs: ['--shell', 'ws', '--quiet'], ownBuild: true })
})
afterAll(() => stack?.stop())

const sending = (page: Page, text: string) => messageWith(page, text).getByText('Sending…')

describe('an app that opens offline', () => {
  it('reloads from the service worker with the relay stopped: stored history, an offline write sent later', {
    timeout: 180_000,
  }, async () => {
    const { relay } = stack!
    const eve = await joinAs(stack!.browser, relay.appUrl, 'Eve')
    await composer(eve).fill('stored before going offline')
    await composer(eve).press('Enter')
    await expect.poll(() => messageWith(eve, 'stored before going offline').count(), SEEN).toBe(1)
    await expect.poll(() => sending(eve, 'stored before going offline').count(), SEEN).toBe(0)
    // The worker installed (every file of the build cached) and controls the page.
    await expect
      .poll(() => eve.evaluate(() => navigator.serviceWorker.controller?.state ?? 'none'), SEEN)
      .toBe('activated')

    await relay.kill()
    try {
      // Nothing answers on the relay's port now: the page comes from the worker's cache.
      const response = await eve.reload()
      expect(response?.fromServiceWorker()).toBe(true)
      await eve.getByRole('log', { name: 'Messages in general' }).waitFor(SEEN)
      await expect.poll(() => messageWith(eve, 'stored before going offline').count(), SEEN).toBe(1)
      expect(await eve.locator('.conn').textContent()).not.toContain('online')
      await composer(eve).fill('written with no network')
      await composer(eve).press('Enter')
      await expect.poll(() => sending(eve, 'written with no network').count(), SEEN).toBe(1)
      await eve.screenshot({ path: `${SHOTS}pwa-offline.png` })
    } finally {
      await relay.restart()
    }
    await expect.poll(() => eve.locator('.conn').textContent(), SEEN).toContain('online')
    await expect.poll(() => sending(eve, 'written with no network').count(), SEEN).toBe(0)
    await eve.context().close()
  })
})
