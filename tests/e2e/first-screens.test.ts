/**
 * Issue #18's first screens in real Chromium, against the real system: the relay CLI (a child
 * process serving the built app) and two virtual clients named vc1 and vc2 (child processes,
 * the CLI from source) publishing their names (`--profile`), as `pnpm start` runs them.
 *
 * - The virtual clients go by the names they publish (a `profile` event, as people publish
 *   theirs), in a group of their own below the people, and by name in the status panel.
 * - A chat's few messages sit at the bottom of the pane, next to the composer.
 * - A brand-new channel says "This is the beginning of #channel", not "Load older messages".
 *
 * Every wait is a condition with a generous deadline: the machine may be busy with other tests.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../peer/scenario.ts'
import { spawnVc, type VcProcess } from '../vc/vc-process.ts'
import { composer, joinAs, messageWith, type RealStack, SHOTS, startRealStack } from './real-harness.ts'

/** Deadline of every wait on the network or the page. */
const DEADLINE = 60_000

let stack: RealStack
let vcDir: string
const vcs: VcProcess[] = []
let ann: Page

beforeAll(async () => {
  stack = await startRealStack({ relayArgs: ['--quiet', '--create', 'everyone'], ownBuild: true })
  vcDir = mkdtempSync(join(tmpdir(), 'peerchat-e2e-first-vc-'))
  for (const name of ['vc1', 'vc2'])
    vcs.push(
      await spawnVc([
        '--relay',
        stack.relay.process.url,
        '--name',
        name,
        '--profile',
        '--data-dir',
        join(vcDir, name),
      ]),
    )
  ann = await joinAs(stack.browser, stack.relay.appUrl, 'Ann')
})

afterAll(async () => {
  await Promise.all(vcs.map((v) => v.stop()))
  await stack?.stop()
  if (vcDir) rmSync(vcDir, { recursive: true, force: true })
})

const people = (page: Page) => page.getByRole('complementary', { name: 'People' })
const group = (page: Page, title: string) => people(page).getByRole('list', { name: title })
const namesIn = async (page: Page, title: string): Promise<string[]> =>
  (await group(page, title).locator('.member .name').allTextContents()).map((t) => t.trim())

