/**
 * The admin fold, one rule at a time: each action accepted, then each way it is refused, with
 * real Ed25519-signed events stamped by a relay key at chosen relay times. Also the queries at
 * a time, the bounds (history, audit, custom roles, channels, invites) and the adapters for
 * the chat (mayPost, mayEdit, chatRolesFromAdmin with a ChannelView).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { chatRolesFromAdmin, mayEdit, mayPost } from '../src/chat/admin/adapters.ts'
import { type AdminAction, AdminLimits, encodeAdminBody } from '../src/chat/admin/bodies.ts'
import { AdminState, type AdminVerdict } from '../src/chat/admin/fold.ts'
import { ADMIN_CHANNEL, AdminKind } from '../src/chat/admin/kinds.ts'
import { CUSTOM_ROLE_PERMISSIONS, Permission, permissionsOf } from '../src/chat/admin/permissions.ts'
import { encodeMessage, encodeRedact } from '../src/chat/bodies.ts'
import { ChannelView } from '../src/chat/channel-view.ts'
import { Kind } from '../src/chat/kinds.ts'
import type { StampedEvent } from '../src/event.ts'
import { type Identity, publicKeyToText } from '../src/identity/keys.ts'
import { ulidTime } from '../src/ulid.ts'
import {
  access,
  ban,
  castUsers,
  channel,
  claim,
  DAY,
  define,
  HOUR,
  invite,
  inviteBytes,
  kick,
  MIN,
  no,
  ok,
  redeem,
  relayAt,
  revoke,
  setRole,
  T0,
  timeout,
  unban,
} from './admin-fixtures.ts'

let owner: Identity, admin: Identity, mod: Identity, alice: Identity, bob: Identity, carol: Identity

beforeAll(async () => {
  ;[owner, admin, mod, alice, bob, carol] = await castUsers()
})

/** A state and a relay: `act` stamps an admin action at `at` and applies it. */
function community() {
  const r = relayAt()
  const state = new AdminState()
  let at = T0
  const act = async (user: Identity, action: AdminAction, when?: number): Promise<AdminVerdict> => {
    at = when ?? at + MIN
    return state.apply(await r.admin(user, action, at))
  }
  return { state, relay: r, act, now: () => at }
}

/** Owner claimed; `admin` is admin and `mod` moderator. */
async function staffed() {
  const c = community()
  ok(await c.act(owner, claim()))
  ok(await c.act(owner, setRole(admin, 'admin')))
  ok(await c.act(owner, setRole(mod, 'moderator')))
  return c
}

describe('admin.claim', () => {
  it('makes the first claimer owner and member, and audits it', async () => {
    const c = community()
    expect(c.state.owner).toBeUndefined()
    const v = await c.act(alice, claim())
    ok(v)
    expect(c.state.owner).toBe(publicKeyToText(alice.publicKey))
    expect(c.state.roleOf(alice.publicKey)).toBe('owner')
    expect(c.state.memberOf(alice.publicKey)).toMatchObject({ via: 'claim' })
    expect(c.state.audit()).toEqual([
      expect.objectContaining({
        kind: AdminKind.claim,
        author: publicKeyToText(alice.publicKey),
        ts: c.now(),
      }),
    ])
  })

  it('before any claim nobody holds an admin permission', async () => {
    const c = community()
    no(await c.act(alice, ban(bob)), 'no-permission')
    no(await c.act(alice, setRole(bob, 'moderator')), 'no-permission')
    no(await c.act(alice, access('open')), 'no-permission')
    no(await c.act(alice, channel({ topic: 'x' })), 'no-permission')
    expect(c.state.audit()).toEqual([])
    // ...but everyone may post (a community without admin events behaves as before).
    expect(mayPost(c.state, alice.publicKey, 'general', c.now())).toBe(true)
  })
})

