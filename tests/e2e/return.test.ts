/**
 * Issue #18: a return. Ann reads a mention of her, then reloads the app (history in IndexedDB).
 * From the first painted frame of the channel list on, the read mention must not come back as a
 * badge, and Bob (whose profile Ann's device holds) must never be shown by a key fragment while
 * the stored history is still being read.
 *
 * Every frame is sampled in the page itself (requestAnimationFrame, from an init script): a
 * badge shown for a single frame is caught, not only what a poll from the test happens to see.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../peer/scenario.ts'
import { composer, joinAs, messageWith, type RealStack, SHOTS, startRealStack } from './real-harness.ts'

/** Deadline of every wait on the network or the page. */
const DEADLINE = 60_000
/** How long after the channel list's first frame every frame is checked. */
const WATCH_MS = 5_000

interface Frames {
  /** Frames sampled since the channel list first showed. */
  frames: number
  /** What was wrong, with the milliseconds since the channel list first showed. */
  badges: string[]
  keys: string[]
  /** Member names in the last frame sampled. */
  names: string[]
  done: boolean
}

/**
 * Samples every frame of each page load for WATCH_MS once the channel list shows: any badge on
 * #general, and any member name that is a key fragment (the list's "3EP1UFDo…" form).
 */
const SAMPLER = `(() => {
  const seen = { frames: 0, badges: [], keys: [], names: [], done: false }
  window.__frames = seen
  let first = null
  const sample = () => {
    const general = [...document.querySelectorAll('nav.channels button.channel')].find(
      (b) => b.querySelector('.name')?.textContent?.trim() === 'general',
    )
    if (general) {
      first ??= performance.now()
      const at = Math.round(performance.now() - first)
      seen.frames++
      const badge = general.querySelector('.badge')
      if (badge) seen.badges.push(at + 'ms: ' + badge.textContent.trim())
      seen.names = [...document.querySelectorAll('.people-list .member .name')].map((n) => n.textContent.trim())
      for (const name of seen.names) if (name.includes('\\u2026')) seen.keys.push(at + 'ms: ' + name)
    }
    if (first === null || performance.now() - first < ${WATCH_MS}) requestAnimationFrame(sample)
    else seen.done = true
  }
  requestAnimationFrame(sample)
})()`

let stack: RealStack
let ann: Page
let bob: Page

beforeAll(async () => {
  stack = await startRealStack({
    relayArgs: ['--quiet', '--channel', 'general', '--channel', 'random'],
    ownBuild: true,
  })
  ann = await joinAs(stack.browser, stack.relay.appUrl, 'Ann')
  bob = await joinAs(stack.browser, stack.relay.appUrl, 'Bob')
})

afterAll(async () => {
  await stack?.stop()
})

const channelButton = (page: Page, name: string) =>
  page.locator('nav.channels button.channel').filter({ has: page.locator('.name', { hasText: name }) })
const names = async (page: Page): Promise<string[]> =>
  (await page.getByRole('complementary', { name: 'People' }).locator('.member .name').allTextContents()).map(
    (t) => t.trim(),
  )

/** Reloads `page` and returns what every frame showed for WATCH_MS after the channel list appeared. */
async function reloadWatching(page: Page): Promise<Frames> {
  await page.reload()
  let frames: Frames | undefined
  await until(
    async () => {
      frames = await page.evaluate(() => (window as unknown as { __frames?: Frames }).__frames)
      return frames?.done === true
    },
    'the first frames after the reload sampled',
    DEADLINE,
  )
  return frames!
}

describe('a return (reload with history stored)', () => {
  it('shows a read mention as read and members by name from the first frame', {
    timeout: 300_000,
  }, async () => {
    await until(async () => (await names(ann)).includes('Bob'), 'Ann to name Bob', DEADLINE)

    // Bob mentions Ann while she is in #random: the badge shows on #general.
    await channelButton(ann, 'random').click()
    await composer(bob).fill('@Ann the plan is ready')
    await composer(bob).press('Enter')
    await until(
      async () =>
        ((await channelButton(ann, 'general').getAttribute('aria-label')) ?? '').includes('1 mentions'),
      "the mention badge on Ann's #general",
      DEADLINE,
    )

    // She reads it: the badge goes.
    await channelButton(ann, 'general').click()
    await messageWith(ann, 'the plan is ready').waitFor({ timeout: DEADLINE })
    await until(
      async () => (await channelButton(ann, 'general').locator('.badge').count()) === 0,
      "the badge on Ann's #general to clear",
      DEADLINE,
    )

    // She reloads: every frame from the channel list's first on.
    await ann.context().addInitScript(SAMPLER)
    const frames = await reloadWatching(ann)
    expect(frames.frames).toBeGreaterThan(20)
    expect.soft(frames.badges, 'badges on #general after the reload').toEqual([])
    expect.soft(frames.keys, 'members shown by key after the reload').toEqual([])
    expect(frames.names).toContain('Bob')
    await messageWith(ann, 'the plan is ready').waitFor({ timeout: DEADLINE })
    await ann.screenshot({ path: `${SHOTS}return-after-reload.png` })

    // Read in #general, then back in #random before reloading: still read after the reload.
    await channelButton(ann, 'random').click()
    await until(
      async () => (await ann.getByRole('heading', { level: 1 }).textContent()) === '# random',
      '#random open',
      DEADLINE,
    )
    const away = await reloadWatching(ann)
    expect.soft(away.badges, 'badges on #general after a reload in #random').toEqual([])
    expect.soft(away.keys, 'members shown by key after a reload in #random').toEqual([])
    // Nothing came later either (the stored history has been read by now).
    await new Promise((r) => setTimeout(r, 1000))
    expect(await channelButton(ann, 'general').locator('.badge').count()).toBe(0)
  })
})
