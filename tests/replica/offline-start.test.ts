/**
 * A replica started while its relay is down: nothing throws or waits, a write shows at once as
 * pending, and it is stamped once the relay comes up (real relay process, real WebSocket).
 * Before the Replica, `connectPeer` rejected after 30 s with the relay down and a write was
 * invisible until stamped.
 */
import { type Change, Identity, MemoryStore, publicKeyToText, Replica, utf8 } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { connectReplica } from '@peerchat/transports/connect'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { freePort } from '../../transports/test/webrtc/remote.ts'
import { until } from '../peer/scenario.ts'
import { spawnRelay } from '../relay/relay-process.ts'

describe('offline start', () => {
  it('writes while the relay is down show at once and are stamped once it is up', async () => {
    useNodeCrypto()
    const relayIdentity = await Identity.generate()
    const port = await freePort()
    const identity = await Identity.generate()
    const replica = await Replica.open({
      store: new MemoryStore(),
      relayKeys: [relayIdentity.publicKey],
      signer: identity,
    })
    const connection = connectReplica(replica, {
      relayUrl: `ws://127.0.0.1:${port}`,
      relayKey: relayIdentity.publicKey,
      identity,
      WebSocket: WebSocket as never,
      webrtc: false,
    })
    const changes: Change[] = []
    await replica.subscribe('general', (c) => changes.push(c))
    const write = await replica.write('general', 'message', utf8('written offline'))
    // Reached with no relay at all: neither connectReplica (synchronous) nor write waited for a login.
    expect(changes.flatMap((c) => c.writes).map((w) => w.state)).toEqual(['pending'])
    expect(connection.relay.state).not.toBe('online')

    const relay = await spawnRelay(['--port', String(port)], { PEERCHAT_RELAY_KEY: relayIdentity.export() })
    try {
      expect(relay.relayKey).toBe(publicKeyToText(relayIdentity.publicKey))
      const up = Date.now()
      await until(() => write.state === 'stamped', 'the offline write to be stamped', 60_000)
      console.log(`stamped ${Date.now() - up} ms after the relay came up`)
      expect(
        changes.some((c) => c.source.via === 'relay' && c.added.some((e) => e.id === write.event!.id)),
      ).toBe(true)
      expect(await replica.open('general').count()).toBe(1)
    } finally {
      await connection.stop()
      await replica.stop()
      await relay.stop()
    }
  })
})