describe('role.set', () => {
  it('owner makes admins, admins make moderators, moderators make nobody', async () => {
    const c = await staffed()
    expect(c.state.roleOf(admin.publicKey)).toBe('admin')
    ok(await c.act(admin, setRole(alice, 'moderator')))
    expect(c.state.roleOf(alice.publicKey)).toBe('moderator')
    no(await c.act(mod, setRole(bob, 'member')), 'no-permission')
    expect(c.state.memberOf(alice.publicKey)).toMatchObject({ via: 'role' })
  })

  it('a role may only give roles strictly below its own, and act on keys strictly below it', async () => {
    const c = await staffed()
    no(await c.act(admin, setRole(alice, 'admin')), 'outranked')
    ok(await c.act(owner, setRole(bob, 'admin')))
    no(await c.act(admin, setRole(bob, 'member')), 'outranked') // an equal
    no(await c.act(admin, setRole(owner, 'member')), 'outranked') // a higher
    ok(await c.act(admin, setRole(mod, 'member'))) // a lower
    expect(c.state.roleOf(mod.publicKey)).toBe('member')
  })

  it('nobody sets their own role', async () => {
    const c = await staffed()
    no(await c.act(owner, setRole(owner, 'admin')), 'self')
    no(await c.act(admin, setRole(admin, 'member')), 'self')
  })

  it("setting 'owner' is the hand-over: only the owner, and the old owner becomes admin", async () => {
    const c = await staffed()
    no(await c.act(admin, setRole(mod, 'owner')), 'owner-only')
    ok(await c.act(owner, setRole(admin, 'owner')))
    expect(c.state.owner).toBe(publicKeyToText(admin.publicKey))
    expect(c.state.roleOf(admin.publicKey)).toBe('owner')
    expect(c.state.roleOf(owner.publicKey)).toBe('admin')
    // The old owner now acts as an admin: not on the new owner.
    no(await c.act(owner, ban(admin)), 'outranked')
    no(await c.act(owner, setRole(alice, 'admin')), 'outranked')
  })

  it('custom roles must be defined first; a banned key gets no role', async () => {
    const c = await staffed()
    no(await c.act(admin, setRole(alice, 'helper')), 'unknown-role')
    ok(await c.act(admin, define('helper', Permission.post | Permission.moderate)))
    ok(await c.act(admin, setRole(alice, 'helper')))
    expect(c.state.roleOf(alice.publicKey)).toBe('helper')
    ok(await c.act(admin, ban(bob)))
    no(await c.act(admin, setRole(bob, 'moderator')), 'target-banned')
  })
})

describe('role.define', () => {
  it('a custom role has exactly its bits, ranks between member and moderator, and changes from its time', async () => {
    const c = await staffed()
    ok(await c.act(admin, define('helper', Permission.post | Permission.moderate)))
    ok(await c.act(admin, setRole(alice, 'helper')))
    const before = c.now()
    expect(c.state.can(alice.publicKey, Permission.moderate, before)).toBe(true)
    expect(c.state.can(alice.publicKey, Permission.invite, before)).toBe(false)
    ok(await c.act(alice, kick(bob))) // below it
    no(await c.act(alice, kick(mod)), 'outranked') // above it
    ok(await c.act(admin, define('helper', Permission.post)))
    expect(c.state.can(alice.publicKey, Permission.moderate, c.now())).toBe(false)
    expect(c.state.can(alice.publicKey, Permission.moderate, before)).toBe(true)
    no(await c.act(alice, kick(carol)), 'no-permission')
    expect(c.state.customRoles()).toEqual(new Map([['helper', Permission.post]]))
  })

  it('a read-only custom role takes even posting away', async () => {
    const c = await staffed()
    ok(await c.act(admin, define('muted', 0)))
    no(await c.act(mod, setRole(alice, 'muted')), 'no-permission')
    ok(await c.act(admin, setRole(alice, 'muted')))
    expect(mayPost(c.state, alice.publicKey, 'general', c.now())).toBe(false)
  })

  it('refuses built-in names, administrative bits, and members', async () => {
    const c = await staffed()
    no(await c.act(admin, define('moderator', Permission.post)), 'reserved-role')
    no(await c.act(admin, define('boss', Permission.ban)), 'bad-permissions')
    no(await c.act(admin, define('boss', Permission.manageRoles)), 'bad-permissions')
    no(await c.act(admin, define('boss', Permission.manageCommunity)), 'bad-permissions')
    no(await c.act(mod, define('helper', Permission.post)), 'no-permission')
    ok(await c.act(admin, define('boss', CUSTOM_ROLE_PERMISSIONS)))
  })

  it(`at most ${AdminLimits.customRoles} custom roles (redefining one does not count)`, async () => {
    const c = await staffed()
    for (let i = 0; i < AdminLimits.customRoles; i++) ok(await c.act(admin, define(`r${i}`, 0)))
    no(await c.act(admin, define('one-more', 0)), 'too-many-roles')
    ok(await c.act(admin, define('r0', Permission.post)))
  })
})

