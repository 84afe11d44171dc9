/**
 * The relay client against the real relay (uWS shell) on loopback: login, verified presence,
 * stamping acks, fan-out, the outbox across a relay restart, and signaling tokens.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeToken, Identity, publicKeyFromText, type StampedEvent, utf8 } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, silentLogger, startRelay } from '@peerchat/relay'
import { RelayClient } from '@peerchat/transports'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { spawnRelay } from '../relay/relay-process.ts'

useNodeCrypto()

const LIMITS = { unauthenticatedPerAddress: 1000, framesPerSecondPerAddress: 1e6, frameBurstPerAddress: 1e6 }
const running: { stop(): Promise<void> }[] = []
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop()
})

async function relayOn(relayId: Identity): Promise<RunningRelay> {
  const r = await startRelay({
    relay: relayId,
    port: 0,
    channels: ['general'],
    limits: LIMITS,
    log: silentLogger,
  })
  running.push(r)
  return r
}

function client(relay: RunningRelay, identity: Identity, pin = true): RelayClient {
  const c = new RelayClient({
    url: `${relay.url}/relay`,
    identity,
    relayKey: pin ? relay.relayKey : undefined,
    channels: ['general'],
    WebSocket: WebSocket as never,
    backoff: { initialMs: 50, maxMs: 200 },
  })
  running.push(c)
  return c
}

const until = async (cond: () => boolean, what: string, ms = 10_000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('RelayClient', () => {
  it('logs in, sees verified presence, and gets its own event back as the ack', async () => {
    const relay = await relayOn(await Identity.generate())
    const alice = await Identity.generate()
    const bob = await Identity.generate()
    const a = client(relay, alice)
    const b = client(relay, bob)
    const seenByB: StampedEvent[] = []
    b.on('event', (e) => seenByB.push(e))
    await a.start()
    await b.start()
    await until(() => a.state === 'online' && b.state === 'online', 'both online')
    await until(() => a.members('general').size === 2, 'presence of both in general')
    expect(a.session?.value.publicKey).toEqual(alice.publicKey)

    const acked = await a.publish({ channel: 'general', kind: 'message', body: utf8('hello') })
    expect(acked.author).toEqual(alice.publicKey)
    expect(a.outboxSize).toBe(0)
    await until(() => seenByB.length === 1, 'fan-out to bob')
    expect(seenByB[0]!.id).toBe(acked.id)
  })

  it('refuses a relay whose key differs from the pinned one', async () => {
    const relay = await relayOn(await Identity.generate())
    const c = new RelayClient({
      url: `${relay.url}/relay`,
      identity: await Identity.generate(),
      relayKey: (await Identity.generate()).publicKey,
      WebSocket: WebSocket as never,
      backoff: { initialMs: 1000, maxMs: 1000 },
    })
    running.push(c)
    const errors: string[] = []
    c.on('error', (e) => errors.push(e.code))
    await c.start()
    await until(() => errors.includes('relay_key_mismatch'), 'the mismatch error')
    expect(c.state).not.toBe('online')
  })

  it('keeps messages typed while the relay is down (SIGKILL) and sends each exactly once after it restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'peerchat-relay-'))
    // Both runs use the `ws` shell (the same core): the uWS build cannot re-bind a port while the
    // killed relay's sockets sit in TIME_WAIT (about 60 s; it sets no SO_REUSEADDR). In production
    // the relay CLI retries its listen for that long instead.
    const args = [
      '--data-dir',
      dataDir,
      '--quiet',
      '--shell',
      'ws',
      '--limit',
      'unauthenticatedPerAddress=1000',
    ]
    let proc = await spawnRelay(args)
    const relayKey = publicKeyFromText(proc.relayKey)
    const options = (identity: Identity) => ({
      url: `${proc.url}/relay`,
      identity,
      relayKey,
      channels: ['general'],
      WebSocket: WebSocket as never,
      backoff: { initialMs: 50, maxMs: 200 },
    })
    const a = new RelayClient(options(await Identity.generate()))
    running.push(a)
    await a.start()
    await until(() => a.state === 'online', 'online')

    proc.child.kill('SIGKILL')
    await until(() => a.state !== 'online', 'noticing the relay is gone')
    const sends = [1, 2, 3].map((i) =>
      a.publish({ channel: 'general', kind: 'message', body: utf8(`offline ${i}`) }),
    )
    await until(() => a.outboxSize === 3, 'three queued requests')

    proc = await spawnRelay([...args, '--port', String(proc.port)])
    running.push({ stop: async () => void (await proc.stop()) })
    const watcherEvents: StampedEvent[] = []
    const w = new RelayClient(options(await Identity.generate()))
    running.push(w)
    w.on('event', (e) => watcherEvents.push(e))
    await w.start()
    await until(() => w.state === 'online', 'the watcher online')
    const acks = await Promise.all(sends)
    expect(a.outboxSize).toBe(0)
    expect(new Set(acks.map((e) => e.id)).size).toBe(3)
    await until(() => watcherEvents.length >= 3, 'the watcher to see them')
    await new Promise((r) => setTimeout(r, 200))
    expect(watcherEvents.map((e) => new TextDecoder().decode(e.body)).sort()).toEqual([
      'offline 1',
      'offline 2',
      'offline 3',
    ])
  })

  it('obtains a short-lived signaling token bound to its session', async () => {
    const relay = await relayOn(await Identity.generate())
    const id = await Identity.generate()
    const c = client(relay, id)
    await c.start()
    await until(() => c.state === 'online', 'online')
    const { token, expires } = await c.requestToken()
    const decoded = decodeToken(token)
    expect(decoded.value.publicKey).toEqual(id.publicKey)
    expect(expires).toBeGreaterThan(Date.now())
  })
})
