/**
 * Channel canvases (issue #15) in real Chromium, on the relay CLI and the WebRTC mesh: the page
 * is served by a static server and names the relay with `?relay=`, so it still loads while the
 * relay is down; two virtual clients (child processes) run beside it.
 *
 * 1. Ann, Ben and Cat type into the same paragraph at once: every page ends with the same text,
 *    nothing lost; each sees the others' cursors with their names.
 * 2. With the relay down, Ann and Ben both edit; Ann reloads and her canvas (with her unsent
 *    edit) shows before any network; the relay comes back and every page merges both edits.
 * 3. Everyone closes; Zed, a brand-new profile whose only peers are the virtual clients, opens
 *    the canvas and gets it.
 * 4. Ann (the owner) makes #general's canvas editable by moderators only: Ben's turns read-only
 *    with the reason, and the relay refuses his key's canvas update (sent from Node with it).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Identity, MemoryStore, publicKeyFromText, Replica } from '@peerchat/engine'
import { encodeYjs, YJS_KIND } from '@peerchat/engine/docs'
import { connectReplica } from '@peerchat/transports/connect'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import WebSocket from 'ws'
import * as Y from 'yjs'
import { spawnVc, type VcProcess } from '../vc/vc-process.ts'
import { joinAs, type RealStack, SHOTS, startRealStack } from './real-harness.ts'
import { type StaticServer, serveStatic } from './static-server.ts'

const SEEN = { timeout: 30_000 }

let stack: RealStack | undefined
let site: StaticServer | undefined
let vcDir: string | undefined
const vcs: VcProcess[] = []
let relayUp = true
const pages: { ann?: Page; ben?: Page; cat?: Page } = {}
/** Ben's key, made here so that a Node client can write with it too. */
let benId: Identity

beforeAll(async () => {
  stack = await startRealStack({ relayArgs: ['--shell', 'ws', '--quiet'], ownBuild: true })
  site = await serveStatic(stack.dist)
  vcDir = mkdtempSync(join(tmpdir(), 'peerchat-canvas-vc-'))
  for (const name of ['vc-1', 'vc-2'])
    vcs.push(
      await spawnVc(['--relay', stack.relay.process.url, '--name', name, '--data-dir', join(vcDir, name)]),
    )
})

afterAll(async () => {
  await Promise.all(vcs.map((v) => v.stop()))
  await site?.close()
  await stack?.stop()
  if (vcDir) rmSync(vcDir, { recursive: true, force: true })
})

const relayQuery = () => `?relay=${encodeURIComponent(stack!.relay.appUrl.replace(/\/$/, ''))}`
const join_ = (name: string, fragment = '', secretKey?: string) =>
  joinAs(stack!.browser, site!.url, name, `${relayQuery()}${fragment}`, secretKey ? { secretKey } : {})

const editor = (page: Page) => page.locator('.canvas .cm-content')

async function openCanvas(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Canvas of #general' }).click()
  await editor(page).waitFor(SEEN)
}

/** The canvas text as its editor shows it, without others' cursor labels. */
function canvasText(page: Page): Promise<string> {
  return editor(page).evaluate((el) => {
    const copy = el.cloneNode(true) as HTMLElement
    for (const x of copy.querySelectorAll('.cm-ySelectionCaret, .cm-placeholder')) x.remove()
    return [...copy.querySelectorAll('.cm-line')].map((l) => l.textContent ?? '').join('\n')
  })
}

/** Types `text` at the end of the canvas, key by key. */
async function typeAtEnd(page: Page, text: string, delay = 25): Promise<void> {
  await editor(page).click()
  await page.keyboard.press('Control+End')
  await page.keyboard.type(text, { delay })
}

const sorted = (s: string) => [...s].sort().join('')