describe('channel.update', () => {
  it('merges partial updates, last one wins per field', async () => {
    const c = await staffed()
    ok(await c.act(admin, channel({ name: 'General', topic: 'hello', position: 'a0' })))
    ok(await c.act(admin, channel({ topic: 'bye' })))
    const ch = c.state.channels().get('general')!
    expect(ch).toMatchObject({
      channel: 'general',
      name: 'General',
      topic: 'bye',
      position: 'a0',
      archived: false,
    })
    expect(ch.postRole).toBe('member')
    expect(c.state.channelAt('general', T0)).toBeUndefined()
    expect(c.state.channelAt('general')!.topic).toBe('bye')
  })

  it('needs manageChannels; the admin channel has no settings; nobody reserves a channel above their role', async () => {
    const c = await staffed()
    no(await c.act(mod, channel({ topic: 'x' })), 'no-permission')
    no(
      await c.act(admin, { kind: AdminKind.channelUpdate, body: { channel: ADMIN_CHANNEL, topic: 'x' } }),
      'reserved-channel',
    )
    no(await c.act(admin, channel({ postRole: 'owner' })), 'outranked')
    ok(await c.act(owner, channel({ postRole: 'owner' })))
  })

  it('an announcements channel: only moderators and above post, from the update on', async () => {
    const c = await staffed()
    const before = c.now()
    ok(
      await c.act(admin, { kind: AdminKind.channelUpdate, body: { channel: 'news', postRole: 'moderator' } }),
    )
    const after = c.now()
    expect(mayPost(c.state, alice.publicKey, 'news', before)).toBe(true)
    expect(mayPost(c.state, alice.publicKey, 'news', after)).toBe(false)
    expect(mayPost(c.state, mod.publicKey, 'news', after)).toBe(true)
    expect(mayPost(c.state, owner.publicKey, 'news', after)).toBe(true)
    expect(mayPost(c.state, alice.publicKey, 'general', after)).toBe(true)
  })

  it('an archived channel takes no posts, from anyone; the admin channel takes no ordinary posts', async () => {
    const c = await staffed()
    ok(await c.act(admin, channel({ archived: true })))
    expect(mayPost(c.state, owner.publicKey, 'general', c.now())).toBe(false)
    ok(await c.act(admin, channel({ archived: false })))
    expect(mayPost(c.state, alice.publicKey, 'general', c.now())).toBe(true)
    expect(mayPost(c.state, owner.publicKey, ADMIN_CHANNEL, c.now())).toBe(false)
  })

  it(`at most ${AdminLimits.channels} channels with settings`, async () => {
    const c = await staffed()
    const r = c.relay
    const events = await Promise.all(
      Array.from({ length: AdminLimits.channels + 1 }, (_, i) =>
        r.admin(
          admin,
          { kind: AdminKind.channelUpdate, body: { channel: `c${i}`, topic: '' } },
          T0 + DAY + i,
        ),
      ),
    )
    const verdicts = events.map((e) => c.state.apply(e))
    expect(verdicts.slice(0, -1).every((v) => v.ok)).toBe(true)
    no(verdicts.at(-1)!, 'too-many-channels')
    ok(
      c.state.apply(
        await r.admin(
          admin,
          { kind: AdminKind.channelUpdate, body: { channel: 'c0', topic: 'x' } },
          T0 + 2 * DAY,
        ),
      ),
    )
  })
})

