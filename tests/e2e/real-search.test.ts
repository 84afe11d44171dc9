/**
 * Local search (issue #17) in real Chromium on the relay CLI and the WebRTC mesh: the search box
 * finds a message by a word, by `from:` and by `has:image`, with the matched words marked; a
 * redacted message stops being found; the index is kept in IndexedDB; and a result that reached
 * this device from a peer (a newcomer's catch-up, outside the page the list loaded) opens with
 * the list loaded back to it and the message in view.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { noisePng } from './png.ts'
import {
  composer,
  joinAs,
  messageWith,
  originOf,
  type RealStack,
  SHOTS,
  startRealStack,
} from './real-harness.ts'

const SEEN = { timeout: 30_000 }

let stack: RealStack | undefined
beforeAll(async () => {
  stack = await startRealStack()
})
afterAll(() => stack?.stop())

const box = (page: Page) => page.getByRole('searchbox', { name: /Search messages/ })
const results = (page: Page) => page.locator('#search-results .hit')

/** Types a query and returns the texts of the results once `count` of them show. */
async function search(page: Page, query: string, count: number): Promise<string[]> {
  await box(page).fill(query)
  const started = Date.now()
  await expect
    .poll(async () => {
      const n = await results(page).count()
      // Nothing yet: the empty state must say so (not a stale list).
      if (count === 0) return (await page.locator('#search-results .empty').count()) > 0 ? 0 : -1
      return n
    }, SEEN)
    .toBe(count)
  const waited = Date.now() - started
  if (waited > 5_000) console.log(`real-search: "${query}" took ${waited} ms to show ${count} results`)
  return results(page).locator('.text').allTextContents()
}

async function send(page: Page, text: string): Promise<void> {
  await composer(page).fill(text)
  await composer(page).press('Enter')
  await expect.poll(() => messageWith(page, text).count(), SEEN).toBe(1)
}

