/**
 * Hostile input against a live relay process: >= 10,000 random and mutated frames (fast-check).
 * For every frame the relay answers (the following ping is answered) or closes that socket;
 * it never sends bytes that do not decode, never crashes, other sockets keep working, and its
 * memory stays bounded.
 */

import { connect } from 'node:net'
import { ErrorCode, encodeFrame, type Frame, Identity, randomBytes, signRequest, Tag } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestClient } from './client.ts'
import { type RelayProcess, spawnRelay } from './relay-process.ts'

useNodeCrypto()
const CODES = new Set<string>(Object.values(ErrorCode))

let relay: RelayProcess

/** Sends a WebSocket upgrade request over raw TCP and returns the HTTP status. */
function rawUpgradeStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () =>
      s.write(
        `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: Upgrade\r\nupgrade: websocket\r\n` +
          'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      ),
    )
    let out = ''
    s.on('data', (d) => {
      out += d
      const m = /^HTTP\/1\.1 (\d+)/.exec(out)
      if (m) {
        s.destroy()
        resolve(Number(m[1]))
      }
    })
    s.on('error', reject)
    s.on('close', () => resolve(0))
  })
}
let canary: TestClient
const author = await Identity.generate()

const rss = async () => {
  const text = await fetch(`http://127.0.0.1:${relay.port}/metrics`).then((r) => r.text())
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)![1])
}

beforeAll(async () => {
  relay = await spawnRelay(
    [
      '--channel',
      'general',
      '--limit',
      'framesPerSecondPerAddress=Infinity',
      '--limit',
      'unauthenticatedPerAddress=10000',
      '--limit',
      'eventsPerSecondPerKey=Infinity',
      '--limit',
      'signalsPerSecondPerKey=Infinity',
    ],
    { PEERCHAT_RELAY_KEY: (await Identity.generate()).export() },
  )
  canary = await TestClient.login(relay.url)
  canary.send({ type: 'join', channel: 'general' })
  await canary.next('presenceSnapshot')
})
afterAll(async () => {
  canary?.close()
  const code = await relay.stop()
  if (code !== 0) process.stderr.write(`relay exited ${code}:\n${relay.output().slice(-4000)}\n`)
  expect(code).toBe(0)
  // Unexpected exceptions inside the relay are logged as internal_error: there must be none.
  expect(relay.output()).not.toMatch(/internal_error/)
})

/** Valid frames of every type (both directions) to mutate. */
async function seeds(): Promise<Uint8Array[]> {
  const req = await signRequest(author, {
    channel: 'general',
    kind: 'message',
    clientNonce: randomBytes(16),
    body: randomBytes(40),
  })
  const frames: Frame[] = [
    {
      type: 'login',
      publicKey: author.publicKey,
      clientTime: Date.now(),
      sig: randomBytes(64),
      invite: null,
    },
    { type: 'publish', request: req },
    { type: 'join', channel: 'general' },
    { type: 'leave', channel: 'general' },
    { type: 'join', channel: 'nope' },
    { type: 'tokenRequest' },
    { type: 'ping', n: 1 },
    { type: 'error', code: 'x', message: 'y', ref: new Uint8Array(0) },
    { type: 'presenceSnapshot', channel: 'general', count: 3, attestations: [randomBytes(150)] },
    {
      type: 'presenceTick',
      channel: 'general',
      count: 3,
      entered: [randomBytes(150)],
      left: [randomBytes(16)],
    },
    { type: 'presenceQuery', q: 1, channel: 'general', after: randomBytes(32), limit: 10 },
    { type: 'presenceQuery', q: 2, channel: 'general', after: null, limit: 256 },
    { type: 'presenceFind', q: 3, channel: 'general', keys: [author.publicKey] },
    { type: 'token', token: randomBytes(150), expires: 1 },
  ]
  return frames.map(encodeFrame)
}

function hostileFrames(valid: Uint8Array[]): fc.Arbitrary<Uint8Array | string> {
  const mutate = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    )
    .map(([b, edits]) => {
      const c = b.slice()
      for (const [i, v] of edits) c[i % c.length] = v
      return c
    })
  const truncate = fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([b, n]) => b.slice(0, n % b.length))
  const extend = fc
    .tuple(fc.constantFrom(...valid), fc.uint8Array({ minLength: 1, maxLength: 64 }))
    .map(([b, x]) => Uint8Array.from([...b, ...x]))
  const headed = fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 }))
    .map(([tag, rest]) => Uint8Array.from([1, tag, ...rest]))
  const lengths = fc
    .tuple(
      fc.constantFrom(Tag.join, Tag.publish, Tag.login),
      fc.constantFrom(0x80, 0xff),
      fc.uint8Array({ maxLength: 12 }),
    )
    .map(([tag, hi, rest]) => Uint8Array.from([1, tag, hi, hi, hi, hi, hi, hi, hi, 0x7f, ...rest]))
  return fc.oneof(
    { arbitrary: mutate, weight: 4 },
    { arbitrary: truncate, weight: 2 },
    { arbitrary: extend, weight: 1 },
    { arbitrary: headed, weight: 2 },
    { arbitrary: lengths, weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 2 },
    { arbitrary: fc.string({ maxLength: 100 }), weight: 1 },
  )
}

