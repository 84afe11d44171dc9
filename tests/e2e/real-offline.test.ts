/**
 * Local-first in real Chromium, against the relay CLI (the `ws` shell: uWS cannot re-bind a
 * port whose sockets are in TIME_WAIT, and the relay is stopped and started again here). The
 * app is served by a plain static server and names the relay with `?relay=`, so the page still
 * loads while the relay is down.
 *
 * - A message written with the relay down shows at once as "Sending…", is still there after a
 *   reload (the persisted outbox), and is stamped once the relay is back.
 * - A reload with the relay stopped renders the stored history (IndexedDB), no network needed.
 * - A write the relay refuses for good shows "Failed — …" with Retry; retried once the relay
 *   allows it, it is stamped.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  composer,
  joinAs,
  messageWith,
  originOf,
  type RealStack,
  SHOTS,
  startRealStack,
} from './real-harness.ts'
import { type StaticServer, serveStatic } from './static-server.ts'

const SEEN = { timeout: 30_000 }
const STORED = ['stored one', 'stored two', 'stored three']

let stack: RealStack | undefined
let site: StaticServer | undefined
/** Whether the relay process is running (a failed test may leave it stopped: the next starts it). */
let relayUp = true

async function stopRelay(): Promise<void> {
  await stack!.relay.kill()
  relayUp = false
}

async function startRelay(args?: string[]): Promise<void> {
  if (relayUp) await stack!.relay.kill()
  await stack!.relay.restart(args)
  relayUp = true
}
beforeAll(async () => {
  stack = await startRealStack({ relayArgs: ['--shell', 'ws', '--quiet'], ownBuild: true })
  site = await serveStatic(stack.dist)
})

afterAll(async () => {
  await site?.close()
  await stack?.stop()
})

const connLabel = (page: Page) => page.locator('.conn').textContent()
const sending = (page: Page, text: string) => messageWith(page, text).getByText('Sending…')

/** Sends `text` and waits until its row is stamped (no longer "Sending…"). */
async function sendStamped(page: Page, text: string): Promise<void> {
  await composer(page).fill(text)
  await composer(page).press('Enter')
  await expect.poll(() => messageWith(page, text).count(), SEEN).toBe(1)
  await expect.poll(() => sending(page, text).count(), SEEN).toBe(0)
}

describe('local-first web app: offline writes, reload without the relay, refusals', () => {
  it('an offline write is pending at once, survives a reload with the relay stopped, and is stamped when it is back', {
    timeout: 240_000,
  }, async () => {
    const { relay } = stack!
    if (!relayUp) await startRelay()
    const relayOrigin = relay.appUrl.replace(/\/$/, '')
    const eve = await joinAs(browser(), site!.url, 'Eve', `?relay=${encodeURIComponent(relayOrigin)}`)
    for (const text of STORED) await sendStamped(eve, text)

    await stopRelay()
    await expect.poll(() => connLabel(eve), SEEN).not.toContain('online')
    await composer(eve).fill('written while the relay was down')
    await composer(eve).press('Enter')
    // Shown at once, as pending: nothing waits for the relay.
    await expect.poll(() => sending(eve, 'written while the relay was down').count(), SEEN).toBe(1)
    await eve.screenshot({ path: `${SHOTS}real-offline-pending-light.png` })

    // A reload with the relay still stopped: the stored history and the pending write render
    // from this device's storage.
    await eve.reload()
    await eve.getByRole('log', { name: 'Messages in general' }).waitFor(SEEN)
    for (const text of STORED) await expect.poll(() => messageWith(eve, text).count(), SEEN).toBe(1)
    await expect.poll(() => sending(eve, 'written while the relay was down').count(), SEEN).toBe(1)
    expect(await connLabel(eve)).not.toContain('online')
    expect(await originOf(eve, STORED[0]!)).toMatch(/✓ author signature.*✓ relay stamp.*from local storage/s)
    await eve.screenshot({ path: `${SHOTS}real-offline-reload-light.png` })

    // The relay is back (same port and key): the client logs in and sends the write (same nonce).
    await startRelay()
    await expect.poll(() => connLabel(eve), SEEN).toContain('online')
    await expect.poll(() => sending(eve, 'written while the relay was down').count(), SEEN).toBe(0)
    // One row, stamped: it carries its relay-assigned id now.
    expect(await messageWith(eve, 'written while the relay was down').count()).toBe(1)
    expect(
      await messageWith(eve, 'written while the relay was down').getAttribute('data-message-id'),
    ).toMatch(/^[0-9A-Z]{26}$/)
    // Still one row after another reload: it was stamped once, and left the outbox.
    await eve.reload()
    await eve.getByRole('log', { name: 'Messages in general' }).waitFor(SEEN)
    await expect.poll(() => messageWith(eve, 'written while the relay was down').count(), SEEN).toBe(1)
    expect(await sending(eve, 'written while the relay was down').count()).toBe(0)
    await eve.context().close()
  })

  it('a refused write shows "Failed" with Retry; retried once allowed, it is stamped', {
    timeout: 240_000,
  }, async () => {
    const { relay } = stack!
    if (!relayUp) await startRelay()
    const relayOrigin = relay.appUrl.replace(/\/$/, '')
    const fay = await joinAs(browser(), site!.url, 'Fay', `?relay=${encodeURIComponent(relayOrigin)}`)
    // Only admins may post now: Fay's message is refused for good.
    await startRelay(['--shell', 'ws', '--quiet', '--post', 'admins'])
    await expect.poll(() => connLabel(fay), SEEN).toContain('online')
    await composer(fay).fill('refused at first')
    await composer(fay).press('Enter')
    const row = messageWith(fay, 'refused at first')
    await expect
      .poll(() => row.getByRole('alert').textContent(), SEEN)
      .toMatch(/Failed — not sent: you may not post/)
    expect(await row.getByText('Sending…').count()).toBe(0)
    await fay.screenshot({ path: `${SHOTS}real-failed-retry-light.png` })

    // Everyone may post again: Retry sends the same signed request, and it is stamped.
    await startRelay()
    await expect.poll(() => connLabel(fay), SEEN).toContain('online')
    await row.getByRole('button', { name: 'Retry' }).click()
    await expect.poll(() => row.getByRole('alert').count(), SEEN).toBe(0)
    await expect.poll(() => row.getByText('Sending…').count(), SEEN).toBe(0)
    expect(await messageWith(fay, 'refused at first').count()).toBe(1)
    expect(await originOf(fay, 'refused at first')).toMatch(/✓ relay stamp/)
    await fay.context().close()
  })
})

const browser = () => stack!.browser
