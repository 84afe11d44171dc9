/**
 * Hostile cases named in issue #14, with real Ed25519 signatures and a relay key stamping:
 * forged admin events, replays, a demoted admin acting on, a ban racing a post, invites
 * reused, expired, revoked or altered, a second claim, and what a malicious admin still
 * cannot do. Signature checks are the log's (verifyAuthor / verifyRelayStamp); the fold's
 * checks are the permissions at each event's relay time.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { mayPost } from '../src/chat/admin/adapters.ts'
import { type AdminAction, encodeAdminBody } from '../src/chat/admin/bodies.ts'
import { AdminState, foldAdmin } from '../src/chat/admin/fold.ts'
import { inviteIdOf, newInviteSecret } from '../src/chat/admin/invite-id.ts'
import { AdminKind } from '../src/chat/admin/kinds.ts'
import { Permission } from '../src/chat/admin/permissions.ts'
import { encodeMessage } from '../src/chat/bodies.ts'
import { Kind } from '../src/chat/kinds.ts'
import { type StampedEvent, verifyAuthor, verifyRelayStamp } from '../src/event.ts'
import { type Identity, publicKeyToText } from '../src/identity/keys.ts'
import { ulidTime } from '../src/ulid.ts'
import {
  ban,
  castUsers,
  claim,
  create,
  DAY,
  MIN,
  no,
  ok,
  redeem,
  relayAt,
  revoke,
  setRole,
  T0,
  unban,
} from './admin-fixtures.ts'
import { cast, prng } from './projection-fixtures.ts'

let relay: Identity
let owner: Identity,
  admin: Identity,
  mod: Identity,
  alice: Identity,
  bob: Identity,
  mallory: Identity,
  otherRelay: Identity

beforeAll(async () => {
  relay = (await cast(0)).relay
  ;[owner, admin, mod, alice, bob, mallory, otherRelay] = await castUsers()
})

/** The owner claimed at T0+1min, made `admin` admin at +2min and `mod` moderator at +3min. */
async function staffedEvents(r: ReturnType<typeof relayAt>): Promise<StampedEvent[]> {
  return [
    await r.admin(owner, claim(), T0 + MIN),
    await r.admin(owner, setRole(admin, 'admin'), T0 + 2 * MIN),
    await r.admin(owner, setRole(mod, 'moderator'), T0 + 3 * MIN),
  ]
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rnd = prng(seed)
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('forged admin events', () => {
  it("a member's own admin event is stamped, verifies, and is refused by the fold", async () => {
    const r = relayAt()
    const { state } = foldAdmin(await staffedEvents(r))
    const before = JSON.stringify(state.audit())
    for (const action of [
      ban(alice),
      setRole(mallory, 'admin'),
      setRole(mallory, 'owner'),
      claim(),
      unban(bob),
    ]) {
      const forged = await r.admin(mallory, action, T0 + 10 * MIN)
      expect(await verifyAuthor(forged)).toBe(true)
      expect(await verifyRelayStamp(forged, relay.publicKey)).toBe(true)
      const v = state.apply(forged)
      expect(v.ok, action.kind).toBe(false)
    }
    expect(JSON.stringify(state.audit())).toBe(before)
    expect(state.roleOf(mallory.publicKey)).toBe('member')
    expect(state.banOf(alice.publicKey, T0 + DAY)).toBeUndefined()
  })

  it("an event claiming the owner's key but signed by another fails the author check", async () => {
    const r = relayAt()
    const genuine = await r.admin(mallory, ban(alice), T0 + MIN)
    const forged = { ...genuine, author: owner.publicKey }
    expect(await verifyAuthor(forged)).toBe(false)
    expect(await verifyRelayStamp(forged, relay.publicKey)).toBe(false)
  })

  it("a genuine owner's event with its body altered (another target) fails both signatures", async () => {
    const r = relayAt()
    const genuine = await r.admin(owner, ban(alice), T0 + MIN)
    const altered = { ...genuine, body: encodeAdminBody(ban(bob)) }
    expect(await verifyAuthor(genuine)).toBe(true)
    expect(await verifyAuthor(altered)).toBe(false)
    expect(await verifyRelayStamp(altered, relay.publicKey)).toBe(false)
  })

  it('a stamp by another relay key does not verify as this relay', async () => {
    const rogue = relayAt(() => otherRelay)
    const e = await rogue.admin(owner, ban(alice), T0 + MIN)
    expect(await verifyRelayStamp(e, relay.publicKey)).toBe(false)
    expect(await verifyRelayStamp(e, otherRelay.publicKey)).toBe(true)
  })
})

describe('replays', () => {
  it('the same event twice counts once (apply and foldAdmin)', async () => {
    const r = relayAt()
    const events = await staffedEvents(r)
    const b = await r.admin(admin, ban(alice), T0 + 10 * MIN)
    const state = new AdminState()
    for (const e of events) ok(state.apply(e))
    ok(state.apply(b))
    const once = JSON.stringify(state)
    no(state.apply(b), 'duplicate')
    expect(JSON.stringify(state)).toBe(once)
    const folded = foldAdmin([b, ...events, b, events[0]!, b])
    expect(folded.refused).toEqual([])
    expect(JSON.stringify(folded.state)).toBe(once)
  })

  it('an old ban restamped after the unban is refused: the unban stands', async () => {
    const r = relayAt()
    const events = await staffedEvents(r)
    const b = await r.admin(admin, ban(alice), T0 + 10 * MIN)
    const u = await r.admin(admin, unban(alice), T0 + 20 * MIN)
    const replay = await r.restamp(b, T0 + 30 * MIN)
    expect(await verifyRelayStamp(replay, relay.publicKey)).toBe(true)
    expect(await verifyAuthor(replay)).toBe(true)
    const { state, refused } = foldAdmin([...events, b, u, replay])
    expect(refused).toEqual([{ id: replay.id, reason: 'replayed', detail: expect.stringContaining(b.id) }])
    expect(state.banOf(alice.publicKey, T0 + 40 * MIN)).toBeUndefined()
  })

  it('an old promotion restamped after the demotion is refused', async () => {
    const r = relayAt()
    const events = await staffedEvents(r)
    const demote = await r.admin(owner, setRole(admin, 'member'), T0 + 10 * MIN)
    const replay = await r.restamp(events[1]!, T0 + 20 * MIN)
    const { state, refused } = foldAdmin([...events, demote, replay])
    expect(refused.map((x) => x.reason)).toEqual(['replayed'])
    expect(state.roleOf(admin.publicKey)).toBe('member')
  })

  it('a refused request stays refused when restamped after its author gains the right', async () => {
    const r = relayAt()
    const events = await staffedEvents(r)
    const early = await r.admin(alice, ban(bob), T0 + 10 * MIN)
    const promote = await r.admin(owner, setRole(alice, 'admin'), T0 + 20 * MIN)
    const replay = await r.restamp(early, T0 + 30 * MIN)
    const { state, refused } = foldAdmin([...events, early, promote, replay])
    expect(refused.map((x) => x.reason)).toEqual(['no-permission', 'replayed'])
    expect(state.banOf(bob.publicKey, T0 + DAY)).toBeUndefined()
  })
})

describe('a demoted admin', () => {
  it('acts until the demotion, is refused after it; its earlier acts stand', async () => {
    const r = relayAt()
    const events = await staffedEvents(r)
    const banAlice = await r.admin(admin, ban(alice), T0 + 10 * MIN)
    const demote = await r.admin(owner, setRole(admin, 'member'), T0 + 20 * MIN)
    const banBob = await r.admin(admin, ban(bob), T0 + 20 * MIN + 1)
    const promoteMallory = await r.admin(admin, setRole(mallory, 'moderator'), T0 + 30 * MIN)
    const all = [...events, banAlice, demote, banBob, promoteMallory]
    for (const seed of [1, 2, 3]) {
      const { state, refused } = foldAdmin(shuffled(all, seed))
      expect(refused.map((x) => [x.id, x.reason])).toEqual([
        [banBob.id, 'no-permission'],
        [promoteMallory.id, 'no-permission'],
      ])
      expect(state.banOf(alice.publicKey, T0 + DAY)).toBeDefined()
      expect(state.banOf(bob.publicKey, T0 + DAY)).toBeUndefined()
      expect(state.roleOf(mallory.publicKey)).toBe('member')
      // Peers judging its old messages still see the admin it was then.
      expect(state.can(admin.publicKey, Permission.ban, ulidTime(banAlice.id))).toBe(true)
      expect(state.can(admin.publicKey, Permission.ban, ulidTime(demote.id))).toBe(false)
    }
  })
})

describe('a ban racing a post', () => {
  it('a post stamped before the ban stands, one at or after it is refused', async () => {
    const r = relayAt()
    const events = await staffedEvents(r)
    const at = T0 + 10 * MIN
    const say = (ms: number) =>
      r.event(alice, Kind.message, encodeMessage({ text: `at ${ms}`, mentions: [] }), ms, 'general')
    const before = await say(at - 1)
    const b = await r.admin(admin, ban(alice), at)
    const sameMs = await say(at)
    const after = await say(at + 1)
    const { state } = foldAdmin(shuffled([...events, b], 9))
    expect(mayPost(state, alice.publicKey, before.channel, before.ts)).toBe(true)
    // Same millisecond, id after the ban: a change counts from its own millisecond on.
    expect(sameMs.id > b.id).toBe(true)
    expect(mayPost(state, alice.publicKey, sameMs.channel, sameMs.ts)).toBe(false)
    expect(mayPost(state, alice.publicKey, after.channel, after.ts)).toBe(false)
    // The relay, asking before stamping the later post, refuses it too.
    expect(mayPost(state, alice.publicKey, 'general', at + 1)).toBe(false)
  })
})

describe('invites under attack', () => {
  async function withInvite(uses: number, expiresAt = T0 + DAY) {
    const r = relayAt()
    const secret = newInviteSecret()
    const id = inviteIdOf(secret)
    const state = foldAdmin([
      ...(await staffedEvents(r)),
      await r.admin(mod, create(id, expiresAt, uses), T0 + 10 * MIN),
    ]).state
    return { r, state, secret, id }
  }

  it('reused beyond its uses', async () => {
    const { r, state, id } = await withInvite(2)
    ok(state.apply(await r.admin(alice, redeem(id), T0 + 11 * MIN)))
    ok(state.apply(await r.admin(bob, redeem(id), T0 + 12 * MIN)))
    no(state.apply(await r.admin(mallory, redeem(id), T0 + 13 * MIN)), 'invite-used-up')
    expect(state.memberOf(mallory.publicKey)).toBeUndefined()
    expect(state.inviteUsable(id, T0 + 14 * MIN)).toBe(false)
  })

  it('used at or after its expiry', async () => {
    const expiresAt = T0 + 20 * MIN
    const { r, state, id } = await withInvite(5, expiresAt)
    expect(state.inviteStatus(id, expiresAt - 1)).toBe('usable')
    ok(state.apply(await r.admin(alice, redeem(id), expiresAt - 1)))
    no(state.apply(await r.admin(mallory, redeem(id), expiresAt)), 'invite-expired')
    expect(state.inviteStatus(id, expiresAt)).toBe('expired')
  })

  it('used after it was revoked; a redemption before the revocation stands', async () => {
    const { r, state, id } = await withInvite(5)
    ok(state.apply(await r.admin(alice, redeem(id), T0 + 11 * MIN)))
    ok(state.apply(await r.admin(mod, revoke(id), T0 + 12 * MIN)))
    no(state.apply(await r.admin(mallory, redeem(id), T0 + 13 * MIN)), 'invite-revoked')
    expect(state.memberOf(alice.publicKey)).toMatchObject({ via: 'invite' })
    expect(state.inviteStatus(id, T0 + 11 * MIN)).toBe('usable')
    expect(state.inviteStatus(id, T0 + 12 * MIN)).toBe('revoked')
  })

  it('an altered link (one bit of the secret) names no invite', async () => {
    const { r, state, secret } = await withInvite(5)
    const altered = secret.slice()
    altered[5]! ^= 0x10
    const id = inviteIdOf(altered)
    expect(state.inviteUsable(id, T0 + 11 * MIN)).toBe(false)
    expect(state.inviteStatus(id, T0 + 11 * MIN)).toBe('unknown')
    no(state.apply(await r.admin(mallory, redeem(id), T0 + 11 * MIN)), 'unknown-invite')
  })

  it('a redemption stamped before the invite existed names no invite', async () => {
    const r = relayAt()
    const id = inviteIdOf(newInviteSecret())
    const events = await staffedEvents(r)
    const early = await r.admin(mallory, redeem(id), T0 + 5 * MIN)
    const made = await r.admin(mod, create(id, T0 + DAY), T0 + 10 * MIN)
    const { refused } = foldAdmin([made, early, ...events])
    expect(refused).toEqual([{ id: early.id, reason: 'unknown-invite', detail: expect.any(String) }])
  })

  it('a banned key cannot redeem', async () => {
    const { r, state, id } = await withInvite(5)
    ok(state.apply(await r.admin(admin, ban(mallory), T0 + 11 * MIN)))
    no(state.apply(await r.admin(mallory, redeem(id), T0 + 12 * MIN)), 'banned')
  })
})

describe('claims', () => {
  it('a second claim after the owner exists is refused', async () => {
    const r = relayAt()
    const { state } = foldAdmin(await staffedEvents(r))
    no(state.apply(await r.admin(mallory, claim(), T0 + 10 * MIN)), 'already-owned')
    expect(state.owner).toBe(publicKeyToText(owner.publicKey))
  })

  it('two racing claims: the first by id wins, in any order of arrival', async () => {
    const r = relayAt()
    const first = await r.admin(alice, claim(), T0 + MIN)
    const second = await r.admin(mallory, claim(), T0 + MIN)
    for (const events of [
      [first, second],
      [second, first],
    ]) {
      const { state, refused } = foldAdmin(events)
      expect(state.owner).toBe(publicKeyToText(alice.publicKey))
      expect(refused).toEqual([{ id: second.id, reason: 'already-owned', detail: expect.any(String) }])
    }
  })

  it('after a hand-over nobody can claim', async () => {
    const r = relayAt()
    const events = [...(await staffedEvents(r)), await r.admin(owner, setRole(admin, 'owner'), T0 + 10 * MIN)]
    const { state } = foldAdmin(events)
    no(state.apply(await r.admin(owner, claim(), T0 + 11 * MIN)), 'already-owned')
    expect(state.owner).toBe(publicKeyToText(admin.publicKey))
  })
})

describe('a malicious admin', () => {
  it('cannot touch the owner, hand ownership over, promote itself, or lift the owner’s bans', async () => {
    const r = relayAt()
    const state = foldAdmin([
      ...(await staffedEvents(r)),
      await r.admin(owner, ban(bob, 'owner decision'), T0 + 4 * MIN),
    ]).state
    let t = T0 + 10 * MIN
    const act = async (a: AdminAction) => state.apply(await r.admin(admin, a, ++t))
    no(await act(ban(owner)), 'outranked')
    no(await act(setRole(owner, 'member')), 'outranked')
    no(await act(setRole(admin, 'owner')), 'self')
    no(await act(setRole(mallory, 'owner')), 'owner-only')
    no(await act(setRole(mallory, 'admin')), 'outranked')
    no(await act(unban(bob)), 'outranked')
    no(
      await act({ kind: AdminKind.roleDefine, body: { name: 'henchman', permissions: Permission.ban } }),
      'bad-permissions',
    )
    expect(state.owner).toBe(publicKeyToText(owner.publicKey))
    expect(state.banOf(bob.publicKey, t)).toBeDefined()
  })
})
