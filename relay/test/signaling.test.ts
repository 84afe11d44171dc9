/** The signaling core: admission, room rules, and peer ids bound to authenticated keys. */
import { Identity, publicKeyToText, randomBytes, signToken, tokenToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { createContext } from '../src/core/context.ts'
import { SignalingCore } from '../src/core/signaling.ts'
import type { RelayLimits } from '../src/limits.ts'
import { FakeIo, FakeSocket } from './fake-io.ts'

useNodeCrypto()
const relay = await Identity.generate()
const NOW = 1_700_000_000_000

function setup(limits: Partial<RelayLimits> = {}) {
  let now = NOW
  const ctx = createContext({ relay, limits, channels: ['general'], now: () => now })
  const io = new FakeIo()
  const core = new SignalingCore(ctx, io)
  const token = async (o: { purpose?: string; expires?: number; signer?: Identity; id?: Identity } = {}) => {
    const id = o.id ?? (await Identity.generate())
    return tokenToText(
      await signToken(o.signer ?? relay, {
        relayKey: relay.publicKey,
        purpose: o.purpose ?? 'signal',
        publicKey: id.publicKey,
        sessionId: randomBytes(16),
        expires: o.expires ?? NOW + 60_000,
      }),
    )
  }
  const join = async (name: string) => {
    const a = await core.admit(await token())
    if (!a.ok) throw new Error(a.reason)
    const s = new FakeSocket(name)
    const conn = core.newConn('10.0.0.1', a.token)
    core.open(conn, s)
    return { s, conn, send: (m: unknown) => core.message(conn, JSON.stringify(m)) }
  }
  return { core, io, token, join, advance: (ms: number) => (now += ms) }
}

describe('SignalingCore admission', () => {
  it('admits a fresh relay token and refuses missing, malformed, expired, foreign and other-purpose tokens', async () => {
    const { core, token } = setup()
    expect((await core.admit(await token())).ok).toBe(true)
    const other = await Identity.generate()
    const refusals = [
      await core.admit(null),
      await core.admit('garbage!'),
      await core.admit(await token({ expires: NOW })),
      await core.admit(await token({ purpose: 'upload' })),
      await core.admit(await token({ signer: other })),
    ]
    expect(refusals.map((r) => !r.ok && r.reason)).toEqual([
      'missing token',
      'malformed token',
      'token expired',
      'token has another purpose',
      'token signature does not verify',
    ])
  })
})

describe('SignalingCore messages', () => {
  it('announce: of each pair only the member with the smaller id hears of the other, by its key-bound id', async () => {
    const { core, join } = setup()
    const [a, b, c] = [await join('a'), await join('b'), await join('c')]
    for (const x of [a, b, c]) x.send({ type: 'subscribe', topics: ['general'] })
    const announce = (x: typeof a) =>
      x.send({ type: 'publish', topic: 'general', data: { type: 'announce', from: `${x.s.name}-uuid` } })
    // a speaks first: b and c have not spoken in the room, so nobody can be paired yet.
    announce(a)
    expect([a, b, c].flatMap((x) => x.s.texts)).toEqual([])
    announce(b)
    announce(c)
    const heard = (x: typeof a) => x.s.texts.map((t) => (t as { data: { from: string } }).data.from).sort()
    for (const x of [a, b, c]) {
      const smaller = [a, b, c].filter((y) => y !== x && y.conn.peerId < x.conn.peerId)
      const larger = [a, b, c].filter((y) => y !== x && y.conn.peerId > x.conn.peerId)
      // x offers to every larger peer and waits for the offers of the smaller ones
      expect(heard(x)).toEqual(larger.map((y) => y.conn.peerId).sort())
      expect(smaller.every((y) => heard(y).includes(x.conn.peerId))).toBe(true)
      expect(x.conn.peerId.startsWith(publicKeyToText(x.conn.publicKey))).toBe(true)
    }
    for (const t of [a, b, c].flatMap((x) => x.s.texts))
      expect(t).toMatchObject({ type: 'publish', topic: 'general', data: { type: 'announce' } })
    // A closed or unsubscribed member is no longer paired.
    for (const x of [a, b, c]) x.s.texts = []
    core.close(c.conn)
    b.send({ type: 'unsubscribe', topics: ['general'] })
    announce(a)
    expect([a, b, c].flatMap((x) => x.s.texts)).toEqual([])
  })

  it('signal: delivered only to the addressee, from rewritten, to mapped to its own y-webrtc id', async () => {
    const { join } = setup()
    const [a, b, c] = [await join('a'), await join('b'), await join('c')]
    for (const x of [a, b, c]) x.send({ type: 'subscribe', topics: ['general'] })
    b.send({ type: 'publish', topic: 'general', data: { type: 'announce', from: 'b-uuid' } })
    c.send({ type: 'publish', topic: 'general', data: { type: 'announce', from: 'c-uuid' } })
    for (const x of [a, b, c]) x.s.texts = []
    const signal = { type: 'offer', sdp: 'v=0' }
    // a impersonates c in `from`: the relay ignores it.
    a.send({
      type: 'publish',
      topic: 'general',
      data: { type: 'signal', from: 'c-uuid', to: b.conn.peerId, token: 5, signal },
    })
    expect(b.s.texts).toEqual([
      {
        type: 'publish',
        topic: 'general',
        data: { type: 'signal', from: a.conn.peerId, to: 'b-uuid', token: 5, signal },
      },
    ])
    expect(c.s.texts).toEqual([])
    // Addressing a peer by its raw y-webrtc id (not relay-assigned) reaches nobody.
    a.send({ type: 'publish', topic: 'general', data: { type: 'signal', from: 'x', to: 'b-uuid', signal } })
    expect(b.s.texts).toHaveLength(1)
  })

  it('refuses rooms of unknown channels, over-long topics, unsubscribed publishes and encrypted data', async () => {
    const { join } = setup({ maxTopicBytes: 20 })
    const a = await join('a')
    a.send({
      type: 'subscribe',
      topics: ['secret-room', 'general/' + 'x'.repeat(20), 'general/voice', 'community'],
    })
    a.send({ type: 'publish', topic: 'other', data: { type: 'announce', from: 'x' } })
    a.send({ type: 'publish', topic: 'general/voice', data: 'base64-encrypted' })
    a.send('not json' as unknown)
    const codes = a.s.texts.map((t) => (t as { code: string }).code)
    expect(codes).toEqual([
      'forbidden_topic',
      'forbidden_topic',
      'not_subscribed',
      'bad_message',
      'bad_message',
    ])
    expect([...a.conn.rooms.keys()]).toEqual(['general/voice', 'community'])
  })

  it('subscriptionsPerSocket bounds the rooms of a socket', async () => {
    const { join } = setup({ subscriptionsPerSocket: 2 })
    const a = await join('a')
    a.send({ type: 'subscribe', topics: ['general', 'general/1'] })
    a.send({ type: 'subscribe', topics: ['general/2'] })
    expect(a.conn.rooms.size).toBe(2)
    expect(a.s.texts).toEqual([{ type: 'error', code: 'too_many_subscriptions', message: 'too many topics' }])
  })

  it('signalsPerSecondPerKey: messages over the burst are refused; ping gets pong', async () => {
    const { join } = setup({ signalsPerSecondPerKey: 1, signalBurstPerKey: 2 })
    const a = await join('a')
    a.send({ type: 'ping' })
    a.send({ type: 'ping' })
    a.send({ type: 'ping' })
    expect(a.s.texts.map((t) => (t as { type: string }).type)).toEqual(['pong', 'pong', 'error'])
  })

  it('a refusal that closes the socket mid-message stops there (found by the hostile suite)', async () => {
    const { join } = setup({ maxErrorsPerSocket: 1 })
    const a = await join('a')
    expect(() => a.send({ type: 'subscribe', topics: ['bad1', 'bad2', 'bad3', 'general'] })).not.toThrow()
    expect(a.s.closed?.reason).toBe('too_many_errors')
    expect(a.conn.rooms.size).toBe(0)
  })

  it('sessionTtlMs bounds the life of a signaling socket', async () => {
    const { core, join, advance } = setup({ sessionTtlMs: 1000 })
    const a = await join('a')
    advance(999)
    core.sweep()
    expect(a.s.closed).toBeNull()
    advance(1)
    core.sweep()
    expect(a.s.closed).toEqual({ code: 4009, reason: 'session_expired' })
  })

  it('maxErrorsPerSocket closes a socket that keeps sending garbage', async () => {
    const { join } = setup({ maxErrorsPerSocket: 2 })
    const a = await join('a')
    for (let i = 0; i < 3; i++) a.send({ type: 'nope' })
    expect(a.s.closed?.reason).toBe('too_many_errors')
  })
})
