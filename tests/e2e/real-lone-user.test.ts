/**
 * Issue #6's lone user in real Chromium: the relay CLI (a child process serving the built app)
 * and two virtual clients (child processes, the CLI from source), all on loopback. The same
 * scenario as tests/vc/lone-user.test.ts, with browsers instead of Node peers.
 *
 * 1. Ann posts a history over the relay while the virtual clients are online; both hold it;
 *    Ann closes her browser.
 * 2. Zed, a brand-new profile whose only peers are the two virtual clients, gets the whole
 *    history from them (their served_events_total grows by exactly what Zed lacked); after a
 *    reload it is there again, from IndexedDB.
 * 3. Zed stays online holding the same range: Yan, another brand-new profile, gets the history
 *    from Zed, and the virtual clients serve nothing (real clients are asked first; a virtual
 *    client announces itself in awareness, and catches up no newcomer once it is caught up).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnVc, type VcProcess } from '../vc/vc-process.ts'
import {
  composer,
  joinAs,
  messageWith,
  originOf,
  type RealRelay,
  type RealStack,
  SHOTS,
  startRealStack,
} from './real-harness.ts'

const SEEN = { timeout: 30_000 }
/** Messages Ann posts (the relay's default burst per key is 60). */
const HISTORY = 30
const TEXTS = Array.from({ length: HISTORY }, (_, i) => `lone history ${String(i + 1).padStart(2, '0')}`)
/** Virtualization off (`?overscan=PX`): every row is rendered, so the history can be read in order. */
const ALL_ROWS = '?overscan=1000000'

let relay: RealRelay
let browser: Browser
let vcDir: string
const vcs: VcProcess[] = []

let stack: RealStack | undefined
beforeAll(async () => {
  stack = await startRealStack({ relayArgs: ['--quiet'], ownBuild: true })
  ;({ relay, browser } = stack)
  vcDir = mkdtempSync(join(tmpdir(), 'peerchat-e2e-lone-vc-'))
  for (const name of ['vc1', 'vc2'])
    vcs.push(await spawnVc(['--relay', relay.process.url, '--name', name, '--data-dir', join(vcDir, name)]))
})

afterAll(async () => {
  await Promise.all(vcs.map((v) => v.stop()))
  await stack?.stop()
  if (vcDir) rmSync(vcDir, { recursive: true, force: true })
})

const metric = (name: 'served_events_total' | 'events_held' | 'mesh_peers') => () =>
  Promise.all(vcs.map(async (v) => (await v.metrics())[name]))
const served = metric('served_events_total')
const held = metric('events_held')
const meshPeers = metric('mesh_peers')
/** How the app names a peer without a profile (usePresence's nameOf): the key's first 8 characters. */
const vcName = (v: VcProcess) => `${v.key.slice(0, 8)}…`

/** The texts of the history's rows, top to bottom. */
const historyRows = async (page: Page): Promise<string[]> =>
  (await page.locator('article.msg p.text').allTextContents())
    .map((t) => t.trim())
    .filter((t) => t.startsWith('lone history '))

const statusDialog = (page: Page) => page.getByRole('dialog', { name: 'Trust & sync status' })

async function openStatus(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Trust and sync status' }).click()
  await statusDialog(page).waitFor()
}

async function closeStatus(page: Page): Promise<void> {
  await page.keyboard.press('Escape')
  await expect.poll(() => statusDialog(page).isVisible()).toBe(false)
}

/** The status panel's peers as "name: kind", sorted. */
async function peersOf(page: Page): Promise<string[]> {
  const rows = statusDialog(page)
    .getByRole('table', { name: /^Peers/ })
    .locator('tbody tr')
  const out: string[] = []
  for (const row of await rows.all()) {
    const [name, kind] = await row.locator('td').allTextContents()
    out.push(`${name?.trim()}: ${kind?.trim()}`)
  }
  return out.sort()
}

/** Where the status panel says #general's events came from ("31 peer Zed over webrtc", ...). */
async function coverageOf(page: Page): Promise<string[]> {
  const row = statusDialog(page).locator('table.coverage tbody tr', { hasText: '#general' })
  return (await row.locator('ul.sources li').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())
}

/** The status panel's recent syncs ("#general with NAME over LINK: N new events, …"), newest first. */
async function syncsOf(page: Page): Promise<string[]> {
  const items = statusDialog(page).locator('ul.sessions:not(.voice-calls) li')
  return (await items.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())
}

