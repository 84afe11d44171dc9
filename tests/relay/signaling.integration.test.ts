/**
 * Signaling over real sockets: admission by token (bound to its open login session, one socket
 * at a time), identity bound peer ids between two sessions, stock y-webrtc peers (two
 * processes, @roamhq/wrtc) syncing a Y.Doc, and a stock y-webrtc signaling connection kept
 * working past its token's lifetime by the relay client.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Identity, publicKeyToText, toBase64url } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, silentLogger, startRelay } from '@peerchat/relay'
import { RelayClient, type WebSocketCtor } from '@peerchat/transports/relay'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { TestClient } from './client.ts'

useNodeCrypto()
const PEER_SCRIPT = fileURLToPath(new URL('./fixtures/y-webrtc-peer.mjs', import.meta.url))

let relay: RunningRelay
beforeAll(async () => {
  relay = await startRelay({
    relay: await Identity.generate(),
    port: 0,
    channels: ['general'],
    limits: { unauthenticatedPerAddress: 100 },
    log: silentLogger,
  })
})
afterAll(() => relay.stop())

/** A token of a login session that stays open (a token admits only while its session is). */
async function tokenFor(id?: Identity): Promise<string> {
  return (await session(id)).token
}

async function session(id?: Identity): Promise<{ client: TestClient; token: string }> {
  const client = await TestClient.login(relay.url, id)
  client.send({ type: 'tokenRequest' })
  return { client, token: toBase64url((await client.next('token')).token) }
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the socket stayed open')), 5000)
    ws.once('close', (code, reason) => {
      clearTimeout(timer)
      resolve({ code, reason: reason.toString() })
    })
  })
}

async function until(cond: () => boolean, what: string, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function openSignal(
  token: string | null,
  base = relay.url,
): Promise<{ ws: WebSocket; messages: unknown[]; next: () => Promise<unknown> }> {
  const ws = new WebSocket(`${base}/signal${token === null ? '' : `?token=${token}`}`)
  const messages: unknown[] = []
  let wake: (() => void) | null = null
  ws.on('message', (d) => {
    messages.push(JSON.parse(d.toString()))
    wake?.()
  })
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((r) => (wake = r))
    return messages.shift()
  }
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, next }))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

