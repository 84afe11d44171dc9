/** The relay protocol state machine over an in-memory shell: flows, deadlines and per-socket limits. */
import { Domain, encodeFrame, encodeLoginPayload, Identity, randomBytes, signRequest } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { createContext } from '../src/core/context.ts'
import { RelayCore } from '../src/core/relay-core.ts'
import { DEFAULT_LIMITS, type RelayLimits } from '../src/limits.ts'
import { FakeIo, FakeSocket } from './fake-io.ts'

useNodeCrypto()
const relay = await Identity.generate()
const ORIGIN = 'relay.test'

function setup(limits: Partial<RelayLimits> = {}, channels = ['general']) {
  let t = 1_700_000_000_000
  const ctx = createContext({ relay, limits, channels, now: () => t })
  const io = new FakeIo()
  const core = new RelayCore(ctx, io)
  const connect = (address = '10.0.0.1') => {
    const s = new FakeSocket(address)
    const conn = core.newConn(address, ORIGIN)
    core.open(conn, s)
    return { s, conn }
  }
  /** A valid Login frame answering the challenge `c` received. */
  const answer = async (c: { s: FakeSocket }, identity: Identity) => {
    const [challenge] = c.s.take('challenge')
    const payload = encodeLoginPayload({
      relayKey: relay.publicKey,
      nonce: challenge!.nonce,
      origin: ORIGIN,
      clientTime: t,
    })
    const sig = await identity.sign(Domain.login, payload)
    return encodeFrame({ type: 'login', publicKey: identity.publicKey, clientTime: t, sig, invite: null })
  }
  /** Connects and logs in; `expectWelcome: false` leaves the outcome to the caller. */
  const login = async (address = '10.0.0.1', id?: Identity, expectWelcome = true) => {
    const c = connect(address)
    const identity = id ?? (await Identity.generate())
    await core.message(c.conn, await answer(c, identity))
    if (expectWelcome) expect(c.s.take('welcome')).toHaveLength(1)
    return { ...c, identity }
  }
  return { ctx, io, core, connect, answer, login, advance: (ms: number) => (t += ms) }
}