describe('a lone user keeps history through virtual clients, in real Chromium', () => {
  it('a new profile gets the history from the virtual clients, which serve nothing while a real peer can', {
    timeout: 300_000,
  }, async () => {
    const [vc1, vc2] = vcs as [VcProcess, VcProcess]
    const bothVirtual = [`${vcName(vc1)}: virtual client`, `${vcName(vc2)}: virtual client`].sort()
    // The two virtual clients link with each other over WebRTC; they hold nothing yet.
    await expect.poll(meshPeers, SEEN).toEqual([1, 1])
    expect(await held()).toEqual([0, 0])

    // 1. Ann posts the history over the relay; it reaches both virtual clients live.
    const ann = await joinAs(browser, relay.appUrl, 'Ann', ALL_ROWS)
    // Ann is linked to both first (each new link starts a catch-up with her).
    await expect.poll(meshPeers, SEEN).toEqual([2, 2])
    for (const text of TEXTS) {
      await composer(ann).fill(text)
      await composer(ann).press('Enter')
      await expect.poll(() => messageWith(ann, text).count(), SEEN).toBe(1)
    }
    await expect.poll(() => historyRows(ann), SEEN).toEqual(TEXTS)
    // Both hold Ann's profile event (her name), her key package for encrypted conversations
    // (mls-keys) and her messages.
    await expect.poll(held, SEEN).toEqual([HISTORY + 2, HISTORY + 2])
    // Once Ann closes her browser, each keeps only the other. Ann had no real peer, so a
    // virtual client may have served her an event of hers still in flight: count from here.
    await ann.context().close()
    await expect.poll(meshPeers, SEEN).toEqual([1, 1])
    const total = async () => (await served()).reduce((a, b) => a + b)
    const servedBeforeZed = await total()

    // 2. Zed, a brand-new profile. The relay keeps no history and Ann is gone: the virtual
    // clients are Zed's only peers, and the only place the history can come from.
    const zed = await joinAs(browser, relay.appUrl, 'Zed', ALL_ROWS)
    await expect.poll(() => historyRows(zed), SEEN).toEqual(TEXTS)
    await openStatus(zed)
    await expect.poll(() => peersOf(zed), SEEN).toEqual(bothVirtual)
    await closeStatus(zed)
    // Every event Zed lacked (Ann's profile, key package and messages) was served once, by the
    // virtual clients.
    await expect.poll(async () => (await total()) - servedBeforeZed, SEEN).toBe(HISTORY + 2)
    expect(await originOf(zed, TEXTS[0]!)).toMatch(
      new RegExp(`from peer (${vcName(vc1)}|${vcName(vc2)}) over `),
    )
    // Ann's name came with her profile event, from the virtual clients too.
    await expect.poll(() => messageWith(zed, TEXTS[0]!).locator('.author').textContent(), SEEN).toBe('Ann')

    // A reload shows the history again, from IndexedDB.
    await zed.reload()
    await zed.getByRole('log', { name: 'Messages in general' }).waitFor()
    await expect.poll(() => historyRows(zed), SEEN).toEqual(TEXTS)
    await zed.locator('.conn.online').waitFor({ timeout: 30_000 })
    await zed.screenshot({ path: `${SHOTS}real-lone-user-light.png` })
    expect(await originOf(zed, TEXTS[0]!)).toMatch(/from local storage/)
    // Zed links with both virtual clients again and knows them as virtual.
    await openStatus(zed)
    await expect.poll(() => peersOf(zed), SEEN).toEqual(bothVirtual)
    await closeStatus(zed)

    // 3. Zed, a real client holding the same range, is online: Yan, a brand-new profile, joins.
    const servedBeforeYan = await served()
    const yan = await joinAs(browser, relay.appUrl, 'Yan', ALL_ROWS)
    await expect.poll(() => historyRows(yan), SEEN).toEqual(TEXTS)
    expect(await originOf(yan, TEXTS[0]!)).toMatch(/from peer Zed over /)
    await openStatus(yan)
    await expect.poll(() => peersOf(yan), SEEN).toEqual([...bothVirtual, 'Zed: client'].sort())
    // Yan's catch-up goes on to a second peer, a virtual client, once Zed's is done: by then Yan
    // holds everything, so it adds nothing (and its sessions are over).
    const vcSyncs = async () =>
      (await syncsOf(yan)).filter((s) => s.includes(vcName(vc1)) || s.includes(vcName(vc2)))
    await expect.poll(async () => (await vcSyncs()).length, SEEN).toBeGreaterThan(0)
    for (const s of await vcSyncs()) {
      expect(s).toMatch(/: 0 new events, /)
      expect(s).not.toContain('(incomplete)')
    }
    // The history itself came from Zed: the sessions listed are the ones Yan started (Zed, whose
    // policy catches a newcomer up, may have started the one that brought it); the history table
    // says where this device's events came from.
    await expect
      .poll(() => coverageOf(yan), SEEN)
      .toEqual(expect.arrayContaining([expect.stringMatching(/^[1-9]\d* peer Zed over webrtc$/)]))
    await closeStatus(yan)
    // The virtual clients served nothing to Yan.
    expect(await served()).toEqual(servedBeforeYan)
    // They still hold the history, and took Zed's and Yan's profile events live like everyone.
    await expect
      .poll(async () => {
        const [a, b] = await held()
        return a === b && a! > HISTORY + 2
      }, SEEN)
      .toBe(true)

    for (const page of [zed, yan]) await page.context().close()
  })
})