describe('first screens (relay and two virtual clients)', () => {
  it('names the virtual clients and lists them in their own group below the people', async () => {
    await until(
      async () => (await group(ann, 'Virtual clients').count()) === 1,
      'the virtual clients group',
      DEADLINE,
    )
    await until(
      async () => JSON.stringify(await namesIn(ann, 'Virtual clients')) === '["vc1","vc2"]',
      'the virtual clients by name (their profiles)',
      DEADLINE,
    )
    expect(await namesIn(ann, 'Online')).toEqual(['Ann (you)'])
    // Below the people: the group's top is under the people's bottom.
    const online = await group(ann, 'Online').boundingBox()
    const virtual = await group(ann, 'Virtual clients').boundingBox()
    expect(virtual!.y).toBeGreaterThanOrEqual(online!.y + online!.height)
    // No key fragments anywhere in the list.
    expect(await people(ann).textContent()).not.toMatch(/…/)
    await ann.screenshot({ path: `${SHOTS}first-members-light.png` })

    // The status panel names them too (peers by kind and link).
    await ann.getByRole('button', { name: 'Trust and sync status' }).click()
    const status = ann.getByRole('dialog', { name: 'Trust & sync status' })
    const peerRows = async (): Promise<string[]> =>
      (await status.locator('table.peers tbody tr').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim())
    await until(
      async () => {
        const rows = await peerRows()
        return ['vc1', 'vc2'].every((n) => rows.some((r) => r.startsWith(`${n} virtual client `)))
      },
      'the virtual clients by name in the status panel',
      DEADLINE,
    )
    await ann.screenshot({ path: `${SHOTS}first-status-light.png` })
    await ann.keyboard.press('Escape')
    await until(async () => (await status.count()) === 0, 'the status panel to close', DEADLINE)
  })

  it('anchors a few messages to the bottom of the pane, next to the composer', async () => {
    for (const text of ['first words', 'second words']) {
      await composer(ann).fill(text)
      await composer(ann).press('Enter')
      await until(
        async () =>
          (await messageWith(ann, text).count()) === 1 &&
          (await messageWith(ann, text).getByText('Sending…').count()) === 0,
        `"${text}" stamped`,
        DEADLINE,
      )
    }
    const geometry = () =>
      ann.evaluate(() => {
        const list = document.querySelector('.vlist')!.getBoundingClientRect()
        const rows = document.querySelectorAll('article.msg')
        const first = rows[0]!.getBoundingClientRect()
        const last = rows[rows.length - 1]!.getBoundingClientRect()
        const composer = document.querySelector('form.composer')!.getBoundingClientRect()
        return {
          listTop: list.top,
          listBottom: list.bottom,
          first: first.top,
          last: last.bottom,
          composer: composer.top,
        }
      })
    // Layout settles once the rows are measured: wait for the anchored geometry.
    await until(
      async () => {
        const g = await geometry()
        return g.composer - g.last >= 0 && g.composer - g.last < 48 && Math.abs(g.listBottom - g.last) <= 4
      },
      'the newest message next to the composer',
      DEADLINE,
    )
    const g = await geometry()
    // The rows do not fill the pane: the space is above them, not between them and the composer.
    expect(g.first - g.listTop).toBeGreaterThan(200)
    await ann.screenshot({ path: `${SHOTS}first-bottom-anchored-light.png` })
  })

  it('shows the beginning of a brand-new channel, not a button to load older messages', {
    timeout: 300_000,
  }, async () => {
    await ann.getByRole('button', { name: 'Create a channel' }).click()
    await ann.getByLabel('New channel name').fill('fresh')
    await ann.getByRole('button', { name: 'Create', exact: true }).click()
    await until(
      async () => (await ann.getByRole('heading', { level: 1 }).textContent()) === '# fresh',
      'the new channel open',
      DEADLINE,
    )
    const log = ann.getByRole('log', { name: 'Messages in fresh' })
    await until(
      async () => (await log.getByText('This is the beginning of #fresh').count()) === 1,
      'the beginning line of #fresh',
      DEADLINE,
    )
    expect(await log.getByRole('button', { name: 'Load older messages' }).count()).toBe(0)
    // And it stays so (asking peers again later must not turn it back into a button).
    await new Promise((r) => setTimeout(r, 4000))
    expect(await log.getByText('This is the beginning of #fresh').count()).toBe(1)
    expect(await log.getByRole('button', { name: 'Load older messages' }).count()).toBe(0)
    await ann.screenshot({ path: `${SHOTS}first-empty-channel-light.png` })

    // Another member opening it for the first time sees the same line.
    const ben = await joinAs(stack.browser, stack.relay.appUrl, 'Ben')
    await until(
      async () => (await ben.getByRole('button', { name: /^fresh/ }).count()) === 1,
      'Ben to list #fresh',
      DEADLINE,
    )
    await ben.getByRole('button', { name: /^fresh/ }).click()
    const opened = Date.now()
    const benLog = ben.getByRole('log', { name: 'Messages in fresh' })
    await until(
      async () => (await benLog.getByText('This is the beginning of #fresh').count()) === 1,
      "the beginning line of #fresh on Ben's page",
      // Not created on his device: once he holds the channel's `channel.create` (from a peer's
      // catch-up), nothing older exists; he no longer waits for the peers' scroll-back (~30 s).
      DEADLINE,
    )
    console.log(`first-screens: Ben saw the beginning of #fresh ${Date.now() - opened} ms after opening it`)
    expect(await benLog.getByRole('button', { name: 'Load older messages' }).count()).toBe(0)
    await ben.screenshot({ path: `${SHOTS}first-empty-channel-other-light.png` })
    await ben.context().close()
  })
})