describe('channel.update editRole and mayEdit (canvas permissions)', () => {
  const edit = (editRole: string | null, extra: Record<string, unknown> = {}) =>
    channel({ channel: 'notes', editRole, ...extra })

  it('editing follows postRole until an editRole is set, and the change counts from its millisecond', async () => {
    const c = await staffed()
    // No settings: everyone who may post may edit.
    expect(mayEdit(c.state, alice.publicKey, 'notes', c.now())).toBe(true)
    ok(await c.act(admin, channel({ channel: 'notes', postRole: 'moderator' })))
    const reserved = c.now()
    expect(c.state.channelAt('notes')!.editRole).toBeUndefined()
    expect(c.state.leastRoleTo('edit', 'notes', reserved)).toBe('moderator')
    expect(mayEdit(c.state, alice.publicKey, 'notes', reserved)).toBe(false) // follows postRole
    expect(mayEdit(c.state, mod.publicKey, 'notes', reserved)).toBe(true)

    ok(await c.act(admin, edit('member')))
    const opened = c.now()
    expect(c.state.channelAt('notes')).toMatchObject({ postRole: 'moderator', editRole: 'member' })
    // Members edit the canvas of a channel they may not post in.
    expect(mayEdit(c.state, alice.publicKey, 'notes', opened)).toBe(true)
    expect(mayPost(c.state, alice.publicKey, 'notes', opened)).toBe(false)
    expect(mayEdit(c.state, alice.publicKey, 'notes', opened - 1)).toBe(false) // before the change

    ok(await c.act(admin, edit('admin')))
    const locked = c.now()
    expect(mayEdit(c.state, mod.publicKey, 'notes', locked)).toBe(false)
    expect(mayEdit(c.state, mod.publicKey, 'notes', locked - 1)).toBe(true)
    expect(mayEdit(c.state, admin.publicKey, 'notes', locked)).toBe(true)
    expect(mayEdit(c.state, owner.publicKey, 'notes', locked)).toBe(true)
    expect(mayPost(c.state, mod.publicKey, 'notes', locked)).toBe(true) // posting unchanged
    expect(mayEdit(c.state, alice.publicKey, 'general', locked)).toBe(true) // other channels unchanged

    // null: follow postRole again, from then on.
    ok(await c.act(admin, edit(null)))
    const back = c.now()
    expect(c.state.channelAt('notes')!.editRole).toBeUndefined()
    expect(c.state.channelAt('notes', locked)!.editRole).toBe('admin')
    expect(mayEdit(c.state, mod.publicKey, 'notes', back)).toBe(true)
    expect(mayEdit(c.state, alice.publicKey, 'notes', back)).toBe(false)
    // A later postRole change moves editing with it.
    ok(await c.act(admin, channel({ channel: 'notes', postRole: 'member' })))
    expect(mayEdit(c.state, alice.publicKey, 'notes', c.now())).toBe(true)
  })

  it('nobody reserves editing above their own role (nor hands it back to a postRole above it)', async () => {
    const c = await staffed()
    no(await c.act(admin, edit('owner')), 'outranked')
    ok(await c.act(admin, edit('admin')))
    ok(await c.act(owner, channel({ channel: 'notes', postRole: 'owner', editRole: 'member' })))
    // Following postRole would now reserve editing to the owner: above an admin.
    no(await c.act(admin, edit(null)), 'outranked')
    no(await c.act(admin, edit(null, { postRole: 'owner' })), 'outranked')
    ok(await c.act(admin, edit(null, { postRole: 'admin' })))
    expect(c.state.channelAt('notes')).toMatchObject({ postRole: 'admin' })
    expect(c.state.channelAt('notes')!.editRole).toBeUndefined()
    // A custom role that manages channels ranks between members and moderators.
    ok(await c.act(admin, define('curator', Permission.manageChannels | Permission.post)))
    ok(await c.act(admin, setRole(carol, 'curator')))
    no(await c.act(carol, channel({ channel: 'wiki', editRole: 'moderator' })), 'outranked')
    ok(await c.act(carol, channel({ channel: 'wiki', editRole: 'member' })))
    // Moderators do not manage channels.
    no(await c.act(mod, channel({ channel: 'wiki', editRole: 'member' })), 'no-permission')
  })

  it('banned, timed-out and archived: nobody edits; the admin channel has no canvas', async () => {
    const c = await staffed()
    ok(await c.act(admin, edit('member')))
    ok(await c.act(mod, timeout(alice, c.now() + HOUR)))
    const timedOut = c.now()
    expect(mayEdit(c.state, alice.publicKey, 'notes', timedOut)).toBe(false)
    expect(mayEdit(c.state, alice.publicKey, 'notes', timedOut + HOUR)).toBe(true) // it ends
    ok(await c.act(mod, ban(bob)))
    expect(mayEdit(c.state, bob.publicKey, 'notes', c.now())).toBe(false)
    expect(mayEdit(c.state, bob.publicKey, 'notes', c.now() - 1)).toBe(true)
    ok(await c.act(admin, edit('member', { archived: true })))
    expect(mayEdit(c.state, owner.publicKey, 'notes', c.now())).toBe(false)
    expect(mayEdit(c.state, owner.publicKey, ADMIN_CHANNEL, c.now())).toBe(false)
    // A role that may not post may not edit either, whatever the editRole.
    ok(await c.act(admin, define('muted', 0)))
    ok(await c.act(admin, setRole(carol, 'muted')))
    expect(mayEdit(c.state, carol.publicKey, 'general', c.now())).toBe(false)
  })
})

