/**
 * The relay's admin rules (docs/protocol/admin.md §4, relay.md §4.1 and §5.1) through the real
 * core and stamper over the in-memory shell, with a clock the test moves: the claim, invite
 * links and their reservations, bans and kicks closing sessions, timeouts, post roles, demotion,
 * forged and replayed admin events, the admin channel's history and a restart from admin.log.
 */
import {
  CloseCode,
  decodeSession,
  encodeFrame,
  Identity,
  Privilege,
  randomBytes,
  signRequest,
  verifySession,
} from '@peerchat/engine'
import { AdminKind, BuiltinRole, inviteIdOf, Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../src/limits.ts'
import { type Client, community, DAY, expectOk, MemoryAdminLog, MIN } from './admin-fixtures.ts'

useNodeCrypto()

const claim = () => ({ kind: AdminKind.claim, body: {} }) as const
const role = (who: Identity, r: string) =>
  ({ kind: AdminKind.roleSet, body: { target: who.publicKey, role: r } }) as const
const access = (a: 'open' | 'invite') => ({ kind: AdminKind.accessSet, body: { access: a } }) as const
const invite = (secret: Uint8Array, expiresAt: number, uses: number) =>
  ({ kind: AdminKind.inviteCreate, body: { id: inviteIdOf(secret), expiresAt, uses } }) as const
const redeem = (secret: Uint8Array) =>
  ({ kind: AdminKind.inviteRedeem, body: { id: inviteIdOf(secret) } }) as const
const timeout = (who: Identity, until: number) =>
  ({ kind: AdminKind.memberTimeout, body: { target: who.publicKey, until } }) as const
const kick = (who: Identity, reason: string) =>
  ({ kind: AdminKind.memberKick, body: { target: who.publicKey, reason } }) as const
const ban = (who: Identity, reason: string, until?: number) =>
  ({
    kind: AdminKind.memberBan,
    body: until === undefined ? { target: who.publicKey, reason } : { target: who.publicKey, reason, until },
  }) as const

/** A community whose owner claimed it with the claim code. */
async function owned(o: Parameters<typeof community>[0] = {}) {
  const c = await community(o)
  const code = c.ctx.admin.claimCode!
  const owner = await c.login(undefined, code)
  expectOk(await c.act(owner, claim()))
  return { ...c, owner }
}

describe('the claim', () => {
  it('only a login with the claim code may claim, once; then the code is forgotten', async () => {
    const c = await community()
    const code = c.ctx.admin.claimCode
    expect(code).toHaveLength(32)
    // Without the code, no claim (even while nobody owns the community).
    const eve = await c.login()
    expect(await c.act(eve, claim())).toMatchObject({ ok: false, code: 'forbidden' })
    // Two sessions got the code; the first claim wins, the second is refused.
    const owner = await c.login(undefined, code)
    const rival = await c.login(undefined, code)
    const first = expectOk(await c.act(owner, claim()))
    expect(c.ctx.admin.state.owner).toBeDefined()
    expect(await c.act(rival, claim())).toMatchObject({ ok: false, code: 'forbidden' })
    expect(c.ctx.admin.claimCode).toBeNull()
    expect(c.log.events.map((e) => e.event.id)).toEqual([first.id])
    // The spent code lets nobody in by itself; the owner (a member) still logs in with it.
    const late = await c.connect(undefined, code)
    expect(late.error).toMatchObject({ code: 'login_failed' })
    expect(late.error!.message).toMatch(/^bad_invite: .*not a usable invite/)
    expect(late.client.s.closed?.code).toBe(CloseCode.loginFailed)
    const again = await c.connect(owner.id, code)
    expect(again.welcome).toBeDefined()
  })

  it('an admin event the relay cannot store is refused and changes nothing (the claim stays open)', async () => {
    const log = new MemoryAdminLog()
    const c = await community({ log })
    const code = c.ctx.admin.claimCode
    const owner = await c.login(undefined, code)
    const append = log.append.bind(log)
    log.append = () => {
      throw new Error('ENOSPC: no space left on device')
    }
    expect(await c.act(owner, claim())).toMatchObject({ ok: false, code: 'internal' })
    expect(c.ctx.admin.state.owner).toBeUndefined()
    expect(c.ctx.admin.claimCode).toEqual(code)
    expect(log.events).toEqual([])
    // The disk has room again: a new request (another nonce) claims.
    log.append = append
    expectOk(await c.act(owner, claim()))
    expect(c.ctx.admin.state.owner).toBeDefined()
    expect(log.events).toHaveLength(1)
  })

  it("the owner's next session carries every privilege bit, from the fold", async () => {
    const c = await owned({ policy: { post: 'admins', create: 'admins' } })
    const r = await c.connect(c.owner.id)
    const s = decodeSession(r.welcome!.attestation)
    expect(await verifySession(s, c.relay.publicKey, c.clock.t)).toBe(true)
    expect(s.value.privileges).toBe(Privilege.post | Privilege.create | Privilege.admin)
    // With --post admins a member may not post; the owner may (in its claim session too).
    expect(expectOk(await c.post(c.owner)).kind).toBe(Kind.message)
    expect(await c.post(await c.login())).toMatchObject({
      ok: false,
      code: 'forbidden',
      message: 'may not post',
    })
  })
})

describe('invite links', () => {
  it('reserve a use until invite.redeem; redeem_first; released on close; used up; altered', async () => {
    const c = await owned({ policy: { access: 'invite' } })
    const secret = randomBytes(32)
    expectOk(await c.act(c.owner, invite(secret, c.clock.t + DAY, 1)))
    // Invite-only: no link, no entry.
    const stranger = await c.connect()
    expect(stranger.error?.message).toBe(
      'invite_required: this community is invite-only: ask for an invite link',
    )
    // One bit altered: an unknown invite.
    const altered = secret.slice()
    altered[5]! ^= 1
    expect((await c.connect(undefined, altered)).error?.message).toMatch(/^bad_invite: .*not a usable invite/)
    // Cara holds the only use until she redeems; meanwhile she may publish nothing else.
    const cara = await c.login(undefined, secret)
    expect(await c.post(cara)).toMatchObject({ ok: false, code: 'redeem_first' })
    const dan = await Identity.generate()
    expect((await c.connect(dan, secret)).error?.message).toBe('bad_invite: this invite link is used up')
    // Cara leaves without redeeming: the use is free again.
    c.core.close(cara.conn)
    const danIn = await c.login(dan, secret)
    // A redeem must name the link's invite.
    expect(await c.act(danIn, redeem(randomBytes(32)))).toMatchObject({ ok: false, code: 'forbidden' })
    expectOk(await c.act(danIn, redeem(secret)))
    expectOk(await c.post(danIn))
    expect(c.ctx.admin.state.memberOf(dan.publicKey)).toMatchObject({ via: 'invite' })
    // Used up now: Cara is refused; Dan, a member, comes back with or without the spent link.
    expect((await c.connect(cara.id, secret)).error?.message).toBe('bad_invite: this invite link is used up')
    expect((await c.connect(dan, secret)).welcome).toBeDefined()
    expect((await c.connect(dan)).welcome).toBeDefined()
    // A second redeem in a session that did not log in by a usable link is refused.
    const danAgain = await c.login(dan, secret)
    expect(await c.act(danAgain, redeem(secret))).toMatchObject({ ok: false, code: 'forbidden' })
  })

  it('a session let in by an invite that does not redeem it within authDeadlineMs ends, and frees the use', async () => {
    const c = await owned({ policy: { access: 'invite' } })
    const secret = randomBytes(32)
    expectOk(await c.act(c.owner, invite(secret, c.clock.t + DAY, 1)))
    const hoarder = await c.login(undefined, secret)
    c.clock.t += DEFAULT_LIMITS.authDeadlineMs - 1
    c.core.sweep()
    expect(hoarder.s.closed).toBeNull()
    c.clock.t += 2
    c.core.sweep()
    expect(hoarder.s.closed).toEqual({ code: CloseCode.loginFailed, reason: 'login_failed:bad_invite' })
    // The use is free again: the invitee gets in and redeems.
    const cara = await c.login(undefined, secret)
    expectOk(await c.act(cara, redeem(secret)))
    // Redeemed, the session is not ended by the deadline.
    c.clock.t += DEFAULT_LIMITS.authDeadlineMs + 1
    c.core.sweep()
    expect(cara.s.closed).toBeNull()
  })

  it('a redeem the fold refuses (revoked meanwhile) ends the session that came in by it', async () => {
    const c = await owned({ policy: { access: 'invite' } })
    const secret = randomBytes(32)
    expectOk(await c.act(c.owner, invite(secret, c.clock.t + DAY, 5)))
    const cara = await c.login(undefined, secret)
    expectOk(await c.act(c.owner, { kind: AdminKind.inviteRevoke, body: { id: inviteIdOf(secret) } }))
    expect(await c.act(cara, redeem(secret))).toMatchObject({ ok: false, code: 'forbidden' })
    expect(cara.s.closed).toEqual({ code: CloseCode.loginFailed, reason: 'login_failed:bad_invite' })
    expect((await c.connect(undefined, secret)).error?.message).toBe(
      'bad_invite: this invite link was revoked',
    )
  })

  it('an expired link is refused with its own message', async () => {
    const c = await owned({ policy: { access: 'invite' } })
    const secret = randomBytes(32)
    expectOk(await c.act(c.owner, invite(secret, c.clock.t + 2 * MIN, 5)))
    c.clock.t += 2 * MIN
    expect((await c.connect(undefined, secret)).error?.message).toBe(
      'bad_invite: this invite link has expired',
    )
  })

  it('access.set switches an open relay to invite-only (and the well-known access with it)', async () => {
    const c = await owned()
    expect(c.ctx.admin.access(c.clock.t)).toBe('open')
    expect((await c.connect()).welcome).toBeDefined()
    expectOk(await c.act(c.owner, access('invite')))
    expect(c.ctx.admin.access(c.clock.t)).toBe('invite')
    expect((await c.connect()).error?.message).toMatch(/^invite_required: /)
    expect((await c.connect(c.owner.id)).welcome).toBeDefined()
  })
})

describe('moderation', () => {
  it('timeout refuses posts until its time; kick closes every session with 4013; a ban keeps the key out', async () => {
    const c = await owned()
    const bob = await c.login()
    const eve = await c.login()
    const eve2 = await c.login(eve.id)
    expectOk(await c.act(c.owner, role(bob.id, BuiltinRole.moderator)))
    const until = c.clock.t + 10 * MIN
    expectOk(await c.act(bob, timeout(eve.id, until)))
    const refused = await c.post(eve)
    expect(refused).toMatchObject({ ok: false, code: 'forbidden' })
    expect(refused.ok || refused.message).toBe(`timed out until ${new Date(until).toISOString()}`)
    c.clock.t = until // a timeout ends at its millisecond
    expectOk(await c.post(eve))
    // A moderator may kick and ban, but not above his rank.
    expect(await c.act(bob, ban(c.owner.id, 'coup'))).toMatchObject({ ok: false, code: 'forbidden' })
    expectOk(await c.act(bob, kick(eve.id, 'cool off')))
    expect(eve.s.closed).toEqual({ code: CloseCode.removed, reason: 'cool off' })
    expect(eve2.s.closed).toEqual({ code: CloseCode.removed, reason: 'cool off' })
    expect(bob.s.closed).toBeNull()
    // A kick is not a ban: Eve comes back (open community), and is then banned by the owner.
    const eve3 = await c.login(eve.id)
    const banUntil = c.clock.t + DAY
    expectOk(await c.act(c.owner, ban(eve.id, 'spam', banUntil)))
    expect(eve3.s.closed).toEqual({ code: CloseCode.removed, reason: 'spam' })
    const back = await c.connect(eve.id)
    expect(back.error?.message).toBe(`banned: spam until ${new Date(banUntil).toISOString()}`)
    expect(back.client.s.closed?.code).toBe(CloseCode.loginFailed)
    c.clock.t = banUntil
    expect((await c.connect(eve.id)).welcome).toBeDefined()
  })

  it('a long or multi-byte reason is cut to a close frame (123 bytes) on a character boundary', async () => {
    const c = await owned()
    const eve = await c.login()
    const reason = 'é'.repeat(200) // 400 bytes
    expectOk(await c.act(c.owner, ban(eve.id, reason)))
    expect(eve.s.closed?.code).toBe(CloseCode.removed)
    expect(eve.s.closed?.reason).toBe('é'.repeat(61))
    expect((await c.connect(eve.id)).error?.message).toBe(`banned: ${reason}`)
  })

  it("a channel's post role: members may not post where moderators may", async () => {
    const c = await owned()
    const bob = await c.login()
    const ann = await c.login()
    expectOk(await c.act(c.owner, role(bob.id, BuiltinRole.moderator)))
    expectOk(
      await c.act(c.owner, {
        kind: AdminKind.channelUpdate,
        body: { channel: 'general', postRole: BuiltinRole.moderator },
      }),
    )
    const r = await c.post(ann)
    expect(r).toMatchObject({ ok: false, code: 'forbidden' })
    expect(r.ok || r.message).toBe(
      'this channel is read-only for your role (member): it takes moderator and above',
    )
    expectOk(await c.post(bob))
  })

  it("a channel's edit role: a member's yjs event is refused where a moderator's is stamped; messages unchanged", async () => {
    const c = await owned()
    const bob = await c.login()
    const ann = await c.login()
    expectOk(await c.act(c.owner, role(bob.id, BuiltinRole.moderator)))
    expectOk(await c.post(ann, 'general', Kind.yjs)) // no editRole: editing follows postRole (member)
    expectOk(
      await c.act(c.owner, {
        kind: AdminKind.channelUpdate,
        body: { channel: 'general', editRole: BuiltinRole.moderator },
      }),
    )
    const r = await c.post(ann, 'general', Kind.yjs)
    expect(r).toMatchObject({ ok: false, code: 'forbidden' })
    expect(r.ok || r.message).toBe(
      'the canvas of #general is editable by moderator and above (your role: member)',
    )
    expectOk(await c.post(bob, 'general', Kind.yjs))
    expectOk(await c.post(ann)) // her ordinary message is still stamped
    // Back to "same as posting": members edit again.
    expectOk(
      await c.act(c.owner, { kind: AdminKind.channelUpdate, body: { channel: 'general', editRole: null } }),
    )
    expectOk(await c.post(ann, 'general', Kind.yjs))
  })

  it('the edit role is judged again at the id: a demotion between screen and stamp refuses the yjs event', async () => {
    const c = await owned()
    const bob = await c.login()
    expectOk(await c.act(c.owner, role(bob.id, BuiltinRole.moderator)))
    expectOk(
      await c.act(c.owner, {
        kind: AdminKind.channelUpdate,
        body: { channel: 'general', editRole: BuiltinRole.moderator },
      }),
    )
    const gate = c.ctx.admin
    const stamped = expectOk(await c.post(bob, 'general', Kind.yjs))
    expect(gate.decide(null, stamped)).toEqual({ ok: true })
    expectOk(await c.act(c.owner, role(bob.id, BuiltinRole.member)))
    const later = { ...stamped, ts: c.clock.t }
    expect(gate.decide(null, later)).toMatchObject({
      ok: false,
      refusal: {
        code: 'forbidden',
        message: expect.stringMatching(/^the canvas of #general is editable by moderator/),
      },
    })
    // An ordinary message by the same author at that time is fine.
    expect(gate.decide(null, { ...later, kind: Kind.message })).toEqual({ ok: true })
  })

  it('a demoted admin is refused from its demotion on; what it did before stands', async () => {
    const c = await owned()
    const adm = await c.login()
    const eve = await c.login()
    expectOk(await c.act(c.owner, role(adm.id, BuiltinRole.admin)))
    expectOk(await c.act(adm, timeout(eve.id, c.clock.t + 30 * MIN)))
    expectOk(await c.act(c.owner, role(adm.id, BuiltinRole.member)))
    const r = await c.act(adm, kick(eve.id, 'x'), 1)
    expect(r).toMatchObject({ ok: false, code: 'forbidden' })
    expect(r.ok || r.message).toMatch(/^no-permission: /)
    expect(eve.s.closed).toBeNull()
    expect(c.ctx.admin.state.timeoutOf(eve.id.publicKey, c.clock.t)).toBeDefined()
  })

  it('channel.create needs manageChannels (or --create everyone)', async () => {
    const create = async (c: Awaited<ReturnType<typeof owned>>, who: Client, channel: string) =>
      c.publish(
        who,
        await signRequest(who.id, {
          channel,
          kind: Kind.channelCreate,
          clientNonce: randomBytes(16),
          body: new Uint8Array(0),
        }),
      )
    const c = await owned()
    const ann = await c.login()
    const adm = await c.login()
    expect(await create(c, ann, 'random')).toMatchObject({ ok: false, code: 'forbidden' })
    expectOk(await create(c, c.owner, 'random'))
    expect(c.ctx.channels.has('random')).toBe(true)
    expect(await create(c, c.owner, 'admin')).toMatchObject({ ok: false, code: 'forbidden' })
    // A role given while the session is open counts at once (the fold, not the login's bits).
    expectOk(await c.act(c.owner, role(adm.id, BuiltinRole.admin)))
    expectOk(await create(c, adm, 'news'))
    const open = await owned({ policy: { create: 'everyone' } })
    expectOk(await create(open, await open.login(), 'random'))
  })
})

describe('admin events', () => {
  it('a forged admin event (author signature over other content) is refused and changes nothing', async () => {
    const c = await owned()
    const eve = await c.login()
    const req = await c.adminRequest(eve, role(eve.id, BuiltinRole.moderator))
    const forged = { ...req, kind: AdminKind.accessSet, body: new Uint8Array([1, 1]) }
    expect(await c.publish(eve, forged)).toMatchObject({ ok: false, code: 'bad_signature' })
    expect(c.log.events).toHaveLength(1) // the claim
  })

  it('a replayed admin request: the same stamp while remembered, refused (replayed) after', async () => {
    const c = await owned()
    const bob = await c.login()
    const req = await c.adminRequest(c.owner, role(bob.id, BuiltinRole.moderator))
    const first = expectOk(await c.publish(c.owner, req))
    const retry = expectOk(await c.publish(c.owner, req))
    expect(retry.id).toBe(first.id)
    // The owner demotes Bob; the old promotion sent again later must not bring it back.
    expectOk(await c.act(c.owner, role(bob.id, BuiltinRole.member)))
    c.clock.t += c.ctx.limits.idempotencyTtlMs + 1
    const replay = await c.publish(c.owner, req)
    expect(replay).toMatchObject({ ok: false, code: 'forbidden' })
    expect(replay.ok || replay.message).toMatch(/^replayed: /)
    expect(c.ctx.admin.state.roleOf(bob.id.publicKey)).toBe(BuiltinRole.member)
  })

  it('go only in the admin channel, which takes nothing else', async () => {
    const c = await owned()
    const bob = await c.login()
    const elsewhere = await signRequest(c.owner.id, {
      channel: 'general',
      kind: AdminKind.roleSet,
      clientNonce: randomBytes(16),
      body: new Uint8Array([1]),
    })
    expect(await c.publish(c.owner, elsewhere)).toMatchObject({ ok: false, code: 'forbidden' })
    expect(await c.post(bob, 'admin')).toMatchObject({ ok: false, code: 'forbidden' })
    expect(await c.post(c.owner, 'admin')).toMatchObject({ ok: false, code: 'forbidden' })
  })

  it('joining admin: every admin event held, oldest first, then live ones; paced by the send buffer', async () => {
    const c = await owned()
    const bob = await c.login()
    const ids = [c.log.events[0]!.event.id]
    for (const r of [BuiltinRole.moderator, BuiltinRole.member, BuiltinRole.moderator])
      ids.push(expectOk(await c.act(c.owner, role(bob.id, r))).id)
    const ann = await c.login()
    await c.core.message(ann.conn, encodeFrame({ type: 'join', channel: 'admin' }))
    expect(ann.s.take('event').map((f) => f.event.id)).toEqual(ids)
    expect(ann.s.take('presenceSnapshot').at(-1)).toMatchObject({ channel: 'admin', count: 1 })
    ids.push(expectOk(await c.act(c.owner, role(bob.id, BuiltinRole.member))).id)
    expect(ann.s.take('event').map((f) => f.event.id)).toEqual(ids.slice(-1))
    // A socket whose send buffer is full gets the log from the sweep, as the buffer drains.
    const cy = await c.login()
    cy.s.buffered = c.ctx.limits.maxBackpressureBytes
    await c.core.message(cy.conn, encodeFrame({ type: 'join', channel: 'admin' }))
    expect(cy.s.take('event')).toHaveLength(0)
    const live = expectOk(await c.act(c.owner, role(bob.id, BuiltinRole.moderator)))
    expect(cy.s.take('event')).toHaveLength(0) // not before the older ones
    cy.s.buffered = 0
    c.core.sweep()
    expect(cy.s.take('event').map((f) => f.event.id)).toEqual([...ids, live.id])
  })

  it('a restarted relay on the same admin log knows owner, roles, bans and used invites, and has no claim code', async () => {
    const relay = await Identity.generate()
    const log = new MemoryAdminLog()
    const c = await owned({ relay, log, policy: { access: 'invite' } })
    const bob = await c.login(undefined, null).catch(() => null)
    expect(bob).toBeNull() // invite-only
    const secret = randomBytes(32)
    expectOk(await c.act(c.owner, invite(secret, c.clock.t + DAY, 1)))
    const cara = await c.login(undefined, secret)
    expectOk(await c.act(cara, redeem(secret)))
    const eve = await Identity.generate()
    expectOk(await c.act(c.owner, role(eve, BuiltinRole.moderator)))
    expectOk(await c.act(c.owner, ban(eve, 'spam')))
    const again = await community({ relay, log, policy: { access: 'invite' }, now: c.clock.t + MIN })
    expect(again.ctx.admin.claimCode).toBeNull()
    expect(again.ctx.admin.state.owner).toBe(c.ctx.admin.state.owner)
    expect((await again.connect(eve)).error?.message).toBe('banned: spam')
    expect((await again.connect(undefined, secret)).error?.message).toBe(
      'bad_invite: this invite link is used up',
    )
    expect((await again.connect(cara.id)).welcome).toBeDefined()
    expect(again.ctx.admin.frames).toHaveLength(log.events.length)
    // Its new admin events continue the log.
    expectOk(await again.act(await again.login(c.owner.id), access('open')))
    expect(log.events).toHaveLength(again.ctx.admin.frames.length)
  })

  it('maxAdminLogBytes: past it no admin event is stamped (limit_exceeded), ordinary ones still are', async () => {
    const c = await owned({ limits: { maxAdminLogBytes: 1 } })
    const bob = await c.login()
    expect(await c.act(c.owner, role(bob.id, BuiltinRole.moderator))).toMatchObject({
      ok: false,
      code: 'limit_exceeded',
    })
    expectOk(await c.post(bob))
  })

  it('adminRequestsPending: admin requests beyond it are refused (rate_limited) while others wait', async () => {
    const c = await owned({ limits: { adminRequestsPending: 2 } })
    const bob = await c.login()
    const reqs = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        c.adminRequest(c.owner, role(bob.id, i % 2 ? BuiltinRole.member : BuiltinRole.moderator)),
      ),
    )
    const results = await Promise.all(reqs.map((r) => c.publish(c.owner, r).catch((e) => e)))
    expect(results.filter((r) => r.ok)).toHaveLength(2)
    expect(results.filter((r) => r.ok === false && r.code === 'rate_limited')).toHaveLength(2)
  })
})
