/**
 * VirtualClient against a real relay process (relay link only, so it can run in the test's
 * own process): its key file, the channels it joins (listed at login and added later), live
 * events into its FileStore, and a restart that keeps both key and history.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity, Kind, publicKeyFromText, publicKeyToText, utf8 } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { RelayClient } from '@peerchat/transports/relay'
import { VirtualClient } from '@peerchat/virtual-client'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'

useNodeCrypto()
const dir = mkdtempSync(join(tmpdir(), 'peerchat-vc-'))
let relay: RelayProcess | undefined
const cleanup: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanup) await c()
  await relay?.stop()
  rmSync(dir, { recursive: true, force: true })
})

const until = async (cond: () => Promise<boolean> | boolean, what: string, ms = 20_000) => {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('VirtualClient', () => {
  it('joins every channel the relay lists or adds, stores live events, and restarts with key and history', {
    timeout: 60_000,
  }, async () => {
    relay = await spawnRelay(['--data-dir', join(dir, 'relay'), '--quiet', '--create', 'everyone'])
    const dataDir = join(dir, 'vc')
    // No relay key given: it is read from the relay's well-known JSON.
    const vc = await VirtualClient.start({ relayUrl: relay.url, dataDir, webrtc: false, name: 'vc-test' })
    cleanup.push(() => vc.stop())
    expect(statSync(join(dataDir, 'vc.key')).mode & 0o777).toBe(0o600)
    expect(vc.connected?.peer.channels).toEqual(['general'])

    const poster = new RelayClient({
      url: `${relay.url}/relay`,
      identity: await Identity.generate(),
      relayKey: publicKeyFromText(relay.relayKey),
      WebSocket: WebSocket as never,
    })
    await poster.start()
    cleanup.push(() => poster.stop())
    await poster.publish({ channel: 'general', kind: Kind.message, body: utf8('hello') })
    await until(async () => (await vc.counters()).eventsHeld === 1, 'the live event to be stored')

    await poster.publish({ channel: 'random', kind: Kind.channelCreate, body: utf8('{}') })
    await until(() => vc.connected?.peer.channels.includes('random') ?? false, 'the new channel to be joined')
    await poster.publish({ channel: 'random', kind: Kind.message, body: utf8('hi random') })
    await until(async () => (await vc.counters()).eventsHeld >= 2, 'the event of the new channel')
    const key = vc.publicKey
    const held = await vc.counters()
    await vc.stop()
    await vc.stop() // idempotent

    const again = await VirtualClient.start({
      relayUrl: relay.url,
      relayKey: relay.relayKey,
      dataDir,
      webrtc: false,
    })
    cleanup.push(() => again.stop())
    expect(again.publicKey).toBe(key)
    expect((await again.counters()).eventsHeld).toBe(held.eventsHeld)
    expect(await again.store.channels()).toEqual(['general', 'random'])

    // A pinned key the relay does not present is refused before any login.
    const stranger = (await Identity.generate()).publicKey
    await expect(
      VirtualClient.start({
        relayUrl: relay.url,
        relayKey: publicKeyToText(stranger),
        dataDir: join(dir, 'vc-wrong'),
        webrtc: false,
      }),
    ).rejects.toThrow(/presents key/)
  })
})
