/**
 * Issue #14 in real Chromium against the relay CLI: running a community from the app.
 *
 * Ann opens the claim link the relay printed at start and owns the community; she creates a
 * channel and makes Bob a moderator. Bob times Eve out (Eve's composer says until when, and she
 * cannot post), then bans her: Eve's page shows the ban notice, and a new login of Eve is
 * refused. Ann makes the community invite-only
 * and creates a one-use invite link: Cara opens it and is admitted; Dan opening the same link
 * is refused. The audit log lists every action. Screenshots: tests/e2e/screenshots/admin-*.png.
 *
 * Every wait is a condition with a generous deadline: the machine may be busy with other tests.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../peer/scenario.ts'
import { composer, joinAs, type RealStack, SHOTS, startRealStack } from './real-harness.ts'

const DEADLINE = 60_000

let stack: RealStack
let ann: Page
let bob: Page
let eve: Page

beforeAll(async () => {
  stack = await startRealStack({ relayArgs: ['--quiet'], ownBuild: true })
})

afterAll(async () => {
  await stack?.stop()
})

const people = (page: Page) => page.getByRole('complementary', { name: 'People' })

/** Opens `name`'s member menu in `page`'s People list (once the fold lets `page` act on them). */
async function memberMenu(page: Page, name: string) {
  const button = people(page).getByRole('button', { name: `Actions for ${name}` })
  await button.waitFor({ timeout: DEADLINE })
  if ((await button.getAttribute('aria-expanded')) !== 'true') await button.click()
  return page.getByRole('menu', { name: `Actions for ${name}` })
}

/** The People list says the menu's action was stamped; a refusal fails with the menu's message. */
async function actionDone(page: Page, text: string): Promise<void> {
  const status = people(page).getByRole('status').filter({ hasText: text })
  const alert = people(page).getByRole('alert').filter({ hasText: /\S/ })
  await until(async () => (await status.count()) > 0 || (await alert.count()) > 0, text, DEADLINE)
  if ((await status.count()) === 0)
    throw new Error(`refused instead of "${text}": ${await alert.first().textContent()}`)
}

async function openSettings(page: Page, tab: string) {
  const dialog = page.getByRole('dialog', { name: 'Community settings' })
  if (!(await dialog.isVisible())) await page.getByRole('button', { name: 'Community settings' }).click()
  await dialog.getByRole('tab', { name: tab }).click()
  return dialog
}

async function closeSettings(page: Page): Promise<void> {
  const dialog = page.getByRole('dialog', { name: 'Community settings' })
  await dialog.getByRole('button', { name: 'Close' }).click()
  await dialog.waitFor({ state: 'hidden' })
}

/** A fresh browser profile that opens `url`, creates a key named `name`, and stops there. */
async function openAs(browser: Browser, url: string, name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' })
  const page = await context.newPage()
  page.on('pageerror', (e) => {
    throw e
  })
  await page.goto(url)
  await page.getByLabel('Display name').fill(name)
  await page.getByRole('button', { name: 'Create my key and start' }).click()
  return page
}