describe('member.kick', () => {
  it('ends membership and drops the role; the kicked key may come back as a member', async () => {
    const c = await staffed()
    ok(await c.act(owner, setRole(bob, 'moderator')))
    ok(await c.act(admin, kick(bob, 'calm down')))
    expect(c.state.roleOf(bob.publicKey)).toBe('member')
    expect(c.state.memberOf(bob.publicKey)).toBeUndefined()
    expect(c.state.audit().at(-1)).toMatchObject({
      kind: AdminKind.memberKick,
      target: publicKeyToText(bob.publicKey),
      reason: 'calm down',
    })
    expect(mayPost(c.state, bob.publicKey, 'general', c.now())).toBe(true)
  })

  it('needs moderate, and a target strictly below', async () => {
    const c = await staffed()
    no(await c.act(alice, kick(bob)), 'no-permission')
    no(await c.act(mod, kick(admin)), 'outranked')
    ok(await c.act(owner, setRole(bob, 'moderator')))
    no(await c.act(mod, kick(bob)), 'outranked')
    no(await c.act(mod, kick(mod)), 'self')
    ok(await c.act(mod, kick(alice)))
  })
})

describe('member.ban / member.unban', () => {
  it('a ban: no posts after it, posts before it stand; it ends at `until`', async () => {
    const c = await staffed()
    const before = c.now()
    const until = c.now() + MIN + DAY
    ok(await c.act(admin, ban(alice, 'spam', until)))
    const at = c.now()
    expect(c.state.banOf(alice.publicKey, at)).toMatchObject({
      reason: 'spam',
      until,
      by: publicKeyToText(admin.publicKey),
    })
    expect(mayPost(c.state, alice.publicKey, 'general', before)).toBe(true)
    expect(mayPost(c.state, alice.publicKey, 'general', at)).toBe(false)
    expect(mayPost(c.state, alice.publicKey, 'general', until - 1)).toBe(false)
    expect(mayPost(c.state, alice.publicKey, 'general', until)).toBe(true)
    expect(c.state.banOf(alice.publicKey, until)).toBeUndefined()
    expect(c.state.memberOf(alice.publicKey)).toBeUndefined()
  })

  it('a ban without an end lasts for ever; unban lifts it', async () => {
    const c = await staffed()
    ok(await c.act(admin, ban(alice)))
    expect(c.state.banOf(alice.publicKey, T0 + 10_000 * DAY)).toBeDefined()
    no(await c.act(mod, unban(alice)), 'outranked') // an admin's ban is lifted by an admin or above
    ok(await c.act(admin, unban(alice)))
    expect(c.state.banOf(alice.publicKey, c.now())).toBeUndefined()
    expect(mayPost(c.state, alice.publicKey, 'general', c.now())).toBe(true)
    no(await c.act(admin, unban(alice)), 'not-banned')
  })

  it('ban is moderator and above, on lower ranks only; a ban ending before it starts is refused', async () => {
    const c = await staffed()
    no(await c.act(bob, ban(alice)), 'no-permission')
    no(await c.act(mod, ban(admin)), 'outranked')
    ok(await c.act(mod, ban(alice, 'by a moderator')))
    ok(await c.act(mod, unban(alice)))
    no(await c.act(admin, ban(alice, 'x', c.now() + MIN)), 'bad-time')
    no(await c.act(admin, ban(owner)), 'outranked')
    no(await c.act(admin, ban(admin)), 'self')
  })

  it("a ban drops the target's role, so a banned admin never returns as admin", async () => {
    const c = await staffed()
    ok(await c.act(owner, ban(admin, 'rogue', c.now() + 2 * MIN)))
    expect(c.state.roleOf(admin.publicKey)).toBe('member')
    expect(c.state.roleAt(admin.publicKey, T0 + 2 * MIN)).toBe('admin')
  })

  it("an admin cannot lift or change the owner's ban, the owner can", async () => {
    const c = await staffed()
    ok(await c.act(owner, ban(alice, 'owner says')))
    no(await c.act(admin, unban(alice)), 'outranked')
    no(await c.act(admin, ban(alice, 'shorter', c.now() + 2 * MIN)), 'outranked')
    ok(await c.act(owner, unban(alice)))
  })

  it("a banned key's admin events are refused", async () => {
    const c = await staffed()
    ok(await c.act(owner, ban(mod)))
    no(await c.act(mod, kick(alice)), 'banned')
    no(await c.act(mod, redeem(1)), 'banned')
  })
})

