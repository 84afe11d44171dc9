/**
 * VirtualClient against a real relay process (relay link only, so it can run in the test's
 * own process): its key file, the channels it joins (listed at login and added later), live
 * events into its FileStore, a restart that keeps both key and history, and a start while the
 * relay is unreachable (offline, from its store).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Identity,
  KEY_PACKAGE_CHANNEL,
  kindsAllowedIn,
  publicKeyFromText,
  publicKeyToText,
  utf8,
  WELCOME_CHANNEL,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
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
  it('joins every channel the relay lists or adds, stores live events, restarts with key and history, and starts offline', {
    timeout: 60_000,
  }, async () => {
    relay = await spawnRelay(['--data-dir', join(dir, 'relay'), '--quiet', '--create', 'everyone'])
    const dataDir = join(dir, 'vc')
    // No relay key given: it is read from the relay's well-known JSON.
    const vc = await VirtualClient.start({ relayUrl: relay.url, dataDir, webrtc: false, name: 'vc-test' })
    cleanup.push(() => vc.stop())
    expect(statSync(join(dataDir, 'vc.key')).mode & 0o777).toBe(0o600)
    await until(() => vc.replica.channels.includes('general'), 'the channel listed at login to be joined')
    // The listed channel, and where encrypted groups' key packages and Welcomes go (ciphertext).
    expect([...vc.replica.channels].sort()).toEqual(['general', KEY_PACKAGE_CHANNEL, WELCOME_CHANNEL].sort())

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
    await until(() => vc.replica.channels.includes('random'), 'the new channel to be joined')
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
    await again.stop()

    // The relay answers its well-known JSON, then is unreachable (here: a server that serves that
    // JSON and refuses every WebSocket). Start resolves at once, offline: the stored history is
    // there and the counters work; the relay client keeps retrying underneath. Before the
    // Replica, start waited for the login and rejected after 30 s.
    const wellKnownOnly = await serveWellKnown(relay.relayKey)
    cleanup.push(() => new Promise((r) => wellKnownOnly.close(() => r())))
    const url = `http://127.0.0.1:${(wellKnownOnly.address() as AddressInfo).port}`
    const offline = await VirtualClient.start({ relayUrl: url, dataDir, webrtc: false })
    cleanup.push(() => offline.stop())
    expect(offline.connected?.relay.state).not.toBe('online')
    expect(offline.replica.channels.filter((c) => !kindsAllowedIn(c))).toEqual(['general', 'random'])
    expect((await offline.counters()).eventsHeld).toBe(held.eventsHeld)
    await offline.stop()
  })
})

/** An HTTP server that serves only the relay's well-known JSON (no relay behind it). */
function serveWellKnown(relayKey: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/peerchat.json')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ relayKey }))
    res.writeHead(404).end()
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}
