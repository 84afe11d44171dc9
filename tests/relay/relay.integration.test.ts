/**
 * The relay over real sockets on loopback, with `ws` clients, on both shells (uWS and the ws
 * baseline run the same core): login, presence, stamping and fan-out, idempotent retry.
 */
import {
  decodeSession,
  Identity,
  randomBytes,
  signRequest,
  verifyRelayStamp,
  verifySession,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, type Shell, silentLogger, startRelay } from '@peerchat/relay'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestClient } from './client.ts'

useNodeCrypto()

describe.each<Shell>(['uws', 'ws'])('relay on %s', (shell) => {
  let relay: RunningRelay
  const clients: TestClient[] = []
  const login = async (id?: Identity) => {
    const c = await TestClient.login(relay.url, id)
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    relay = await startRelay({
      shell,
      relay: await Identity.generate(),
      port: 0,
      channels: ['general', 'random'],
      // Every test client comes from 127.0.0.1; the per-address limits have their own tests.
      limits: { unauthenticatedPerAddress: 1000, framesPerSecondPerAddress: 1e6, frameBurstPerAddress: 1e6 },
      log: silentLogger,
    })
  })
  afterAll(async () => {
    for (const c of clients) c.close()
    await relay.stop()
  })

  it('login: challenge, signed answer, verifiable attestation and the channel list', async () => {
    const id = await Identity.generate()
    const c = await login(id)
    expect(c.channels).toEqual(['general', 'random'])
    const s = c.session!
    expect(s.value.publicKey).toEqual(id.publicKey)
    expect(await verifySession(s, relay.relayKey, Date.now())).toBe(true)
  })

  it('login signed for another origin is refused and the socket closed', async () => {
    const c = await TestClient.open(relay.url)
    const answer = await c.doLogin(await Identity.generate(), { origin: 'evil.example' })
    expect(answer).toMatchObject({ type: 'error', code: 'login_failed' })
    expect((await c.closed).code).toBe(4001)
  })

  it('a login frame replayed on a new connection is refused (fresh nonce per socket)', async () => {
    const id = await Identity.generate()
    const first = await TestClient.open(relay.url)
    // Capture the login frame the client sends by logging in once.
    const sent: Buffer[] = []
    const orig = first.ws.send.bind(first.ws)
    first.ws.send = ((data: Buffer) => {
      sent.push(data)
      orig(data)
    }) as typeof first.ws.send
    await first.doLogin(id)
    const replay = await TestClient.open(relay.url)
    await replay.next('challenge')
    replay.sendRaw(sent[0]!)
    expect(await replay.next('error')).toMatchObject({ code: 'login_failed' })
    first.close()
  })

  it('presence: snapshot of signed attestations on join, then ticks with who entered and left', async () => {
    const a = await login()
    const b = await login()
    a.send({ type: 'join', channel: 'random' })
    const snapA = await a.next('presenceSnapshot')
    expect(snapA.attestations).toHaveLength(1)
    expect(snapA.count).toBe(1)
    b.send({ type: 'join', channel: 'random' })
    const snapB = await b.next('presenceSnapshot')
    expect(snapB.attestations).toHaveLength(2)
    expect(snapB.count).toBe(2)
    for (const att of snapB.attestations)
      expect(await verifySession(decodeSession(att), relay.relayKey, Date.now())).toBe(true)
    // a's own join ticked first; the next tick brings b.
    const tickOf = async (c: TestClient, count: number) => {
      for (;;) {
        const t = await c.next('presenceTick')
        if (t.count === count) return t
      }
    }
    const joined = await tickOf(a, 2)
    expect(joined.entered.map((e) => decodeSession(e).value.publicKey)).toEqual([b.session!.value.publicKey])
    b.close()
    const left = await tickOf(a, 1)
    expect(left.left).toEqual([b.session!.value.sessionId])
    expect(left.entered).toEqual([])
  })

  it('stamping: one request fans out to N joined clients, the author included, identical bytes', async () => {
    const N = 20
    const members = await Promise.all(Array.from({ length: N }, () => login()))
    for (const m of members) m.send({ type: 'join', channel: 'general' })
    for (const m of members) await m.next('presenceSnapshot')
    const author = await Identity.generate()
    const sender = members[0]!
    // the sender logs in as `author` on a fresh socket that also joined
    const s = await login(author)
    s.send({ type: 'join', channel: 'general' })
    await s.next('presenceSnapshot')
    const req = await signRequest(author, {
      channel: 'general',
      kind: 'message',
      clientNonce: randomBytes(16),
      body: new Uint8Array([7]),
    })
    s.send({ type: 'publish', request: req })
    const got = await Promise.all([s, ...members].map((m) => m.next('event')))
    const ids = new Set(got.map((f) => f.event.id))
    expect(ids.size).toBe(1)
    expect(await verifyRelayStamp(got[0]!.event, relay.relayKey)).toBe(true)
    expect(got[0]!.event.author).toEqual(author.publicKey)
    expect(sender.frames.filter((f) => f.type === 'event')).toHaveLength(0)
  })

  it('idempotent retry: the same request again returns the same stamp to the author only', async () => {
    const author = await Identity.generate()
    const a = await login(author)
    const watcher = await login()
    for (const c of [a, watcher]) {
      c.send({ type: 'join', channel: 'random' })
      await c.next('presenceSnapshot')
    }
    const req = await signRequest(author, {
      channel: 'random',
      kind: 'message',
      clientNonce: randomBytes(16),
      body: new Uint8Array([1]),
    })
    a.send({ type: 'publish', request: req })
    const first = await a.next('event')
    await watcher.next('event')
    a.send({ type: 'publish', request: req })
    const second = await a.next('event')
    expect(second.event.id).toBe(first.event.id)
    expect(second.event.relaySig).toEqual(first.event.relaySig)
    await watcher.ping()
    expect(watcher.frames.filter((f) => f.type === 'event')).toHaveLength(0)
    const changed = await signRequest(author, {
      channel: 'random',
      kind: 'message',
      clientNonce: req.clientNonce,
      body: new Uint8Array([2]),
    })
    a.send({ type: 'publish', request: changed })
    expect(await a.next('error')).toMatchObject({ code: 'nonce_reused', ref: req.clientNonce })
  })

  it('a signaling token is issued over the logged-in connection', async () => {
    const a = await login()
    a.send({ type: 'tokenRequest' })
    const t = await a.next('token')
    expect(t.expires).toBeGreaterThan(Date.now())
  })
})

describe.each<Shell>(['uws', 'ws'])('stop() on %s', (shell) => {
  it('is idempotent, closes sockets and the port, and leaves no interval behind', async () => {
    // Track every interval the relay creates (sweeps, idle timers): each must be cleared by stop().
    const live = new Set<unknown>()
    const realSet = globalThis.setInterval
    const realClear = globalThis.clearInterval
    globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
      const h = realSet(...args)
      live.add(h)
      return h
    }) as typeof setInterval
    globalThis.clearInterval = ((h?: Parameters<typeof clearInterval>[0]) => {
      live.delete(h)
      realClear(h)
    }) as typeof clearInterval
    try {
      const relay = await startRelay({ shell, relay: await Identity.generate(), port: 0, log: silentLogger })
      const c = await TestClient.login(relay.url)
      expect(live.size).toBeGreaterThan(0)
      await Promise.all([relay.stop(), relay.stop()])
      await relay.stop()
      expect((await c.closed).code).toBe(4010)
      await expect(TestClient.open(relay.url)).rejects.toThrow()
      await new Promise((r) => setTimeout(r, 50))
      expect(live.size).toBe(0)
    } finally {
      globalThis.setInterval = realSet
      globalThis.clearInterval = realClear
    }
  })
})