describe('member.timeout', () => {
  it('silences until `until`, then the key posts again; a timed-out key acts on nothing', async () => {
    const c = await staffed()
    ok(await c.act(owner, setRole(bob, 'moderator')))
    const until = c.now() + MIN + HOUR
    ok(await c.act(admin, timeout(bob, until)))
    expect(c.state.timeoutOf(bob.publicKey, c.now())).toMatchObject({ until })
    expect(mayPost(c.state, bob.publicKey, 'general', c.now())).toBe(false)
    no(await c.act(bob, kick(alice)), 'timed-out')
    expect(mayPost(c.state, bob.publicKey, 'general', until)).toBe(true)
    ok(await c.act(bob, kick(alice), until))
    expect(c.state.roleOf(bob.publicKey)).toBe('moderator') // a timeout keeps the role
  })

  it('a timeout at or before its own time lifts one; longer than 28 days is a ban', async () => {
    const c = await staffed()
    ok(await c.act(mod, timeout(alice, c.now() + MIN + DAY)))
    ok(await c.act(mod, timeout(alice, 0)))
    expect(c.state.timeoutOf(alice.publicKey, c.now())).toBeUndefined()
    const at = c.now() + MIN
    no(await c.act(mod, timeout(alice, at + AdminLimits.timeout + 1), at), 'bad-time')
    ok(await c.act(mod, timeout(alice, at + 1 + AdminLimits.timeout), at + 1))
  })

  it('needs moderate and a lower target', async () => {
    const c = await staffed()
    no(await c.act(alice, timeout(bob, c.now() + HOUR)), 'no-permission')
    no(await c.act(mod, timeout(admin, c.now() + HOUR)), 'outranked')
  })
})

