/** The relay protocol state machine over an in-memory shell: flows, deadlines and per-socket limits. */
import {
  Domain,
  encodeFrame,
  encodeLoginPayload,
  Identity,
  queryRef,
  randomBytes,
  signRequest,
  toHex,
} from '@peerchat/engine'
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
    expect(x.s.take('presenceSnapshot').map((p) => p.channel)).toEqual(['a', 'b'])
  })

  it('presence: a join in a quiet channel ticks at once; the joiner gets a snapshot, itself included', async () => {
    const { core, login, advance } = setup({}, ['general'])
    const a = await login('10.0.0.1')
    await core.message(a.conn, encodeFrame({ type: 'join', channel: 'general' }))
    const [own] = a.s.take('presenceSnapshot')
    expect(own).toMatchObject({ channel: 'general', count: 1 })
    expect(own!.attestations).toEqual([a.conn.attestation])
    expect(a.s.take('presenceTick')).toEqual([
      { type: 'presenceTick', channel: 'general', count: 1, entered: [a.conn.attestation], left: [] },
    ])
    advance(DEFAULT_LIMITS.presenceTickMs)
    const b = await login('10.0.0.2')
    await core.message(b.conn, encodeFrame({ type: 'join', channel: 'general' }))
    expect(a.s.take('presenceTick')).toMatchObject([{ count: 2, entered: [b.conn.attestation], left: [] }])
    expect(b.s.take('presenceSnapshot')[0]!.attestations).toEqual([a.conn.attestation, b.conn.attestation])
    // Joining again only resends the snapshot.
    advance(DEFAULT_LIMITS.presenceTickMs)
    await core.message(b.conn, encodeFrame({ type: 'join', channel: 'general' }))
    expect(b.s.take('presenceSnapshot')).toHaveLength(1)
    expect(a.s.take('presenceTick')).toHaveLength(0)
    advance(DEFAULT_LIMITS.presenceTickMs)
    core.close(b.conn)
    expect(a.s.take('presenceTick')).toMatchObject([
      { count: 1, entered: [], left: [b.conn.session!.sessionId] },
    ])
  })

  it('presence: a storm of joins is one tick per sweep per member; the head, the count, then pages and finds', async () => {
    const head = 100
    const { core, login, advance } = setup({ presenceHead: head }, ['general'])
    const members = []
    for (let i = 0; i < 260; i++) {
      const m = await login(`10.1.${i >> 8}.${i & 255}`)
      await core.message(m.conn, encodeFrame({ type: 'join', channel: 'general' }))
      members.push(m)
      if (i % 50 === 49) {
        advance(250)
        core.sweep()
      }
    }
    advance(250)
    core.sweep()
    const first = members[0]!
    // Every member's snapshot and the ticks after it add up to the head (and itself) and the count.
    const headIds = new Set(members.slice(0, head).map((m) => toHex(m.conn.attestation!)))
    for (const [i, m] of members.entries()) {
      let held: Set<string> | null = null
      let count = 0
      for (const f of m.s.frames) {
        if (f.type === 'presenceSnapshot') {
          expect(held).toBeNull() // one snapshot per join
          held = new Set(f.attestations.map(toHex))
          count = f.count
        } else if (f.type === 'presenceTick' && held) {
          for (const a of f.entered) held.add(toHex(a))
          for (const gone of f.left) expect(gone).toBe('never: nobody left')
          count = f.count
        }
      }
      held!.delete(toHex(m.conn.attestation!))
      if (i < head) held!.add(toHex(m.conn.attestation!))
      expect(held).toEqual(headIds)
      expect(count).toBe(260)
    }
    // The first join ticked at once, then one tick per sweep: 1 + 6 sweeps.
    const ticks = first.s.take('presenceTick')
    expect(ticks.length).toBeLessThanOrEqual(7)
    expect(ticks.at(-1)!.count).toBe(260)
    expect(ticks.flatMap((t) => t.entered)).toHaveLength(head)
    for (const m of members) m.s.frames = []
    const late = members.at(-1)!
    advance(250)
    core.sweep()
    // A member outside the head leaving costs the others a count; one in the head, a swap.
    core.close(members[200]!.conn)
    expect(first.s.take('presenceTick')).toMatchObject([{ count: 259, entered: [], left: [] }])
    advance(250)
    core.close(members[1]!.conn)
    expect(first.s.take('presenceTick')).toMatchObject([
      { count: 258, entered: [members[head]!.conn.attestation], left: [members[1]!.conn.session!.sessionId] },
    ])
    // Pages: every member exactly once, in join order.
    const seen: Uint8Array[] = []
    let after: Uint8Array | null = null
    for (let q = 1; ; q++) {
      await core.message(
        late.conn,
        encodeFrame({ type: 'presenceQuery', q, channel: 'general', after, limit: 100 }),
      )
      const [page] = late.s.take('presencePage')
      expect(page).toMatchObject({ q, channel: 'general', count: 258 })
      seen.push(...page!.attestations)
      if (!page!.next) break
      after = page!.next
    }
    const online = members.filter((_, i) => i !== 1 && i !== 200).map((m) => m.conn.attestation)
    expect(seen).toEqual(online)
    // Find: a member far outside the head, by key.
    const far = members[250]!
    await core.message(
      first.conn,
      encodeFrame({
        type: 'presenceFind',
        q: 7,
        channel: 'general',
        keys: [far.identity.publicKey, randomBytes(32)],
      }),
    )
    expect(first.s.take('presencePage')).toEqual([
      {
        type: 'presencePage',
        q: 7,
        channel: 'general',
        count: 258,
        next: null,
        attestations: [far.conn.attestation],
      },
    ])
  })

  it('presenceHead is at most 255: a snapshot (the head and the joiner) fits one frame of 256', async () => {
    const { core, login, advance } = setup({ presenceHead: 10_000 }, ['general'])
    const members = []
    for (let i = 0; i < 257; i++) {
      const m = await login(`10.2.${i >> 8}.${i & 255}`)
      await core.message(m.conn, encodeFrame({ type: 'join', channel: 'general' }))
      members.push(m)
    }
    advance(250)
    core.sweep()
    const [snap] = members.at(-1)!.s.take('presenceSnapshot')
    expect(snap!.count).toBe(257)
    expect(snap!.attestations).toHaveLength(256)
    expect(snap!.attestations.at(-1)).toEqual(members.at(-1)!.conn.attestation)
    expect(snap!.attestations.slice(0, 255)).toEqual(members.slice(0, 255).map((m) => m.conn.attestation))
  })

  it('presence queries: only about a joined channel, and at most presenceQueryBurst at once (refusals name the query)', async () => {
    const { core, login } = setup({ presenceQueriesPerSecond: 1, presenceQueryBurst: 3 }, [
      'general',
      'other',
    ])
    const a = await login()
    await core.message(a.conn, encodeFrame({ type: 'join', channel: 'general' }))
    await core.message(
      a.conn,
      encodeFrame({ type: 'presenceQuery', q: 1, channel: 'other', after: null, limit: 5 }),
    )
    expect(a.s.take('error')).toMatchObject([{ code: 'forbidden', ref: queryRef(1) }])
    for (let q = 2; q < 7; q++)
      await core.message(
        a.conn,
        encodeFrame({ type: 'presenceFind', q, channel: 'general', keys: [a.identity.publicKey] }),
      )
    expect(a.s.take('presencePage').map((p) => p.q)).toEqual([2, 3, 4])
    expect(a.s.take('error')).toMatchObject([
      { code: 'rate_limited', ref: queryRef(5) },
      { code: 'rate_limited', ref: queryRef(6) },
    ])
    expect(a.conn.errors).toBe(1) // rate limits do not count as misbehaviour
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