describe('hostile frames against a live relay', () => {
  it('10,000 random and mutated frames on logged-in sockets: error or close, never a crash', async () => {
    const valid = await seeds()
    let fuzz = await TestClient.login(relay.url, author)
    let n = 0
    let closes = 0
    const errorCodes = new Map<string, number>()
    const rssBefore = await rss()
    await fc.assert(
      fc.asyncProperty(hostileFrames(valid), async (frame) => {
        if (fuzz.isClosed) {
          closes++
          fuzz = await TestClient.login(relay.url, author)
        }
        fuzz.sendRaw(frame)
        const id = ++n
        try {
          await fuzz.ping(id)
        } catch (e) {
          // Closing the socket is an acceptable answer; silence on an open socket is not.
          if (!fuzz.isClosed) throw e
        }
        for (const f of fuzz.frames.splice(0))
          if (f.type === 'error') {
            expect(CODES.has(f.code)).toBe(true)
            errorCodes.set(f.code, (errorCodes.get(f.code) ?? 0) + 1)
          }
        expect(fuzz.undecodable).toBe(0)
        if (canary.frames.length > 1000) canary.frames.splice(0)
      }),
      { numRuns: 10_000 },
    )
    fuzz.close()
    expect(relay.child.exitCode).toBeNull()
    // Other sockets keep working: the canary still pings and receives a fresh event.
    await canary.ping()
    const req = await signRequest(author, {
      channel: 'general',
      kind: 'message',
      clientNonce: randomBytes(16),
      body: new Uint8Array([9]),
    })
    const sender = await TestClient.login(relay.url, author)
    sender.send({ type: 'publish', request: req })
    const got = await canary.nextOf(['event'])
    expect(got.type).toBe('event')
    sender.close()
    // Memory stays bounded: the run leaves no more than a few tens of MB behind.
    expect((await rss()) - rssBefore).toBeLessThan(64 * 1024 * 1024)
    expect(errorCodes.get('bad_frame')).toBeGreaterThan(1000)
    expect(closes).toBeGreaterThan(0) // maxErrorsPerSocket closed misbehaving sockets
  }, 120_000)

  it('1,000 hostile first frames on fresh unauthenticated sockets: each is answered or its socket closed', async () => {
    const valid = await seeds()
    await fc.assert(
      fc.asyncProperty(hostileFrames(valid), async (frame) => {
        const c = await TestClient.open(relay.url)
        await c.next('challenge')
        c.sendRaw(frame)
        // Before login, any frame but a valid ping or login attempt closes the socket.
        const pingN = 424242
        c.send({ type: 'ping', n: pingN })
        const outcome = await Promise.race([
          c.closed.then(() => 'closed'),
          c.ping(pingN).then(
            () => 'alive',
            () => 'closed',
          ),
        ])
        if (outcome === 'alive') c.close()
        expect(c.undecodable).toBe(0)
      }),
      { numRuns: 1000 },
    )
    await canary.ping()
  }, 120_000)

  it('signaling: hostile upgrade URLs are refused and hostile JSON messages never crash the relay', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), async (query) => {
        // Raw bytes on the request line, including broken percent-escapes.
        const status = await rawUpgradeStatus(
          relay.port,
          `/signal?token=${encodeURIComponent(query)}%E0%A4%A`,
        )
        expect(status).toBe(401)
      }),
      { numRuns: 200 },
    )
    const c = await TestClient.login(relay.url, author)
    c.send({ type: 'tokenRequest' })
    const token = Buffer.from((await c.next('token')).token).toString('base64url')
    // c stays logged in: a token admits only while its session is open.
    const { WebSocket } = await import('ws')
    let ws = new WebSocket(`${relay.url}/signal?token=${token}`)
    await new Promise((r) => ws.once('open', r))
    const json = fc.oneof(
      fc.json(),
      fc
        .record({
          type: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'ping', 'x'),
          topics: fc.array(fc.oneof(fc.string(), fc.constant('general'), fc.integer()), { maxLength: 5 }),
          topic: fc.oneof(fc.constant('general'), fc.string()),
          data: fc.oneof(
            fc.record({
              type: fc.constantFrom('announce', 'signal'),
              from: fc.oneof(fc.string(), fc.integer()),
              to: fc.string(),
              signal: fc.anything(),
            }),
            fc.anything(),
          ),
        })
        .map((o) => JSON.stringify(o)),
    )
    let reopened = 0
    await fc.assert(
      fc.asyncProperty(json, async (text) => {
        if (ws.readyState !== ws.OPEN) {
          reopened++
          ws = new WebSocket(`${relay.url}/signal?token=${token}`)
          await new Promise((r) => ws.once('open', r))
        }
        ws.send(text)
        ws.send('{"type":"ping"}')
        // The relay answers the ping (after any error for the message) or closes the socket.
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer after ${text}`)), 5000)
          const onMessage = (d: Buffer) => {
            if (d.toString() === '{"type":"pong"}') done()
          }
          const done = () => {
            clearTimeout(timer)
            ws.off('message', onMessage)
            ws.off('close', done)
            resolve()
          }
          ws.on('message', onMessage)
          ws.on('close', done)
        })
      }),
      { numRuns: 2000 },
    )
    ws.close()
    c.close()
    expect(relay.child.exitCode).toBeNull()
    expect(reopened).toBeLessThan(2000)
    await canary.ping()
  }, 120_000)
})