describe('invites', () => {
  it('create, redeem until used up; a redeemer becomes a member', async () => {
    const c = await staffed()
    ok(await c.act(mod, invite(1, T0 + DAY, 2)))
    expect(c.state.inviteUsable(inviteBytes(1), c.now())).toBe(true)
    ok(await c.act(alice, redeem(1)))
    expect(c.state.memberOf(alice.publicKey)).toMatchObject({ via: 'invite' })
    ok(await c.act(bob, redeem(1)))
    expect(c.state.invites().get('00000001000000000000000000000000')).toMatchObject({
      uses: 2,
      usesLeft: 0,
      by: publicKeyToText(mod.publicKey),
    })
    expect(c.state.inviteStatus('00000001000000000000000000000000', c.now())).toBe('used-up')
    no(await c.act(carol, redeem(1)), 'invite-used-up')
  })

  it('members invite only while the community is open', async () => {
    const c = await staffed()
    no(await c.act(alice, invite(1, T0 + DAY)), 'no-permission')
    no(await c.act(mod, access('open')), 'no-permission')
    ok(await c.act(admin, access('open')))
    expect(c.state.accessAt()).toBe('open')
    expect(c.state.accessAt(T0)).toBe('invite')
    ok(await c.act(alice, invite(1, T0 + DAY)))
    expect(permissionsOf('member', 'open') & Permission.invite).toBeTruthy()
  })

  it('refuses an invite already expired and an id already used', async () => {
    const c = await staffed()
    no(await c.act(mod, invite(1, c.now() + MIN)), 'bad-time')
    ok(await c.act(mod, invite(1, T0 + DAY)))
    no(await c.act(admin, invite(1, T0 + DAY)), 'duplicate-invite')
  })

  it('revoke: the creator, or a key that outranks the creator', async () => {
    const c = await staffed()
    ok(await c.act(owner, setRole(bob, 'moderator')))
    ok(await c.act(mod, invite(1, T0 + DAY)))
    ok(await c.act(mod, invite(2, T0 + DAY)))
    no(await c.act(bob, revoke(1)), 'outranked')
    no(await c.act(alice, revoke(1)), 'no-permission')
    ok(await c.act(mod, revoke(1)))
    ok(await c.act(admin, revoke(2)))
    no(await c.act(admin, revoke(2)), 'invite-revoked')
    no(await c.act(admin, revoke(3)), 'unknown-invite')
    expect(c.state.invites().get('00000001000000000000000000000000')!.revokedAt).toBe(c.now() - 3 * MIN)
  })

  it(`at most ${AdminLimits.invites} invites: unusable ones make room`, async () => {
    const c = await staffed()
    const r = c.relay
    const start = T0 + HOUR
    const events: StampedEvent[] = []
    for (let from = 0; from < AdminLimits.invites; from += 500)
      events.push(
        ...(await Promise.all(
          Array.from({ length: 500 }, (_, k) =>
            r.admin(admin, invite(100 + from + k, start + DAY), start + from + k),
          ),
        )),
      )
    for (const e of events) ok(c.state.apply(e))
    const later = start + AdminLimits.invites
    no(c.state.apply(await r.admin(admin, invite(1, later + DAY), later)), 'too-many-invites')
    ok(c.state.apply(await r.admin(admin, invite(2, start + 3 * DAY), start + DAY)))
    expect(c.state.invites().size).toBe(1)
  }, 60_000)
})

describe('queries at a time', () => {
  it('roleAt and can follow every change at its own relay time', async () => {
    const c = await staffed()
    const t1 = c.now()
    ok(await c.act(owner, setRole(mod, 'member')))
    const t2 = c.now()
    expect(c.state.roleAt(mod.publicKey, t1)).toBe('moderator')
    expect(c.state.roleAt(mod.publicKey, t2 - 1)).toBe('moderator')
    expect(c.state.roleAt(mod.publicKey, t2)).toBe('member')
    expect(c.state.roleAt(mod.publicKey, T0 - 1)).toBe('member')
    expect(c.state.can(mod.publicKey, Permission.moderate, t1)).toBe(true)
    expect(c.state.can(mod.publicKey, Permission.moderate, t2)).toBe(false)
    // Keys as text work the same.
    expect(c.state.roleAt(publicKeyToText(mod.publicKey), t1)).toBe('moderator')
    expect(c.state.outranks(admin.publicKey, mod.publicKey, t1)).toBe(true)
    expect(c.state.outranks(mod.publicKey, admin.publicKey, t1)).toBe(false)
  })

  it(`history is bounded (${AdminLimits.history} changes per key): older times answer the oldest kept`, async () => {
    const c = await staffed()
    const times: number[] = []
    for (let i = 0; i < AdminLimits.history + 2; i++) {
      ok(await c.act(owner, setRole(alice, i % 2 ? 'member' : 'moderator')))
      times.push(c.now())
    }
    // Changes 0 and 1 were dropped; change 1 (member) is the value before the oldest kept.
    expect(c.state.roleAt(alice.publicKey, times[2]!)).toBe('moderator')
    expect(c.state.roleAt(alice.publicKey, times[2]! - 1)).toBe('member')
    expect(c.state.roleAt(alice.publicKey, times[0]!)).toBe('member') // truly moderator: past the horizon
    expect(c.state.roleAt(alice.publicKey, times.at(-1)!)).toBe('member')
  })

  it(`the audit log keeps the last ${AdminLimits.audit} accepted actions`, async () => {
    const c = await staffed()
    const r = c.relay
    const events = await Promise.all(
      Array.from({ length: AdminLimits.audit }, (_, i) =>
        r.admin(mod, timeout(alice, T0 + DAY + i + 1), T0 + DAY + i),
      ),
    )
    for (const e of events) ok(c.state.apply(e))
    const audit = c.state.audit()
    expect(audit).toHaveLength(AdminLimits.audit)
    expect(audit[0]).toMatchObject({ id: events[0]!.id, kind: AdminKind.memberTimeout })
    expect(audit.at(-1)).toMatchObject({ id: events.at(-1)!.id, until: T0 + DAY + AdminLimits.audit })
    expect(audit.some((a) => a.kind === AdminKind.claim)).toBe(false)
  })
})

