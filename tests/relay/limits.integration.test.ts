/** Limits over real sockets on the uWS shell: each one exceeded. */
import { Identity, Limits, randomBytes, signRequest } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RelayLimits, type RunningRelay, type Shell, silentLogger, startRelay } from '@peerchat/relay'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { TestClient } from './client.ts'

useNodeCrypto()
let relay: RunningRelay | null = null
afterEach(async () => {
  await relay?.stop()
  relay = null
})
const start = async (limits: Partial<RelayLimits>, channels = ['general'], shell: Shell = 'uws') => {
  relay = await startRelay({
    shell,
    relay: await Identity.generate(),
    port: 0,
    limits,
    channels,
    log: silentLogger,
  })
  return relay
}

describe('limits on a live uWS relay', () => {
  it.each<Shell>(['uws', 'ws'])(
    'maxFrameBytes on %s: a frame at the limit is answered, one byte more closes the socket with 1009',
    async (shell) => {
      const r = await start({ maxFrameBytes: 1024, maxSignalBytes: 1024 }, ['general'], shell)
      const c = await TestClient.login(r.url)
      c.sendRaw(new Uint8Array(1024))
      expect(await c.next('error')).toMatchObject({ code: 'bad_frame' })
      c.sendRaw(new Uint8Array(1025))
      expect((await c.closed).code).toBe(1009)
      // Up to twice the limit too; on the signaling path likewise (maxSignalBytes).
      const d = await TestClient.login(r.url)
      d.sendRaw(new Uint8Array(2048))
      expect((await d.closed).code).toBe(1009)
      const other = await TestClient.login(r.url)
      await other.ping()
      other.send({ type: 'tokenRequest' })
      const token = Buffer.from((await other.next('token')).token).toString('base64url')
      const signal = new WebSocket(`${r.url}/signal?token=${token}`)
      await new Promise((res) => signal.once('open', res))
      const signalClosed = new Promise<number>((res) => signal.once('close', (code) => res(code)))
      signal.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(1024) }))
      expect(await signalClosed).toBe(1009)
    },
  )

  it('maxFrameBytes on uws: a frame over twice the limit is cut by uWS without a close frame (1006)', async () => {
    const r = await start({ maxFrameBytes: 1024 })
    const c = await TestClient.login(r.url)
    c.sendRaw(new Uint8Array(2049))
    expect((await c.closed).code).toBe(1006)
  })

  it('socketsPerAddress and socketsPerKey: the logged-in socket over a limit is closed with 4005 / 4006', async () => {
    const r = await start({ socketsPerAddress: 3, socketsPerKey: 2 })
    const id = await Identity.generate()
    const mine = [await TestClient.login(r.url, id), await TestClient.login(r.url, id)]
    const third = await TestClient.open(r.url)
    expect(await third.doLogin(id)).toMatchObject({ type: 'error', code: 'too_many_connections' })
    expect(await third.closed).toEqual({ code: 4006, reason: 'too_many_connections:key' })
    const other = await TestClient.login(r.url)
    const fourth = await TestClient.open(r.url)
    expect(await fourth.doLogin(await Identity.generate())).toMatchObject({ code: 'too_many_connections' })
    expect(await fourth.closed).toEqual({ code: 4005, reason: 'too_many_connections:address' })
    // A closed socket frees its slot.
    other.close()
    await other.closed
    await new Promise((res) => setTimeout(res, 50))
    const again = await TestClient.login(r.url)
    expect(again.session).not.toBeNull()
    for (const c of [...mine, again]) c.close()
  })

  it('with the default limits one address keeps no more than 64 logged-in sockets', async () => {
    const r = await start({ unauthenticatedPerAddress: 100 })
    const open = await Promise.all(Array.from({ length: 64 }, () => TestClient.login(r.url)))
    expect(open.every((c) => c.session !== null)).toBe(true)
    const over = await TestClient.open(r.url)
    expect(await over.doLogin(await Identity.generate())).toMatchObject({ code: 'too_many_connections' })
    expect((await over.closed).code).toBe(4005)
    for (const c of open) c.close()
  })

  it('unauthenticatedPerAddress: the socket over the limit is closed with too_many_connections', async () => {
    const r = await start({ unauthenticatedPerAddress: 3 })
    const open = await Promise.all([0, 1, 2].map(() => TestClient.open(r.url)))
    const fourth = await TestClient.open(r.url)
    expect(await fourth.next('error')).toMatchObject({ code: 'too_many_connections' })
    expect((await fourth.closed).code).toBe(4003)
    for (const c of open) c.close()
  })

  it('authDeadlineMs: a socket that never logs in is closed with auth_timeout', async () => {
    const r = await start({ authDeadlineMs: 300 })
    const c = await TestClient.open(r.url)
    const closed = await c.closed
    expect(closed).toEqual({ code: 4002, reason: 'auth_timeout' })
  })

  it('eventsPerSecondPerKey: events over the burst are refused with rate_limited and the clientNonce', async () => {
    const r = await start({ eventsPerSecondPerKey: 0.001, eventBurstPerKey: 2 })
    const id = await Identity.generate()
    const c = await TestClient.login(r.url, id)
    const reqs = await Promise.all(
      [0, 1, 2].map(() =>
        signRequest(id, {
          channel: 'general',
          kind: 'message',
          clientNonce: randomBytes(16),
          body: new Uint8Array(1),
        }),
      ),
    )
    for (const request of reqs) c.send({ type: 'publish', request })
    await c.next('event')
    await c.next('event')
    expect(await c.next('error')).toMatchObject({ code: 'rate_limited', ref: reqs[2]!.clientNonce })
  })

  it('subscriptionsPerSocket: one join too many is refused', async () => {
    const r = await start({ subscriptionsPerSocket: 1 }, ['a', 'b'])
    const c = await TestClient.login(r.url)
    c.send({ type: 'join', channel: 'a' })
    c.send({ type: 'join', channel: 'b' })
    expect(await c.next('error')).toMatchObject({ code: 'too_many_subscriptions' })
  })

  it('channel name over Limits.channel bytes is a bad frame', async () => {
    const r = await start({})
    const c = await TestClient.login(r.url)
    const long = 'a'.repeat(Limits.channel + 1)
    c.sendRaw(Uint8Array.from([1, 0x03, long.length, ...Buffer.from(long)]))
    expect(await c.next('error')).toMatchObject({ code: 'bad_frame' })
  })

  it('maxBackpressureBytes: a client that stops reading is closed with slow_consumer; others keep working', async () => {
    const r = await start({
      maxBackpressureBytes: 256 * 1024,
      eventsPerSecondPerKey: 1e6,
      eventBurstPerKey: 1e6,
    })
    const slow = await TestClient.login(r.url)
    slow.send({ type: 'join', channel: 'general' })
    await slow.next('presenceSnapshot')
    const fast = await TestClient.login(r.url)
    fast.send({ type: 'join', channel: 'general' })
    await fast.next('presenceSnapshot')
    const id = await Identity.generate()
    const author = await TestClient.login(r.url, id)
    // Stop reading: the kernel buffers fill, then the relay's buffer grows.
    const raw = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
    raw.pause()
    const body = randomBytes(40 * 1024)
    let sent = 0
    const deadline = Date.now() + 20_000
    // ~800 KB/s: below what the 250 ms sweep catches between the soft limit and uWS's hard cap (4x).
    while (Date.now() < deadline && sent < 2000) {
      const request = await signRequest(id, {
        channel: 'general',
        kind: 'message',
        clientNonce: randomBytes(16),
        body,
      })
      author.send({ type: 'publish', request })
      sent++
      await new Promise((res) => setTimeout(res, 50))
      const m = await fetch(`http://127.0.0.1:${r.port}/metrics`).then((x) => x.text())
      if (/peerchat_relay_backpressure_drops_total 1/.test(m)) break
    }
    raw.resume()
    const closed = await slow.closed
    expect(closed).toEqual({ code: 4008, reason: 'slow_consumer' })
    await fast.ping()
    expect(fast.isClosed).toBe(false)
  })

  it('idleTimeoutSeconds: a peer that answers no pings is closed (uWS granularity: 8 s minimum)', async () => {
    const r = await start({ idleTimeoutSeconds: 8, authDeadlineMs: 60_000 })
    const ws = new WebSocket(`${r.url}/relay`, { autoPong: false })
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)))
    // Not the auth deadline (60 s): the idle timer closed it, abnormally (no close frame).
    expect(code).toBe(1006)
  }, 30_000)
})