describe('channel canvases', () => {
  it('three people typing in the same paragraph end with the same text everywhere; cursors carry names', {
    timeout: 240_000,
  }, async () => {
    const printed = await stack!.relay.claimLink(30_000)
    pages.ann = await join_('Ann', new URL(printed).hash)
    await pages.ann.getByText('You own this community now').waitFor(SEEN)
    benId = await Identity.generate()
    pages.ben = await join_('Ben', '', benId.export())
    pages.cat = await join_('Cat')
    const all = [pages.ann, pages.ben, pages.cat]
    for (const p of all) await openCanvas(p)

    await typeAtEnd(pages.ann, '# Agenda\n\nBudget, venue and date:')
    for (const p of all)
      await expect.poll(() => canvasText(p), SEEN).toBe('# Agenda\n\nBudget, venue and date:')
    const words = {
      ann: ' ann-one ann-two ann-three',
      ben: ' ben-one ben-two',
      cat: ' cat-one cat-two cat-3',
    }
    const started = Date.now()
    await Promise.all([
      typeAtEnd(pages.ann, words.ann),
      typeAtEnd(pages.ben, words.ben),
      typeAtEnd(pages.cat, words.cat),
    ])
    const base = '# Agenda\n\nBudget, venue and date:'
    await expect.poll(async () => new Set(await Promise.all(all.map(canvasText))).size, SEEN).toBe(1)
    const final = await canvasText(pages.ann)
    console.log(
      `canvas: 3 typists converged ${Date.now() - started} ms after they started: ${JSON.stringify(final)}`,
    )
    // Nothing lost, nothing doubled: exactly the characters everyone typed.
    expect(sorted(final)).toBe(sorted(base + words.ann + words.ben + words.cat))
    expect(final.startsWith(base)).toBe(true)

    // Cat sees Ann's and Ben's cursors, named.
    await expect
      .poll(() => pages.cat!.locator('.cm-ySelectionInfo').allTextContents(), SEEN)
      .toEqual(expect.arrayContaining(['Ann', 'Ben']))
    expect(await pages.cat.locator('.cm-ySelectionCaret[aria-hidden="true"]').count()).toBe(2)
    await pages.cat.screenshot({ path: `${SHOTS}canvas-cursors.png` })

    // The history: who changed it and when, from the signed events; the first version restored.
    const ann = pages.ann
    await ann.getByRole('button', { name: 'History: who changed the canvas, and when' }).click()
    const versions = ann.getByRole('list', { name: 'Versions, newest first' }).getByRole('button')
    await expect
      .poll(async () => new Set((await versions.locator('strong').allTextContents()).sort()), SEEN)
      .toEqual(new Set(['Ann', 'Ben', 'Cat']))
    // The oldest: Ann's first lines (and, as typing raced, maybe her first keys after them).
    await versions.last().click()
    const preview = ann.locator('.preview .old')
    await preview.waitFor(SEEN)
    const old = (await preview.textContent()) ?? ''
    expect(old.startsWith(base)).toBe(true)
    expect(old.length).toBeLessThan(final.length)
    await ann.screenshot({ path: `${SHOTS}canvas-history.png` })
    await ann.getByRole('button', { name: 'Restore this version' }).click()
    for (const p of all) await expect.poll(() => canvasText(p), SEEN).toBe(old)
    // The restore (which went back to the editor) is a new edit of Ann's, at the top of the history.
    await ann.getByRole('button', { name: 'History: who changed the canvas, and when' }).click()
    await expect.poll(() => versions.first().locator('strong').textContent(), SEEN).toBe('Ann')
    await ann.getByRole('button', { name: 'History: who changed the canvas, and when' }).click()
  })

  it('edits made with the relay down show after a reload from this device and merge when it is back', {
    timeout: 240_000,
  }, async () => {
    const { ann, ben } = pages as Required<typeof pages>
    const before = await canvasText(ann)
    await stack!.relay.kill()
    relayUp = false
    try {
      await offlineThenBack(ann, ben, before)
    } finally {
      // Not left down: clients reconnecting to a dead loopback port for long can take it (self-connect).
      if (!relayUp) await stack!.relay.restart()
      relayUp = true
    }
  })

  async function offlineThenBack(ann: Page, ben: Page, before: string): Promise<void> {
    await expect.poll(() => ann.locator('.conn').textContent(), SEEN).not.toContain('online')
    await typeAtEnd(ann, '\n- Ann, offline: book the room')
    await typeAtEnd(ben, '\n- Ben, offline: bring snacks')
    // Ann reloads with the relay still down: the canvas opens from IndexedDB, her unsent edit in it.
    await ann.reload()
    await ann.getByRole('log', { name: 'Messages in general' }).waitFor(SEEN)
    await openCanvas(ann)
    await expect.poll(() => canvasText(ann), SEEN).toBe(`${before}\n- Ann, offline: book the room`)
    await ann.screenshot({ path: `${SHOTS}canvas-offline-reload.png` })

    await stack!.relay.restart()
    relayUp = true
    for (const p of [ann, ben, pages.cat!])
      await expect
        .poll(() => canvasText(p), SEEN)
        .toMatch(
          /^[\s\S]*- Ann, offline: book the room[\s\S]*- Ben, offline: bring snacks|[\s\S]*- Ben, offline: bring snacks[\s\S]*- Ann, offline: book the room/,
        )
    await expect
      .poll(async () => new Set(await Promise.all([ann, ben, pages.cat!].map(canvasText))).size, SEEN)
      .toBe(1)
  }

  it("a canvas editable by moderators only is read-only for a member, and the relay refuses his key's update", {
    timeout: 240_000,
  }, async () => {
    if (!relayUp) await stack!.relay.restart()
    const { ann, ben } = pages as Required<typeof pages>
    const before = await canvasText(ann)
    await ann.getByRole('button', { name: 'Community settings' }).click()
    const dialog = ann.getByRole('dialog', { name: 'Community settings' })
    await dialog.getByRole('tab', { name: 'Channels' }).click()
    await dialog.getByRole('combobox', { name: 'Canvas of #general editable by' }).selectOption('moderator')
    await dialog.getByRole('button', { name: 'Close' }).click()
    // Ben's canvas turns read-only, saying why; his keys change nothing.
    await ben.getByText(/Read-only: .*only moderators and above may edit it/).waitFor(SEEN)
    await editor(ben).click()
    await ben.keyboard.type('ben was here')
    expect(await canvasText(ben)).toBe(before)
    await ben.screenshot({ path: `${SHOTS}canvas-read-only.png` })

    // Ben's key from outside the app (a Node client on the relay): the relay refuses the update.
    const relayKey = publicKeyFromText(stack!.relay.process.relayKey)
    const replica = await Replica.open({ store: new MemoryStore(), relayKeys: [relayKey], signer: benId })
    const conn = connectReplica(replica, {
      relayUrl: stack!.relay.process.url,
      relayKey,
      WebSocket: WebSocket as never,
      identity: benId,
      webrtc: false,
      fallback: false,
    })
    try {
      const doc = new Y.Doc()
      doc.getText('markdown').insert(0, 'forged by a member ')
      const write = await replica.write(
        'general',
        YJS_KIND,
        encodeYjs({ doc: 'canvas', update: Y.encodeStateAsUpdate(doc) }),
      )
      await expect(replica.stamped(write)).rejects.toThrow(/editable by moderator and above/)
    } finally {
      await conn.stop()
      await replica.stop()
    }
    expect(await canvasText(ann)).toBe(before)
  })

  it('a newcomer with only the virtual clients online gets the canvas from them', {
    timeout: 240_000,
  }, async () => {
    if (!relayUp) await stack!.relay.restart()
    const expected = await canvasText(pages.ann!)
    // The virtual clients hold the channel's canvas events (stamped `yjs` events like any other).
    for (const name of ['ann', 'ben', 'cat'] as const) {
      await pages[name]!.context().close()
      delete pages[name]
    }
    const zed = await join_('Zed')
    await openCanvas(zed)
    await expect.poll(() => canvasText(zed), SEEN).toBe(expected)
    await zed.screenshot({ path: `${SHOTS}canvas-newcomer.png` })
    await zed.context().close()
  })
})
