/**
 * Issue #18: two tabs of one person. Ann opens the app, then a second tab of the same browser
 * profile (same key, same IndexedDB). Both tabs must work as one person: each posts and sees its
 * message stamped, each receives Bob's, each names Bob; one reloads and still has everything.
 *
 * Every wait is a condition with a generous deadline: the machine may be busy with other tests.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../peer/scenario.ts'
import { composer, joinAs, messageWith, type RealStack, SHOTS, startRealStack } from './real-harness.ts'

const DEADLINE = 60_000

let stack: RealStack
let one: Page
let two: Page
let bob: Page

beforeAll(async () => {
  stack = await startRealStack({ relayArgs: ['--quiet'], ownBuild: true })
  one = await joinAs(stack.browser, stack.relay.appUrl, 'Ann')
  two = await one.context().newPage()
  two.on('pageerror', (e) => {
    throw e
  })
  await two.goto(stack.relay.appUrl)
  await two.getByRole('log', { name: 'Messages in general' }).waitFor({ timeout: DEADLINE })
  bob = await joinAs(stack.browser, stack.relay.appUrl, 'Bob')
})

afterAll(async () => {
  await stack?.stop()
})

async function post(page: Page, text: string): Promise<void> {
  await composer(page).fill(text)
  await composer(page).press('Enter')
}

/** The row shows in `page`, stamped (not "Sending…"). */
async function shown(page: Page, text: string, where: string): Promise<void> {
  const row = messageWith(page, text)
  try {
    await until(
      async () => (await row.count()) === 1 && (await row.getByText('Sending…').count()) === 0,
      `"${text}" stamped in ${where}`,
      DEADLINE,
    )
  } catch (e) {
    // Say what the page showed instead: no row, several, or one still sending.
    await page.screenshot({ path: `${SHOTS}two-tabs-failed.png` })
    throw new Error(`${(e as Error).message}; rows: ${JSON.stringify(await row.allTextContents())}`)
  }
}

const names = async (page: Page): Promise<string[]> =>
  (await page.getByRole('complementary', { name: 'People' }).locator('.member .name').allTextContents()).map(
    (t) => t.trim(),
  )

describe('two tabs of one person', () => {
  it('posts from each tab and receives in each, as one person', async () => {
    await post(one, 'from tab one')
    await post(two, 'from tab two')
    await post(bob, 'bob to both tabs')
    for (const [page, where] of [
      [one, 'tab one'],
      [two, 'tab two'],
      [bob, 'Bob'],
    ] as const) {
      await shown(page, 'from tab one', where)
      await shown(page, 'from tab two', where)
      await shown(page, 'bob to both tabs', where)
    }
    for (const page of [one, two])
      await until(async () => (await names(page)).includes('Bob'), 'Bob by name in each tab', DEADLINE)
    // Bob sees one Ann, not two.
    await until(
      async () => (await names(bob)).filter((n) => n.startsWith('Ann')).length === 1,
      'one Ann in Bob',
      DEADLINE,
    )
    await one.screenshot({ path: `${SHOTS}two-tabs-one.png` })
    await two.screenshot({ path: `${SHOTS}two-tabs-two.png` })
  })

  it('a reloaded tab has everything and keeps working, and so does the other', async () => {
    await one.reload()
    await one.getByRole('log', { name: 'Messages in general' }).waitFor({ timeout: DEADLINE })
    for (const text of ['from tab one', 'from tab two', 'bob to both tabs'])
      await shown(one, text, 'reloaded tab one')
    await post(one, 'one after reload')
    await post(two, 'two after reload')
    await post(bob, 'bob after reload')
    for (const [page, where] of [
      [one, 'tab one'],
      [two, 'tab two'],
      [bob, 'Bob'],
    ] as const)
      for (const text of ['one after reload', 'two after reload', 'bob after reload'])
        await shown(page, text, where)
    expect(await messageWith(two, 'from tab one').count()).toBe(1)
  })

  it('closing the tab that holds the connection leaves the other working', async () => {
    await one.close()
    await post(two, 'two alone here')
    await post(bob, 'bob to the lone tab')
    await shown(two, 'two alone here', 'tab two')
    await shown(bob, 'two alone here', 'Bob')
    await shown(two, 'bob to the lone tab', 'tab two')
  })
})