describe('running a community from the app', () => {
  it('makes the first opener of the claim link the owner', async () => {
    const printed = await stack.relay.claimLink(30_000)
    const fragment = new URL(printed).hash
    expect(fragment).toMatch(/^#claim=[A-Za-z0-9_-]{43}$/)
    ann = await joinAs(stack.browser, stack.relay.appUrl, 'Ann', fragment)
    // The secret left the address bar at once.
    expect(ann.url()).not.toContain('#claim=')
    await ann.getByText('You own this community now').waitFor({ timeout: DEADLINE })
    await ann.screenshot({ path: `${SHOTS}admin-owner.png` })
    bob = await joinAs(stack.browser, stack.relay.appUrl, 'Bob')
    eve = await joinAs(stack.browser, stack.relay.appUrl, 'Eve')
    const dialog = await openSettings(bob, 'Overview')
    await until(
      async () => (await dialog.textContent())?.includes('Ann') ?? false,
      'Bob sees Ann as owner',
      DEADLINE,
    )
    await closeSettings(bob)
  })

  it('lets the owner create a channel and make Bob a moderator', async () => {
    const dialog = await openSettings(ann, 'Channels')
    await dialog.getByRole('button', { name: 'Create a channel' }).click()
    await dialog.getByRole('textbox', { name: 'New channel name' }).fill('news')
    await dialog.getByRole('button', { name: 'Create', exact: true }).click()
    await dialog.getByRole('row', { name: /#news/ }).waitFor({ timeout: DEADLINE })
    await closeSettings(ann)
    await until(
      async () => (await people(ann).getByText('Bob').count()) > 0,
      'Bob in Ann\u2019s People list',
      DEADLINE,
    )
    const menu = await memberMenu(ann, 'Bob')
    await menu.getByRole('menuitem', { name: 'Make moderator' }).click()
    await actionDone(ann, 'Bob is now moderator')
    await ann.screenshot({ path: `${SHOTS}admin-menu.png` })
    await ann.keyboard.press('Escape')
    await until(
      async () =>
        (await people(bob).locator('.member', { hasText: 'Bob' }).locator('.role').textContent()) ===
        'moderator',
      'Bob shown as moderator in his own list',
      DEADLINE,
    )
  })

  it('lets moderator Bob time out Eve: her composer says until when', async () => {
    const menu = await memberMenu(bob, 'Eve')
    await menu.getByRole('menuitem', { name: 'Time out 10 minutes' }).click()
    await actionDone(bob, 'Eve is timed out')
    await bob.keyboard.press('Escape')
    const box = composer(eve)
    await until(async () => await box.isDisabled(), 'Eve\u2019s composer disabled', DEADLINE)
    const said = eve.getByText(/You are timed out until \d{1,2}:\d{2}/).first()
    await said.waitFor({ timeout: DEADLINE })
    expect(await box.getAttribute('placeholder')).toMatch(/^You are timed out until/)
    await eve.screenshot({ path: `${SHOTS}admin-timeout.png` })
  })

  it('lets moderator Bob ban Eve: her page says so and a new login is refused', async () => {
    // Eve, a member, is offered no ban of Bob (no menu at all, or one without it).
    if ((await people(eve).getByRole('button', { name: 'Actions for Bob' }).count()) > 0) {
      const eveMenu = await memberMenu(eve, 'Bob')
      expect(await eveMenu.getByRole('menuitem', { name: 'Ban…' }).count()).toBe(0)
      await eve.keyboard.press('Escape')
    }
    const bobMenu = await memberMenu(bob, 'Eve')
    await bobMenu.getByRole('menuitem', { name: 'Ban…' }).waitFor({ timeout: DEADLINE })
    await bobMenu.getByRole('menuitem', { name: 'Ban…' }).click()
    const form = people(bob).getByRole('form', { name: 'Ban Eve' })
    await form.getByLabel('Reason').fill('spam links')
    await form.getByRole('button', { name: 'Ban Eve' }).click()
    await actionDone(bob, 'Eve is banned')
    await bob.keyboard.press('Escape')

    const notice = eve
      .getByRole('alert')
      .filter({ has: eve.getByRole('heading', { name: /banned|removed/ }) })
    await notice.waitFor({ timeout: DEADLINE })
    expect(await notice.textContent()).toContain('spam links')
    await eve.screenshot({ path: `${SHOTS}admin-banned.png` })
    // A new login of Eve (same key) is refused with the ban's reason.
    await eve.reload()
    const refused = eve.getByRole('heading', { name: 'You are banned from this community' })
    await refused.waitFor({ timeout: DEADLINE })
    expect(await eve.getByRole('alert').textContent()).toContain('spam links')
    await eve.screenshot({ path: `${SHOTS}admin-banned-login.png` })
  })

  let invite = ''
  it('lets the owner go invite-only and make a one-use invite link', async () => {
    const overview = await openSettings(ann, 'Overview')
    await overview.getByRole('radio', { name: /Invite only/ }).check()
    await until(
      async () => (await ann.getByText('Invite-only community').count()) > 0,
      'the channel list saying invite-only',
      DEADLINE,
    )
    const invites = await openSettings(ann, 'Invites')
    await invites.getByLabel('Expires in (hours)').fill('2')
    await invites.getByLabel('Uses').fill('1')
    await invites.getByRole('button', { name: 'Create invite link' }).click()
    const box = invites.getByRole('textbox', { name: 'New invite link' })
    await box.waitFor({ timeout: DEADLINE })
    invite = await box.inputValue()
    expect(invite).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#invite=[A-Za-z0-9_-]{43}$/)
    await invites.getByRole('table', { name: 'Invites' }).getByText('1 of 1').waitFor({ timeout: DEADLINE })
    await ann.screenshot({ path: `${SHOTS}admin-invites.png` })
    await closeSettings(ann)
  })

  it('admits Cara by the link, and refuses Dan with the same link', async () => {
    const cara = await openAs(stack.browser, invite, 'Cara')
    await cara.getByRole('log', { name: 'Messages in general' }).waitFor({ timeout: DEADLINE })
    await cara.locator('.conn.online').waitFor({ timeout: DEADLINE })
    await cara.getByText('You joined this community by invite').waitFor({ timeout: DEADLINE })
    await composer(cara).fill('hello from Cara')
    await composer(cara).press('Enter')
    await cara.locator('article.msg', { hasText: 'hello from Cara' }).waitFor({ timeout: DEADLINE })
    await until(
      async () =>
        (await cara.locator('article.msg', { hasText: 'hello from Cara' }).getByText('Sending…').count()) ===
        0,
      'Cara\u2019s message stamped',
      DEADLINE,
    )

    const dan = await openAs(stack.browser, invite, 'Dan')
    await dan.getByRole('heading', { name: 'You cannot join this community' }).waitFor({ timeout: DEADLINE })
    expect(await dan.getByRole('alert').textContent()).toMatch(/used up|invite/)
    await dan.screenshot({ path: `${SHOTS}admin-refused.png` })
  })

  it('lists every action in the audit log', async () => {
    const dialog = await openSettings(ann, 'Audit log')
    const table = dialog.getByRole('table', { name: 'Audit log' })
    await until(async () => (await table.locator('tbody tr').count()) >= 7, 'seven audited actions', DEADLINE)
    const kinds = await table
      .locator('tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind')))
    expect(kinds.reverse()).toEqual([
      'admin.claim',
      'role.set',
      'member.timeout',
      'member.ban',
      'access.set',
      'invite.create',
      'invite.redeem',
    ])
    const text = (await table.textContent()) ?? ''
    for (const words of [
      'claimed the community',
      'made moderator',
      'timed out until',
      'banned',
      'made the community invite-only',
      'created an invite',
      'joined by invite',
    ])
      expect(text).toContain(words)
    await ann.screenshot({ path: `${SHOTS}admin-audit.png` })
  })
})