describe('search', () => {
  it('finds by word, from: and has:image, marks the words, forgets a redacted message, keeps its index', {
    timeout: 240_000,
  }, async () => {
    const { relay, browser } = stack!
    const ann = await joinAs(browser, relay.appUrl, 'Ann')
    const ben = await joinAs(browser, relay.appUrl, 'Ben')
    await expect.poll(() => ben.locator('.people-list').textContent(), SEEN).toContain('Ann')

    await send(ann, 'The quarterly budget is approved')
    await send(ben, 'Budget looks fine to me')
    await send(ann, 'Lunch at noon?')
    await ann.getByTestId('attach-input').setInputFiles({
      name: 'budget-chart.png',
      mimeType: 'image/png',
      buffer: noisePng(320, 200, 3),
    })
    await expect.poll(() => ben.locator('img.full, .tile').count(), SEEN).toBeGreaterThan(0)

    expect(await search(ben, 'budget', 3)).toEqual([
      expect.stringContaining('budget-chart.png'),
      'Budget looks fine to me',
      'The quarterly budget is approved',
    ])
    expect(await results(ben).locator('mark').allTextContents()).toEqual(['budget', 'Budget', 'budget'])
    // As one types: the last word is a prefix.
    expect(await search(ben, 'quart', 1)).toEqual(['The quarterly budget is approved'])
    expect(await search(ben, 'budget from:ann', 2)).toEqual([
      expect.stringContaining('budget-chart.png'),
      'The quarterly budget is approved',
    ])
    expect(await search(ben, 'has:image', 1)).toEqual([expect.stringContaining('budget-chart.png')])
    await search(ben, 'from:nobody', 0)
    expect(await ben.locator('#search-results .meta').first().count()).toBe(0)
    await search(ben, 'budget', 3)
    await ben.screenshot({ path: `${SHOTS}real-search-results-light.png` })

    // Ann deletes her message: it leaves Ben's index.
    const row = messageWith(ann, 'The quarterly budget is approved')
    await row.hover()
    await row.getByRole('button', { name: 'Delete' }).click()
    await expect.poll(() => messageWith(ben, 'The quarterly budget is approved').count(), SEEN).toBe(0)
    await search(ben, 'quarterly', 0)
    expect(await search(ben, 'budget', 2)).toEqual([
      expect.stringContaining('budget-chart.png'),
      'Budget looks fine to me',
    ])

    // The index is kept in IndexedDB (written when the tab is hidden, or 2 s after a change).
    await expect
      .poll(
        () =>
          ben.evaluate(async () => {
            const names = (await indexedDB.databases()).map((d) => d.name ?? '')
            const name = names.find((n) => n.startsWith('peerchat-log-'))
            if (!name) return []
            const db = await new Promise<IDBDatabase>((resolve, reject) => {
              const r = indexedDB.open(name)
              r.onsuccess = () => resolve(r.result)
              r.onerror = () => reject(r.error)
            })
            const keys = await new Promise<IDBValidKey[]>((resolve, reject) => {
              const r = db.transaction('search-index').objectStore('search-index').getAllKeys()
              r.onsuccess = () => resolve(r.result)
              r.onerror = () => reject(r.error)
            })
            db.close()
            return keys.map(String)
          }),
        SEEN,
      )
      .toEqual(expect.arrayContaining(['meta', new Date().toISOString().slice(0, 7)]))
    // After a reload the saved index answers (and still without the deleted message).
    await ben.reload()
    await ben.getByRole('log', { name: 'Messages in general' }).waitFor(SEEN)
    expect(await search(ben, 'budget', 2)).toEqual([
      expect.stringContaining('budget-chart.png'),
      'Budget looks fine to me',
    ])
    await ann.context().close()
    await ben.context().close()
  })

  it('opens a result that came from a peer, outside the loaded page: the list loads back to it', {
    timeout: 240_000,
  }, async () => {
    const { relay, browser } = stack!
    const cat = await joinAs(browser, relay.appUrl, 'Cat')
    await send(cat, 'the needle is in the haystack')
    for (let i = 0; i < 60; i++) await send(cat, `filler message number ${i}`)

    // Dan is new: Cat's history reaches him from Cat over the mesh (the relay keeps none).
    // Pages of 10 events: the list loads a few of them near the top, not 61 events back.
    const dan = await joinAs(browser, relay.appUrl, 'Dan', '?page=10&older=10')
    await expect.poll(() => messageWith(dan, 'filler message number 59').count(), SEEN).toBe(1)
    await expect.poll(() => search(dan, 'needle', 1), SEEN).toEqual(['the needle is in the haystack'])
    // Opened now (the live catch-up put it in the list): it came from a peer, not the relay.
    await results(dan).first().click()
    await expect.poll(() => messageWith(dan, 'the needle is in the haystack').isVisible(), SEEN).toBe(true)
    expect(await originOf(dan, 'the needle is in the haystack')).toMatch(/from peer Cat over /)
    // On its next visit the list shows the newest page from the device; the needle is far back.
    await dan.reload()
    await dan.getByRole('log', { name: 'Messages in general' }).waitFor(SEEN)
    await expect.poll(() => messageWith(dan, 'filler message number 59').count(), SEEN).toBe(1)
    expect(await dan.locator('article.msg').count()).toBeLessThan(50)
    expect(await messageWith(dan, 'the needle is in the haystack').count()).toBe(0)

    await search(dan, 'needle', 1)
    await results(dan).first().click()
    const needle = messageWith(dan, 'the needle is in the haystack')
    await expect.poll(() => needle.count(), SEEN).toBe(1)
    await expect.poll(() => needle.isVisible(), SEEN).toBe(true)
    const shown = await needle.boundingBox()
    const list = await dan.getByRole('log', { name: 'Messages in general' }).boundingBox()
    expect(shown!.y).toBeGreaterThanOrEqual(list!.y)
    expect(shown!.y + shown!.height).toBeLessThanOrEqual(list!.y + list!.height)
    await dan.screenshot({ path: `${SHOTS}real-search-jump-light.png` })
    await cat.context().close()
    await dan.context().close()
  })
})
