/**
 * Voice, the trust & sync panel and channel creation, in real Chromium against the real relay
 * (a child process serving the built app) and a virtual client (a child process). Chromium's fake
 * microphone (a tone) stands in for a person. Three browsers join: Ann imports the key the relay
 * was started with as an admin.
 *
 * - The status panel lists the other browsers as client peers and the virtual client as virtual,
 *   each over WebRTC, and says where the channel's history came from.
 * - Ann (admin) creates a channel the others see; Ben (no create privilege) gets no button.
 * - All three join voice in #general: the mesh connects, and every browser receives audio from
 *   both others (non-zero and growing `bytesReceived` on inbound-rtp audio in getStats); mute
 *   shows on the others' side; leaving drops out of everyone's room.
 * - A call keeps its audio while the relay is down and after it comes back (voice is peer to peer).
 * - An invite-only relay is shown as such.
 * - Without the fake permission UI, a denied microphone is explained.
 * Screenshots of these views (light and dark, desktop and phone) land in tests/e2e/screenshots/.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity, publicKeyToText } from '@peerchat/engine'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnVc, type VcProcess } from '../vc/vc-process.ts'
import { FAKE_MEDIA, launchChromium } from './browser.ts'
import {
  composer,
  joinAs,
  type RealRelay,
  type RealStack,
  SHOTS,
  startRealRelay,
  startRealStack,
} from './real-harness.ts'

const SEEN = { timeout: 20_000 }
const PHONE = { width: 390, height: 844 }

/** Records every RTCPeerConnection the page makes, so the test can read their statistics. */
const RECORD_PEER_CONNECTIONS = `(() => {
  const Native = window.RTCPeerConnection
  const all = []
  window.__peerConnections = all
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); all.push(this) }
  }
})()`

let relay: RealRelay
let browser: Browser
let admin: Identity
let vc: VcProcess
let vcDir: string

let stack: RealStack | undefined
beforeAll(async () => {
  admin = await Identity.generate()
  stack = await startRealStack({
    relayArgs: [`--admin=${publicKeyToText(admin.publicKey)}`],
    chromiumArgs: FAKE_MEDIA,
  })
  ;({ relay, browser } = stack)
  vcDir = mkdtempSync(join(tmpdir(), 'peerchat-e2e-vc-'))
  vc = await spawnVc(['--relay', relay.process.url, '--name', 'vc1', '--data-dir', join(vcDir, 'vc1')])
})

afterAll(async () => {
  await vc?.stop()
  await stack?.stop()
  if (vcDir) rmSync(vcDir, { recursive: true, force: true })
})

/** Audio bytes received per open peer connection that carries inbound audio (getStats, inbound-rtp). */
function inboundAudio(page: Page): Promise<number[]> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __peerConnections: RTCPeerConnection[] }).__peerConnections
    const out: number[] = []
    for (const pc of pcs) {
      if (pc.connectionState === 'closed') continue
      let bytes: number | undefined
      ;(await pc.getStats()).forEach((r: { type: string; kind?: string; bytesReceived?: number }) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') bytes = (bytes ?? 0) + (r.bytesReceived ?? 0)
      })
      if (bytes !== undefined) out.push(bytes)
    }
    return out
  })
}

/** Every one of `links` inbound audio streams has bytes, and keeps receiving more. */
async function expectAudioFlowing(page: Page, links: number): Promise<void> {
  await expect
    .poll(async () => (await inboundAudio(page)).filter((bytes) => bytes > 0).length, SEEN)
    .toBe(links)
  const before = await inboundAudio(page)
  await expect
    .poll(async () => {
      const now = await inboundAudio(page)
      return now.length === before.length && now.every((bytes, i) => bytes > before[i]!)
    }, SEEN)
    .toBe(true)
}

