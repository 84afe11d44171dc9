/**
 * The member list past the relay's presence head (issue #13), in real Chromium: with
 * `presenceHead=3` and six other sessions in #general, the page lists the head and itself, says
 * how many are online, and "Show more" lists the rest; the button then goes away.
 */
import { join } from 'node:path'
import { Identity, publicKeyFromText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { RelayClient } from '@peerchat/transports'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { joinAs, type RealRelay, type RealStack, SHOTS, startRealStack } from './real-harness.ts'

useNodeCrypto()

const SEEN = { timeout: 20_000 }
const OTHERS = 6

let stack: RealStack | undefined
let relay: RealRelay
let browser: Browser
const clients: RelayClient[] = []

beforeAll(async () => {
  stack = await startRealStack({ relayArgs: ['--limit', 'presenceHead=3'] })
  ;({ relay, browser } = stack)
})

afterAll(async () => {
  for (const c of clients) await c.stop()
  await stack?.stop()
})

describe('member list of a community past the presence head', () => {
  it('shows "N online", the head and itself, and "Show more" lists the others', async () => {
    for (let i = 0; i < OTHERS; i++) {
      const c = new RelayClient({
        url: `${relay.process.url}/relay`,
        identity: await Identity.generate(),
        relayKey: publicKeyFromText(relay.process.relayKey),
        channels: ['general'],
        WebSocket: WebSocket as never,
      })
      clients.push(c)
      await c.start()
    }
    await expect.poll(() => clients.every((c) => c.memberCount('general') === OTHERS), SEEN).toBe(true)

    const ann = await joinAs(browser, relay.appUrl, 'Ann')
    const online = ann.locator('.people-list section').first()
    const listed = () => online.locator('.member').count()
    await expect.poll(() => online.locator('.heading').textContent(), SEEN).toBe(`Online — ${OTHERS + 1}`)
    // The head (3) and Ann herself, who joined last.
    await expect.poll(listed, SEEN).toBe(4)
    const more = ann.getByRole('button', { name: 'Show more' })
    await ann.locator('.people-list').screenshot({ path: join(SHOTS, 'presence-show-more.png') })
    await more.click()
    await expect.poll(listed, SEEN).toBe(OTHERS + 1)
    await expect.poll(() => more.count(), SEEN).toBe(0)
    expect(await online.locator('.heading').textContent()).toBe(`Online — ${OTHERS + 1}`)
  })
})
