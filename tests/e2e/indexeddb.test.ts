/**
 * The IndexedDB store in real Chromium: the essential conformance checks against MemoryStore
 * (run in the page, tests/e2e/indexeddb-page/), and persistence across a page reload, checked
 * against a MemoryStore fingerprint computed here in Node.
 */
import { rmSync } from 'node:fs'
import { MemoryStore, randomBytes, toHex } from '@peerchat/engine'
import { fakeStoredEvent } from '@peerchat/engine/testing'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.ts'
import { buildIndexedDbPage } from './indexeddb-page/build.ts'
import { type StaticServer, serveStatic } from './static-server.ts'

/** The origin's quota for the quota test: a few thousand events. */
const QUOTA_BYTES = 1024 * 1024

let outDir: string
let server: StaticServer
let browser: Browser

beforeAll(async () => {
  outDir = buildIndexedDbPage()
  server = await serveStatic(outDir)
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
  if (outDir) rmSync(outDir, { recursive: true, force: true })
})

async function openPage(): Promise<Page> {
  const page = await (await browser.newContext()).newPage()
  page.on('pageerror', (e) => {
    throw e
  })
  await page.goto(server.url)
  await page.waitForFunction(() => 'idbCheck' in window)
  return page
}

describe('IndexedDbStore in Chromium', () => {
  it('answers exactly like MemoryStore on the same puts and deletes, before and after reopening', async () => {
    const page = await openPage()
    const { checks, mismatches } = await page.evaluate(() => window.idbCheck.compareWithMemory())
    expect(mismatches).toEqual([])
    expect(checks).toBeGreaterThan(100)
  })

  it('keeps the log across a page reload, with the fingerprint a Node MemoryStore computes', async () => {
    const n = Number(process.env.IDB_E2E_EVENTS ?? 5000)
    const relayKey = toHex(randomBytes(32))
    const page = await openPage()
    expect(
      await page.evaluate(([key, count]) => window.idbCheck.write(key, count, 500), [relayKey, n] as const),
    ).toMatchObject({ added: n })
    await page.reload()
    await page.waitForFunction(() => 'idbCheck' in window)
    const got = await page.evaluate((key) => window.idbCheck.read(key), relayKey)

    const memory = new MemoryStore()
    const events = Array.from({ length: n }, (_, i) => fakeStoredEvent('general', i))
    await memory.putMany('general', events)
    const newest = await memory.getRange('general', {}, { reverse: true, limit: 3 })
    expect(got.count).toBe(n)
    expect(got.fingerprint).toBe(toHex((await memory.fingerprint('general', {})).hash))
    expect(got.ids).toBe(newest.map((s) => s.event.id).join(','))
    console.log(
      `IndexedDbStore: reopened ${n} events (index rebuilt from keys) in ${got.openMs.toFixed(0)} ms`,
    )
  })

  it('a real quota refusal is a LimitError, and nothing of the refused batch is on disk', async () => {
    const page = await openPage()
    // Chromium's own quota enforcement, lowered for this origin through the DevTools protocol.
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Storage.overrideQuotaForOrigin', {
      origin: new URL(server.url).origin,
      quotaSize: QUOTA_BYTES,
    })
    const got = await page.evaluate(([key, batch, max]) => window.idbCheck.fillUntilFull(key, batch, max), [
      toHex(randomBytes(32)),
      200,
      40_000,
    ] as const)
    expect(got.error).toMatchObject({ name: 'LimitError', limit: 'storage-quota' })
    expect(got.error?.message).toMatch(/storage is full.*retry/s)
    expect(got.acked).toBeGreaterThan(0)
    expect(got.count).toBe(got.acked)
    expect(got.reopenedCount).toBe(got.acked)
    expect(got.sameFingerprint).toBe(true)
    console.log(
      `IndexedDbStore: quota ${QUOTA_BYTES} bytes, ${got.acked} events acknowledged, then: ${got.error?.message}`,
    )
  })

  it('IndexedDbBlobStore answers exactly like MemoryBlobStore, before and after reopening', async () => {
    const page = await openPage()
    const { checks, mismatches } = await page.evaluate(() => window.idbCheck.compareBlobsWithMemory())
    expect(mismatches).toEqual([])
    expect(checks).toBeGreaterThan(50)
  })

  it('a real quota refusal of a blob evicts unpinned blobs first; pinned ones end in a LimitError; the log still writes', async () => {
    const page = await openPage()
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Storage.overrideQuotaForOrigin', {
      origin: new URL(server.url).origin,
      quotaSize: 4 * QUOTA_BYTES,
    })
    const got = await page.evaluate(
      ([key, size, max]) => window.idbCheck.fillBlobsUntilFull(key, size, max),
      [toHex(randomBytes(32)), 256 * 1024, 64] as const,
    )
    expect(got.error).toMatchObject({ name: 'LimitError', limit: 'storage-quota' })
    expect(got.error?.message).toMatch(/storage is full.*messages are safe/s)
    expect(got.evicted.length).toBeGreaterThan(0)
    // What is left after eviction: the pinned blobs, and no unpinned one survived a pinned refusal.
    expect(got.left.every((b) => b.pinned)).toBe(true)
    expect(got.logAdded).toBe(20)
    console.log(
      `IndexedDbBlobStore: quota ${4 * QUOTA_BYTES} bytes, ${got.stored} blobs of 256 KiB stored, ${got.evicted.length} unpinned evicted, then: ${got.error?.message}`,
    )
  })
})
