/**
 * The real client with its relay unreachable (a closed port), on fake-indexeddb: `start`
 * returns without waiting for the network, stored channels and history show at once (the page
 * says peers may have more), and a message written offline is pending at once and still
 * pending after a restart (the persisted outbox). With the relay up, in Chromium:
 * tests/e2e/real-offline.test.ts.
 */
import 'fake-indexeddb/auto'
import { createServer } from 'node:net'
import { Identity, publicKeyToText, type Write } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, toStored } from '@peerchat/engine/testing'
import { openIndexedDbOutbox, openIndexedDbStore } from '@peerchat/store-indexeddb'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import { beforeAll, describe, expect, it } from 'vitest'
import { RealClient } from '../src/client/real.ts'
import type { RelayConfig } from '../src/client/relay-config.ts'

beforeAll(() => {
  useNodeCrypto()
  nodeWebrtc() // the WebSocket global the relay client dials with
})

/** A loopback port nobody listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('RealClient with the relay down', () => {
  it('starts from storage at once; an offline write is pending, and still is after a restart', async () => {
    const [relay, ann, me] = await Promise.all([
      Identity.generate(),
      Identity.generate(),
      Identity.generate(),
    ])
    const stored = await signedPool({
      channel: 'general',
      relay,
      authors: [ann],
      count: 30,
      start: Date.now() - 60_000,
    })
    const config: RelayConfig = {
      url: `ws://127.0.0.1:${await closedPort()}`,
      relayKey: relay.publicKey,
      room: 'community',
      access: 'open',
      iceServers: [],
    }
    const seed = await openIndexedDbStore({ relayKey: relay.publicKey })
    await seed.putMany('general', stored.map(toStored))
    await seed.close()
    const open = async () =>
      new RealClient({
        signer: me,
        name: 'Me',
        config,
        store: await openIndexedDbStore({ relayKey: relay.publicKey }),
        outbox: await openIndexedDbOutbox({ relayKey: relay.publicKey, author: me.publicKey }),
      })

    const client = await open()
    await client.start()
    expect(client.connection()).not.toBe('online')
    expect(client.channels().map((c) => c.name)).toEqual(['general'])
    const page = await client.history('general', { limit: 10 })
    expect(page.events.map((e) => e.id)).toEqual(stored.slice(-10).map((e) => e.id))
    const rest = await client.history('general', { before: page.events[0]!.id, limit: 100 })
    expect(rest.events).toHaveLength(20)
    // Nobody could be asked yet: peers may hold older events.
    expect(rest.complete).toBe(false)
    // Ann's messages are unread (counted from the store in the background).
    await expect.poll(() => client.channels()[0]!.unread, { timeout: 5_000 }).toBe(30)

    const writes: Write[] = []
    client.on('write', (w) => writes.push(w))
    const out = await client.send('general', 'written with the relay down')
    expect(writes.map((w) => [w.key, w.state])).toEqual([[out.key, 'pending']])
    expect(client.writes('general').map((w) => w.key)).toEqual([out.key])
    const provenance = await client.provenance('general', stored[0]!.id)
    expect(provenance).toMatchObject({ authorSignature: true, relayStamp: true, source: { via: 'local' } })
    expect(client.members().map((m) => m.id)).toContain(publicKeyToText(me.publicKey))
    client.stop()

    const again = await open()
    await again.start()
    expect(again.writes('general').map((w) => [w.key, w.state])).toEqual([[out.key, 'pending']])
    again.stop()
  })
})