describe('RelayCore', () => {
  it('a login frame can be answered only once per socket (the nonce is single use)', async () => {
    const { core, login } = setup()
    const a = await login()
    const frame = encodeFrame({
      type: 'login',
      publicKey: a.identity.publicKey,
      clientTime: 0,
      sig: randomBytes(64),
      invite: null,
    })
    await core.message(a.conn, frame)
    expect(a.s.take('error')[0]?.code).toBe('already_logged_in')
  })

  it('a login answer replayed on the same socket is refused: the challenge is consumed by the first', async () => {
    const { core, connect, answer, ctx } = setup()
    const c = connect()
    const frame = await answer(c, await Identity.generate())
    // Both arrive before the first is checked (verification is async): only one may log in.
    await Promise.all([core.message(c.conn, frame), core.message(c.conn, frame)])
    expect(c.s.take('welcome')).toHaveLength(1)
    expect(c.s.take('error').map((e) => e.code)).toEqual(['login_failed'])
    expect(ctx.metrics.sessions).toBe(1)
    // And once logged in, the same answer again is already_logged_in, not a second session.
    await core.message(c.conn, frame)
    expect(c.s.take('error').map((e) => e.code)).toEqual(['already_logged_in'])
    expect(c.s.take('welcome')).toHaveLength(0)
    expect(ctx.metrics.sessions).toBe(1)
  })

  it('socketsPerAddress: one logged-in socket too many from an address is closed with 4005; a close frees a slot', async () => {
    const { login, core, ctx } = setup({ socketsPerAddress: 2, socketsPerKey: 100 })
    const a = await login('1.1.1.1')
    await login('1.1.1.1')
    const third = await login('1.1.1.1', undefined, false)
    expect(third.s.take('welcome')).toHaveLength(0)
    expect(third.s.take('error')[0]).toMatchObject({ code: 'too_many_connections' })
    expect(third.s.closed).toEqual({ code: 4005, reason: 'too_many_connections:address' })
    await login('2.2.2.2') // other addresses are not affected
    core.close(a.conn)
    await login('1.1.1.1')
    expect(ctx.metrics.sessions).toBe(3)
    expect(ctx.metrics.connections).toBe(3)
  })

  it('socketsPerKey: one logged-in socket too many for a key is closed with 4006, whatever its address', async () => {
    const { login, core } = setup({ socketsPerKey: 2 })
    const id = await Identity.generate()
    const a = await login('1.1.1.1', id)
    await login('2.2.2.2', id)
    const third = await login('3.3.3.3', id, false)
    expect(third.s.take('error')[0]).toMatchObject({ code: 'too_many_connections' })
    expect(third.s.closed).toEqual({ code: 4006, reason: 'too_many_connections:key' })
    await login('3.3.3.3') // another key from the same address
    core.close(a.conn)
    await login('3.3.3.3', id)
  })

  it('with the default limits an address keeps 64 logged-in sockets and a key 8', async () => {
    const { login } = setup()
    expect(DEFAULT_LIMITS.socketsPerAddress).toBe(64)
    expect(DEFAULT_LIMITS.socketsPerKey).toBe(8)
    const id = await Identity.generate()
    for (let i = 0; i < 8; i++) await login(`10.0.1.${i}`, id)
    expect((await login('10.0.1.9', id, false)).s.closed?.code).toBe(4006)
    for (let i = 0; i < 64; i++) await login('10.0.2.1')
    expect((await login('10.0.2.1', undefined, false)).s.closed?.code).toBe(4005)
  })

  it('a failed login closes the socket with login_failed and its reason', async () => {
    const { core, connect } = setup()
    const c = connect()
    const id = await Identity.generate()
    await core.message(
      c.conn,
      encodeFrame({
        type: 'login',
        publicKey: id.publicKey,
        clientTime: 1_700_000_000_000,
        sig: randomBytes(64),
        invite: null,
      }),
    )
    expect(c.s.take('error')[0]?.code).toBe('login_failed')
    expect(c.s.closed).toEqual({ code: 4001, reason: 'login_failed:bad_signature' })
  })

  it('frames other than login and ping before login close the socket', async () => {
    const { core, connect } = setup()
    const c = connect()
    await core.message(c.conn, encodeFrame({ type: 'ping', n: 5 }))
    expect(c.s.take('pong')[0]?.n).toBe(5)
    await core.message(c.conn, encodeFrame({ type: 'join', channel: 'general' }))
    expect(c.s.take('error')[0]?.code).toBe('not_logged_in')
    expect(c.s.closed?.code).toBe(4000)
  })

  it('authDeadlineMs: a socket that does not log in in time is closed by the sweep', () => {
    const { core, connect, advance, ctx } = setup({ authDeadlineMs: 1000 })
    const c = connect()
    advance(999)
    core.sweep()
    expect(c.s.closed).toBeNull()
    advance(2)
    core.sweep()
    expect(c.s.closed).toEqual({ code: 4002, reason: 'auth_timeout' })
    expect(ctx.metrics.connections).toBe(0)
  })

  it('unauthenticatedPerAddress: one more unauthenticated socket from an address is refused; a login frees a slot', async () => {
    const { connect, login } = setup({ unauthenticatedPerAddress: 2 })
    const a = connect('1.1.1.1')
    connect('1.1.1.1')
    const third = connect('1.1.1.1')
    expect(third.s.closed?.code).toBe(4003)
    expect(connect('2.2.2.2').s.closed).toBeNull()
    expect(a.s.closed).toBeNull()
    await login('3.3.3.3')
    await login('3.3.3.3')
    await login('3.3.3.3') // logged-in sockets do not count
  })

  it('sessions expire: the sweep closes a socket whose attestation expired', async () => {
    const { core, login, advance } = setup({ sessionTtlMs: 5000 })
    const a = await login()
    advance(5000)
    core.sweep()
    expect(a.s.closed).toEqual({ code: 4009, reason: 'session_expired' })
  })

  it('maxBackpressureBytes: a slow consumer is closed with slow_consumer', async () => {
    const { core, login, ctx } = setup({ maxBackpressureBytes: 1000 })
    const a = await login()
    a.s.buffered = 1001
    core.sweep()
    expect(a.s.closed).toEqual({ code: 4008, reason: 'slow_consumer' })
    const b = await login()
    b.s.dropSends = true // the library dropped a send
    await core.message(b.conn, encodeFrame({ type: 'ping', n: 1 }))
    expect(b.s.closed?.reason).toBe('slow_consumer')
    expect(ctx.metrics.backpressureDrops).toBe(2)
  })

  it('maxErrorsPerSocket: a socket is closed after too many bad frames', async () => {
    const { core, login } = setup({ maxErrorsPerSocket: 3 })
    const a = await login()
    for (let i = 0; i < 3; i++) await core.message(a.conn, Uint8Array.of(1, 0x3f))
    expect(a.s.closed).toBeNull()
    await core.message(a.conn, Uint8Array.of(1, 0x3f))
    expect(a.s.closed).toEqual({ code: 4004, reason: 'too_many_errors' })
  })

  it('framesPerSecondPerAddress: frames over the bucket get rate_limited errors (all sockets of an address share it)', async () => {
    const { core, login } = setup({ framesPerSecondPerAddress: 1, frameBurstPerAddress: 4 })
    const a = await login('9.9.9.9') // the login frame takes one token
    const b = await login('9.9.9.9')
    await core.message(a.conn, encodeFrame({ type: 'ping', n: 1 }))
    await core.message(b.conn, encodeFrame({ type: 'ping', n: 2 }))
    expect(b.s.take('pong')).toHaveLength(1)
    await core.message(b.conn, encodeFrame({ type: 'ping', n: 3 }))
    expect(b.s.take('error')[0]?.code).toBe('rate_limited')
    expect(b.s.closed).toBeNull() // rate limiting does not count as misbehaviour
  })

  it('subscriptionsPerSocket: joining one channel too many is refused', async () => {
    const { core, login } = setup({ subscriptionsPerSocket: 2 }, ['a', 'b', 'c'])
    const x = await login()
    for (const channel of ['a', 'b', 'c']) await core.message(x.conn, encodeFrame({ type: 'join', channel }))
    expect(x.s.take('error')[0]?.code).toBe('too_many_subscriptions')
    expect(x.s.take('presence').map((p) => p.channel)).toEqual(['a', 'b'])
  })

  it('presence: snapshot on join (split in frames of 256), join and leave diffs to members', async () => {
    const { core, login } = setup({}, ['general'])
    const members = []
    for (let i = 0; i < 260; i++) {
      const m = await login(`10.1.${i >> 8}.${i & 255}`)
      await core.message(m.conn, encodeFrame({ type: 'join', channel: 'general' }))
      members.push(m)
    }
    const first = members[0]!
    expect(first.s.take('presenceJoin')).toHaveLength(259)
    const late = await login('10.9.9.9')
    await core.message(late.conn, encodeFrame({ type: 'join', channel: 'general' }))
    const snap = late.s.take('presence')
    expect(snap.map((p) => p.attestations.length)).toEqual([256, 5])
    expect(snap.map((p) => p.last)).toEqual([false, true])
    core.close(late.conn)
    expect(first.s.take('presenceLeave')).toHaveLength(1)
  })

  it('an author that has not joined the channel still gets its event as the ack', async () => {
    const { core, login } = setup()
    const a = await login()
    const req = await signRequest(a.identity, {
      channel: 'general',
      kind: 'message',
      clientNonce: randomBytes(16),
      body: new Uint8Array(1),
    })
    await core.message(a.conn, encodeFrame({ type: 'publish', request: req }))
    expect(a.s.take('event')).toHaveLength(1)
  })

  it('nothing is sent to a socket closed while its login was being verified', async () => {
    const { core, connect } = setup()
    const c = connect()
    const id = await Identity.generate()
    const [challenge] = c.s.take('challenge')
    const payload = encodeLoginPayload({
      relayKey: relay.publicKey,
      nonce: challenge!.nonce,
      origin: ORIGIN,
      clientTime: 1_700_000_000_000,
    })
    const sig = await id.sign(Domain.login, payload)
    const pending = core.message(
      c.conn,
      encodeFrame({
        type: 'login',
        publicKey: id.publicKey,
        clientTime: 1_700_000_000_000,
        sig,
        invite: null,
      }),
    )
    core.close(c.conn) // the peer went away during the await
    await pending
    expect(c.s.frames).toHaveLength(0)
  })
})