const voiceStrip = (page: Page) => page.getByRole('region', { name: /^Voice in #/ })
const membersInVoice = (page: Page) =>
  voiceStrip(page).getByRole('list', { name: 'In voice' }).getByRole('listitem')

async function openStatus(page: Page) {
  await page.getByRole('button', { name: 'Trust and sync status' }).click()
  const dialog = page.getByRole('dialog', { name: 'Trust & sync status' })
  await dialog.waitFor()
  return dialog
}

describe('voice, sync status and admin on the real relay', () => {
  it('status panel, channel creation, and a three-way voice call with audio flowing', async () => {
    const join = (name: string, secretKey?: string) =>
      joinAs(browser, relay.appUrl, name, '', {
        initScript: RECORD_PEER_CONNECTIONS,
        ...(secretKey ? { secretKey } : {}),
      })
    const ann = await join('Ann', admin.export())
    const ben = await join('Ben')
    const cat = await join('Cat')
    const all = [ann, ben, cat]
    await composer(ann).fill('voice check in five')
    await composer(ann).press('Enter')

    // The status panel: peers by kind and link (the other browsers and the virtual client, each
    // over a direct WebRTC data channel), history coverage, bytes.
    const status = await openStatus(ben)
    const peerRows = status.getByRole('table', { name: /^Peers/ }).locator('tbody tr')
    await expect
      .poll(() => peerRows.allTextContents(), SEEN)
      .toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^Ann\s*client\s*WebRTC \(direct\)/),
          expect.stringMatching(/^Cat\s*client\s*WebRTC \(direct\)/),
          expect.stringMatching(/virtual client\s*WebRTC \(direct\)/),
        ]),
      )
    const general = status.getByRole('row', { name: /#general/ })
    await expect.poll(() => general.textContent(), SEEN).toMatch(/live from the relay/)
    expect(await status.textContent()).toMatch(/open to anyone with a key/)
    await ben.screenshot({ path: `${SHOTS}real-status-light.png` })
    await ben.keyboard.press('Escape')
    await expect.poll(() => status.isVisible()).toBe(false)
    // Focus returns to the button that opened the dialog.
    await expect
      .poll(() => ben.evaluate(() => document.activeElement?.getAttribute('aria-label')))
      .toBe('Trust and sync status')

    // The people list marks the virtual client too.
    await expect
      .poll(
        () => ben.getByRole('complementary', { name: 'People' }).getByText('virtual client').count(),
        SEEN,
      )
      .toBe(1)

    // Admin: Ann may create channels (by her attestation), Ben may not; everyone sees the new one.
    expect(await ben.getByRole('button', { name: 'Create a channel' }).count()).toBe(0)
    await ann.getByRole('button', { name: 'Create a channel' }).click()
    await ann.getByLabel('New channel name').fill('voice-lab')
    await ann.screenshot({ path: `${SHOTS}real-create-channel-light.png` })
    await ann.getByRole('button', { name: 'Create', exact: true }).click()
    await expect.poll(() => ann.getByRole('heading', { level: 1 }).textContent(), SEEN).toBe('# voice-lab')
    for (const page of all)
      await expect.poll(() => page.getByRole('button', { name: /^voice-lab/ }).count(), SEEN).toBe(1)
    await composer(ann, 'voice-lab').fill('first in the new channel')
    await composer(ann, 'voice-lab').press('Enter')
    await ben.getByRole('button', { name: /^voice-lab/ }).click()
    await expect.poll(() => ben.getByText('first in the new channel').count(), SEEN).toBe(1)
    await ann.getByRole('button', { name: /^general/ }).click()
    await ben.getByRole('button', { name: /^general/ }).click()

    // Voice: everyone joins #general's room; each connects to the two others.
    for (const page of all) await page.getByRole('button', { name: /^Join voice in #general/ }).click()
    for (const page of all) {
      await expect.poll(() => membersInVoice(page).count(), SEEN).toBe(3)
      await expect.poll(() => voiceStrip(page).locator('.member.connected').count(), SEEN).toBe(2)
    }
    // Audio flows both ways on every link: each browser receives from both others, and keeps receiving.
    for (const page of all) await expectAudioFlowing(page, 2)
    // The fake microphone's tone lights the speaking indicator somewhere in the room.
    await expect.poll(() => voiceStrip(ann).locator('.member.speaking').count(), SEEN).toBeGreaterThan(0)
    // The channel list shows who is in voice.
    await expect.poll(() => ben.getByRole('button', { name: /^general.*3 in voice/ }).count(), SEEN).toBe(1)

    // Ann switches microphones (Chromium's fake devices): the track is replaced in every call and
    // the others keep receiving her audio.
    const mic = voiceStrip(ann).getByRole('combobox', { name: 'Microphone' })
    const devices = await mic
      .locator('option')
      .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))
    expect(devices.length).toBeGreaterThan(1)
    await mic.selectOption(devices[1]!)
    await expect.poll(() => mic.inputValue(), SEEN).toBe(devices[1])
    for (const page of [ben, cat]) await expectAudioFlowing(page, 2)

    // Mute is a hint the others see.
    await ben.getByRole('button', { name: 'Mute microphone' }).click()
    await expect
      .poll(
        () =>
          voiceStrip(ann)
            .getByRole('listitem', { name: /^Ben: .*muted/ })
            .count(),
        SEEN,
      )
      .toBe(1)
    await ann.screenshot({ path: `${SHOTS}real-voice-light.png` })

    // Phone width, dark: the voice strip and the status panel.
    await ben.setViewportSize(PHONE)
    await ben.getByRole('button', { name: 'Switch to dark theme' }).click()
    await ben.screenshot({ path: `${SHOTS}real-voice-phone-dark.png` })
    // The status panel shows the audio of each call, from the same getStats.
    const benStatus = await openStatus(ben)
    const calls = benStatus.getByRole('list', { name: /^Voice/ }).getByRole('listitem')
    await expect
      .poll(() => calls.allTextContents(), SEEN)
      .toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^\s*Ann \(connected\): [1-9][\d.]* (B|KB|MB) of audio received/),
          expect.stringMatching(/^\s*Cat \(connected\): [1-9][\d.]* (B|KB|MB) of audio received/),
        ]),
      )
    await calls.first().scrollIntoViewIfNeeded()
    await ben.screenshot({ path: `${SHOTS}real-status-phone-dark.png` })
    await ben.keyboard.press('Escape')
    await ann.getByRole('button', { name: 'Switch to dark theme' }).click()
    await ann.screenshot({ path: `${SHOTS}real-voice-dark.png` })

    // Cat leaves: the others' rooms shrink to two, and Cat's strip is gone.
    await voiceStrip(cat).getByRole('button', { name: 'Leave voice' }).click()
    await expect.poll(() => voiceStrip(cat).count(), SEEN).toBe(0)
    for (const page of [ann, ben]) await expect.poll(() => membersInVoice(page).count(), SEEN).toBe(2)

    for (const page of all) await page.context().close()
  })

  it('a call goes on while the relay is down: audio is peer to peer', async () => {
    // The `ws` shell (same core): uWS cannot re-bind a port whose sockets are in TIME_WAIT.
    const own = await startRealRelay(['--shell', 'ws', '--quiet'])
    try {
      const join = (name: string) =>
        joinAs(browser, own.appUrl, name, '', { initScript: RECORD_PEER_CONNECTIONS })
      const eve = await join('Eve')
      const fay = await join('Fay')
      for (const page of [eve, fay])
        await page.getByRole('button', { name: /^Join voice in #general/ }).click()
      for (const page of [eve, fay])
        await expect.poll(() => voiceStrip(page).locator('.member.connected').count(), SEEN).toBe(1)

      await own.kill()
      await expect.poll(() => eve.locator('.conn').textContent(), SEEN).not.toContain('online')
      // Audio keeps arriving with no relay at all, both ways, and the call stays up.
      for (const page of [eve, fay]) await expectAudioFlowing(page, 1)
      expect(await voiceStrip(eve).locator('.member.connected').count()).toBe(1)

      await own.restart()
      await expect.poll(() => eve.locator('.conn').textContent(), { timeout: 30_000 }).toContain('online')
      for (const page of [eve, fay]) await expectAudioFlowing(page, 1)
      expect(await voiceStrip(fay).locator('.member.connected').count()).toBe(1)
      for (const page of [eve, fay]) await page.context().close()
    } finally {
      await own.stop()
    }
  })

  it('shows an invite-only relay as such', async () => {
    const own = await startRealRelay([
      '--shell',
      'ws',
      '--quiet',
      '--access',
      'invite',
      `--admin=${publicKeyToText(admin.publicKey)}`,
    ])
    try {
      // Only an admin logs in without an invite.
      const ann = await joinAs(browser, own.appUrl, 'Ann', '', { secretKey: admin.export() })
      await expect
        .poll(() => ann.getByRole('navigation').getByText('Invite-only community').count(), SEEN)
        .toBe(1)
      const status = await openStatus(ann)
      await expect.poll(() => status.textContent(), SEEN).toContain('invite-only')
      await ann.context().close()
    } finally {
      await own.stop()
    }
  })

  it('explains a denied microphone', async () => {
    const strict = await launchChromium(['--use-fake-device-for-media-stream', '--deny-permission-prompts'])
    try {
      const dan = await joinAs(strict, relay.appUrl, 'Dan')
      await dan.getByRole('button', { name: /^Join voice in #general/ }).click()
      await expect
        .poll(() => dan.getByRole('alert').filter({ hasText: 'Microphone access was denied' }).count(), SEEN)
        .toBe(1)
      expect(await dan.getByRole('region', { name: /^Voice in #/ }).count()).toBe(0)
      await dan.screenshot({ path: `${SHOTS}real-voice-denied-light.png` })
      await dan.getByRole('button', { name: 'Dismiss' }).click()
      await expect.poll(() => dan.getByRole('alert').filter({ hasText: 'Microphone' }).count(), SEEN).toBe(0)
    } finally {
      await strict.close()
    }
  })
})