describe('signaling endpoint', () => {
  it('refuses an upgrade without a token, with a bad one, or with a token of another relay', async () => {
    await expect(openSignal(null)).rejects.toThrow('HTTP 401')
    await expect(openSignal('AAAA')).rejects.toThrow('HTTP 401')
    const other = await startRelay({ relay: await Identity.generate(), port: 0, log: silentLogger })
    const c = await TestClient.login(other.url)
    c.send({ type: 'tokenRequest' })
    const foreign = toBase64url((await c.next('token')).token)
    c.close()
    await other.stop()
    await expect(openSignal(foreign)).rejects.toThrow('HTTP 401')
  })

  it('a token admits only while its login session is open: closing the session refuses it (401) and closes its signaling socket (4012)', async () => {
    const { client, token } = await session()
    const first = await openSignal(token)
    const firstClosed = closeOf(first.ws)
    client.close()
    await client.closed
    await expect(openSignal(token)).rejects.toThrow('HTTP 401')
    expect(await firstClosed).toEqual({ code: 4012, reason: 'session_closed' })
  })

  it('a token admits one signaling socket at a time: 409 while one is open, admitted again once it closed', async () => {
    const { client, token } = await session()
    const first = await openSignal(token)
    await expect(openSignal(token)).rejects.toThrow('HTTP 409')
    const closed = closeOf(first.ws)
    first.ws.close()
    await closed
    const again = await openSignal(token)
    // Two upgrades at once with a fresh token: exactly one is admitted.
    client.send({ type: 'tokenRequest' })
    const fresh = toBase64url((await client.next('token')).token)
    const both = await Promise.allSettled([openSignal(fresh), openSignal(fresh)])
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    expect(both.find((r) => r.status === 'rejected')).toMatchObject({ reason: new Error('HTTP 409') })
    for (const r of both) if (r.status === 'fulfilled') r.value.ws.close()
    again.ws.close()
    client.close()
  })

  it('a stock y-webrtc signaling connection keeps working past its token lifetime when RelayClient.keepSignalingToken re-issues its URL', async () => {
    const tokenTtlMs = 2000
    const r = await startRelay({
      relay: await Identity.generate(),
      port: 0,
      channels: ['general'],
      limits: { tokenTtlMs },
      log: silentLogger,
    })
    // lib0/websocket (under y-webrtc) uses the global WebSocket, which Node 20 lacks.
    const g = globalThis as { WebSocket?: unknown }
    const hadWebSocket = 'WebSocket' in g
    g.WebSocket ??= WebSocket
    const { SignalingConn } = await import('y-webrtc')
    const client = new RelayClient({
      url: `${r.url}/relay`,
      identity: await Identity.generate(),
      relayKey: r.relayKey,
      WebSocket: WebSocket as unknown as WebSocketCtor,
    })
    const tokens: string[] = []
    let conn: InstanceType<typeof SignalingConn> | undefined
    const urlOf = (t: string) => `${r.url}/signal?token=${t}`
    try {
      await client.start()
      const stop = client.keepSignalingToken(({ token }) => {
        tokens.push(toBase64url(token))
        if (conn) conn.url = urlOf(tokens.at(-1)!) // what a y-webrtc app does with each token
      })
      await until(() => tokens.length === 1, 'the first token')
      conn = new SignalingConn(urlOf(tokens[0]!))
      let connects = 0
      conn.on('connect', () => connects++)
      await until(() => connects === 1, 'the signaling connection')
      // Past the first token's lifetime: a client still holding its URL would get 401 forever.
      await new Promise((res) => setTimeout(res, tokenTtlMs + 500))
      await expect(openSignal(tokens[0]!, r.url)).rejects.toThrow('HTTP 401')
      expect(tokens.length).toBeGreaterThanOrEqual(3)
      // The signaling socket drops; y-webrtc reconnects with the URL it now holds.
      conn.ws!.close()
      await until(() => connects === 2, 'the reconnect')
      expect(conn.url).toBe(urlOf(tokens.at(-1)!))
      stop()
    } finally {
      conn?.destroy()
      await client.stop()
      await r.stop()
      if (!hadWebSocket) delete g.WebSocket
    }
  }, 30_000)

  it('between two sessions, each sees the other only under its key-bound id, whatever `from` it claims', async () => {
    const alice = await Identity.generate()
    const bob = await Identity.generate()
    const a = await openSignal(await tokenFor(alice))
    const b = await openSignal(await tokenFor(bob))
    const announce = (x: typeof a) => {
      x.ws.send(JSON.stringify({ type: 'subscribe', topics: ['general'] }))
      // Both claim Alice's y-webrtc id; the relay pairs them by their keys.
      x.ws.send(
        JSON.stringify({ type: 'publish', topic: 'general', data: { type: 'announce', from: 'alice-uuid' } }),
      )
    }
    announce(a)
    announce(b)
    // Only the smaller peer id of the pair hears of the other (it makes the offer).
    const aliceFirst = publicKeyToText(alice.publicKey) < publicKeyToText(bob.publicKey)
    const [offerer, answerer, answererKey, offererKey] = aliceFirst ? [a, b, bob, alice] : [b, a, alice, bob]
    const heard = (await offerer.next()) as { data: { from: string } }
    expect(heard.data.from.startsWith(`${publicKeyToText(answererKey.publicKey)}.`)).toBe(true)
    // The offerer's signal to the relay id it heard reaches the answerer, addressed to its own id.
    offerer.ws.send(
      JSON.stringify({
        type: 'publish',
        topic: 'general',
        data: { type: 'signal', from: 'x', to: heard.data.from, signal: { type: 'offer', sdp: 'v=0' } },
      }),
    )
    const offer = (await answerer.next()) as { data: { from: string } }
    expect(offer.data.from.startsWith(`${publicKeyToText(offererKey.publicKey)}.`)).toBe(true)
    expect(offer).toEqual({
      type: 'publish',
      topic: 'general',
      data: {
        type: 'signal',
        from: offer.data.from,
        to: 'alice-uuid',
        signal: { type: 'offer', sdp: 'v=0' },
      },
    })
    a.ws.close()
    b.ws.close()
  })
})

function runPeer(
  url: string,
  name: string,
  expected: string[],
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [PEER_SCRIPT, url, 'general', name, expected.join(','), String(timeoutMs)],
      { timeout: timeoutMs + 10_000, env: { ...process.env, LOG: process.env.PEER_LOG ?? '' } },
      (err, stdout, stderr) => {
        if (process.env.PEER_LOG) process.stderr.write(`--- ${name}\n${stdout}${stderr}\n`)
        // y-webrtc's own log lines (LOG=*) also go to stdout: take the result line.
        const line = stdout.split('\n').find((l) => l.startsWith('{"ok"')) ?? ''
        try {
          resolve(JSON.parse(line))
        } catch {
          reject(new Error(`peer ${name} printed no result: ${err?.message}\n${stderr}`))
        }
      },
    )
  })
}

describe('stock y-webrtc through the relay', () => {
  it('two Node processes with tokens connect over WebRTC and sync a Y.Doc; peers are named by key', async () => {
    const alice = await Identity.generate()
    const bob = await Identity.generate()
    const signal = (t: string) => `${relay.url}/signal?token=${t}`
    const [ra, rb] = await Promise.all([
      runPeer(signal(await tokenFor(alice)), 'alice', ['alice', 'bob'], 20_000),
      runPeer(signal(await tokenFor(bob)), 'bob', ['alice', 'bob'], 20_000),
    ])
    expect([ra, rb]).toMatchObject([{ ok: true }, { ok: true }])
    expect((ra.remotePeers as string[])[0]!.startsWith(publicKeyToText(bob.publicKey))).toBe(true)
    expect((rb.remotePeers as string[])[0]!.startsWith(publicKeyToText(alice.publicKey))).toBe(true)
  }, 40_000)

  it('without a valid token the peers never connect and never sync', async () => {
    const url = `${relay.url}/signal?token=invalid`
    const [ra, rb] = await Promise.all([
      runPeer(url, 'alice', ['alice', 'bob'], 3000),
      runPeer(url, 'bob', ['alice', 'bob'], 3000),
    ])
    expect(ra).toMatchObject({ ok: false, connected: false })
    expect(rb).toMatchObject({ ok: false, connected: false })
  }, 20_000)
})
