/** The signaling core: admission, room rules, and peer ids bound to authenticated keys. */
import {
  Identity,
  publicKeyToText,
  randomBytes,
  signToken,
  tokenFromText,
  tokenToText,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { createContext } from '../src/core/context.ts'
import { idKey } from '../src/core/sessions.ts'
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
  /** A relay token; its login session is open unless `sessionId` names another one. */
  const token = async (
    o: { purpose?: string; expires?: number; signer?: Identity; id?: Identity; sessionId?: Uint8Array } = {},
  ) => {
    const id = o.id ?? (await Identity.generate())
    const sessionId = o.sessionId ?? randomBytes(16)
    if (!o.sessionId) ctx.sessions.add(idKey(sessionId))
    return tokenToText(
      await signToken(o.signer ?? relay, {
        relayKey: relay.publicKey,
        purpose: o.purpose ?? 'signal',
        publicKey: id.publicKey,
        sessionId,
        expires: o.expires ?? NOW + 60_000,
      }),
    )
  }
  /** Admits and opens a socket with `text` (a fresh token when omitted); the refusal otherwise. */
  const tryJoin = async (name: string, text?: string, address = '10.0.0.1') => {
    const a = await core.admit(text ?? (await token()))
    const admitted = a.ok ? core.newConn(address, a.token) : a
    if (!admitted.ok) return admitted
    const s = new FakeSocket(name)
    const conn = admitted.conn
    core.open(conn, s)
    return { ok: true as const, s, conn, send: (m: unknown) => core.message(conn, JSON.stringify(m)) }
  }
  const join = async (name: string, text?: string, address?: string) => {
    const j = await tryJoin(name, text, address)
    if (!j.ok) throw new Error(j.reason)
    return j
  }
  return { ctx, core, io, token, join, tryJoin, advance: (ms: number) => (now += ms) }
}

const sessionOf = (text: string) => idKey(tokenFromText(text).value.sessionId)

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
    expect(refusals.map((r) => !r.ok && r.status)).toEqual([401, 401, 401, 401, 401])
  })

  it('a token admits only while its login session is open; the session closing closes its signaling sockets', async () => {
    const { ctx, token, join, tryJoin } = setup()
    const text = await token()
    const a = await join('a', text)
    const other = await join('other')
    // A token of a session that was never open on this relay (or closed before) is refused.
    expect(await tryJoin('b', await token({ sessionId: randomBytes(16) }))).toEqual({
      ok: false,
      status: 401,
      reason: 'token session closed',
    })
    ctx.sessions.delete(sessionOf(text))
    expect(a.s.closed).toEqual({ code: 4012, reason: 'session_closed' })
    expect(a.conn.closed).toBe(true)
    expect(other.s.closed).toBeNull()
    expect(await tryJoin('c', text)).toEqual({ ok: false, status: 401, reason: 'token session closed' })
  })

  it('a token admits one socket at a time: a second is refused with 409 while the first is open', async () => {
    const { core, token, join, tryJoin } = setup()
    const text = await token()
    const a = await join('a', text)
    expect(await tryJoin('b', text)).toEqual({ ok: false, status: 409, reason: 'token in use' })
    // Two upgrades that both passed the (async) signature check: the second newConn is refused.
    const [x, y] = await Promise.all([core.admit(text), core.admit(text)])
    core.close(a.conn)
    if (!x.ok || !y.ok) throw new Error('admit')
    const first = core.newConn('10.0.0.1', x.token)
    expect(first.ok).toBe(true)
    expect(core.newConn('10.0.0.1', y.token)).toMatchObject({ ok: false, status: 409 })
    // An upgrade that failed after newConn frees the token (the shell calls close).
    if (first.ok) core.close(first.conn)
    expect((await tryJoin('c', text)).ok).toBe(true)
  })

  it('socketsPerAddress and socketsPerKey bound signaling sockets (429), counted apart from the relay path', async () => {
    const { core, token, join, tryJoin } = setup({ socketsPerAddress: 2, socketsPerKey: 2 })
    const id = await Identity.generate()
    const a = await join('a', await token({ id }), '1.1.1.1')
    await join('b', await token(), '1.1.1.1')
    expect(await tryJoin('c', await token(), '1.1.1.1')).toMatchObject({ ok: false, status: 429 })
    await join('d', await token({ id }), '2.2.2.2')
    expect(await tryJoin('e', await token({ id }), '3.3.3.3')).toEqual({
      ok: false,
      status: 429,
      reason: 'too many signaling sockets for this key',
    })
    core.close(a.conn) // frees a slot of both its address and its key
    await join('f', await token({ id }), '1.1.1.1')
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