describe('the fold', () => {
  it('refuses events of another channel, unknown kinds and malformed bodies', async () => {
    const c = await staffed()
    const r = c.relay
    const elsewhere = await r.event(
      owner,
      AdminKind.memberBan,
      encodeAdminBody(ban(alice)),
      c.now() + 1,
      'general',
    )
    no(c.state.apply(elsewhere), 'wrong-channel')
    no(
      c.state.apply(
        await r.event(owner, 'message', encodeMessage({ text: 'hi', mentions: [] }), c.now() + 2),
      ),
      'unknown-kind',
    )
    no(
      c.state.apply(await r.event(owner, AdminKind.memberBan, new Uint8Array([1, 2, 3]), c.now() + 3)),
      'malformed',
    )
    expect(c.state.banOf(alice.publicKey, c.now() + 4)).toBeUndefined()
  })

  it('judges in id order: an event below the last judged is refused (refold instead)', async () => {
    const c = await staffed()
    const r = relayAt()
    const early = await r.admin(bob, ban(alice), T0 + 30_000)
    const v = c.state.apply(early)
    no(v, 'out-of-order')
  })

  it('check() judges without changing anything, and predicts apply()', async () => {
    const c = await staffed()
    const e = await c.relay.admin(admin, ban(alice), c.now() + MIN)
    const snapshot = JSON.stringify(c.state)
    const predicted = c.state.check(e)
    expect(predicted).toMatchObject({ ok: true, action: { kind: AdminKind.memberBan } })
    expect(JSON.stringify(c.state)).toBe(snapshot)
    no(c.state.check(await c.relay.admin(bob, ban(alice), c.now() + 2 * MIN)), 'no-permission')
    expect(JSON.stringify(c.state)).toBe(snapshot)
    expect(c.state.apply(e)).toEqual(predicted)
    expect(c.state.banOf(alice.publicKey, ulidTime(e.id))).toBeDefined()
  })
})

describe('chatRolesFromAdmin with a ChannelView', () => {
  it("a moderator's redaction counts while it moderates, not after its demotion", async () => {
    const c = await staffed()
    const r = c.relay
    const say = (who: Identity, text: string, at: number) =>
      r.event(who, Kind.message, encodeMessage({ text, mentions: [] }), at, 'general')
    const strike = (who: Identity, target: StampedEvent, at: number) =>
      r.event(who, Kind.redact, encodeRedact({ target: target.id }), at, 'general')
    const m1 = await say(alice, 'one', c.now() + 1)
    const m2 = await say(alice, 'two', c.now() + 2)
    const r1 = await strike(mod, m1, c.now() + 3)
    ok(await c.act(owner, setRole(mod, 'member'), c.now() + 4))
    const r2 = await strike(mod, m2, c.now() + 1)
    const view = new ChannelView('general', { roles: chatRolesFromAdmin(c.state) })
    view.apply([m1, m2, r1, r2])
    expect(view.message(m1.id)!.redacted).toBeDefined()
    expect(view.message(m2.id)!.redacted).toBeUndefined()
    expect(c.state.rolesAt(owner.publicKey, c.now())).toEqual(new Set(['owner', 'admin']))
  })

  it('custom roles that moderate count as moderators; banned keys have no roles', async () => {
    const c = await staffed()
    ok(await c.act(admin, define('helper', Permission.post | Permission.moderate)))
    ok(await c.act(admin, setRole(alice, 'helper')))
    const roles = chatRolesFromAdmin(c.state)
    expect(roles(alice.publicKey, c.now())).toEqual(new Set(['helper', 'moderator']))
    ok(await c.act(admin, ban(alice)))
    expect(roles(alice.publicKey, c.now())).toEqual(new Set())
  })
})
