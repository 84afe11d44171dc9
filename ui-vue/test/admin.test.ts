/**
 * The app's admin surface (client/admin.ts) over the engine's real fold and really signed,
 * stamped events: each action is judged locally before it is signed (and refused with a
 * message that says why), its event folds into the view once stamped, an event arriving below
 * the last folded refolds, invite links carry a secret whose id alone is in the event, and
 * `whyNotPost` says "timed out until HH:MM", banned or read-only, and `whyNotEdit`/`allowsEdit`
 * judge a channel's canvas by its edit role. Then the same surface in the SimClient (claimed at
 * start; a timed-out send refused before it is signed).
 */
import {
  fromBase64url,
  Identity,
  monotonicUlid,
  publicKeyToText,
  randomBytes,
  type StampedEvent,
  signRequest,
  stamp,
  toHex,
} from '@peerchat/engine'
import { ADMIN_CHANNEL, type AdminKind, inviteIdOf } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AdminRefusedError, CommunityAdmin } from '../src/client/admin.ts'
import { SimClient } from '../src/client/sim.ts'
import type { Outgoing } from '../src/client/types.ts'
import { formatTime } from '../src/lib/format.ts'

beforeAll(() => useNodeCrypto())

let relay: Identity
let clockMs = 1_750_000_000_000
const nextId = monotonicUlid(() => clockMs)
const now = () => clockMs

/** One person's admin surface; what it writes is stamped by `relay` and handed to every surface. */
class Community {
  readonly surfaces: CommunityAdmin[] = []
  readonly log: StampedEvent[] = []
  changes = 0

  async join(who: Identity): Promise<CommunityAdmin> {
    const admin: CommunityAdmin = new CommunityAdmin({
      self: who.publicKey,
      now,
      linkBase: () => 'http://chat.test/',
      changed: () => void this.changes++,
      write: (kind, body) => this.write(who, kind, body),
    })
    admin.take(this.log)
    this.surfaces.push(admin)
    return admin
  }

  async write(who: Identity, kind: AdminKind, body: Uint8Array): Promise<Outgoing> {
    const request = await signRequest(who, {
      channel: ADMIN_CHANNEL,
      kind,
      body,
      clientNonce: randomBytes(16),
    })
    const event = await stamp(relay, nextId(), request)
    this.log.push(event)
    for (const s of this.surfaces) s.take([event])
    return { key: toHex(request.clientNonce), request, stamped: Promise.resolve(event) }
  }
}

let ann: Identity
let bob: Identity
let eve: Identity
beforeAll(async () => {
  ;[relay, ann, bob, eve] = await Promise.all([
    Identity.generate(),
    Identity.generate(),
    Identity.generate(),
    Identity.generate(),
  ])
})

const key = (i: Identity) => publicKeyToText(i.publicKey)

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(AdminRefusedError)
    return (e as Error).message
  }
  throw new Error('expected a refusal')
}

describe('CommunityAdmin', () => {
  it('claims, gives roles, times out and bans, with the audit log and local refusals', async () => {
    const c = new Community()
    const a = await c.join(ann)
    const b = await c.join(bob)
    const e = await c.join(eve)
    expect(a.view().owner).toBeNull()
    await a.claim()
    expect(a.view().owner).toBe(key(ann))
    expect(e.view().owner).toBe(key(ann))
    // A second claim is refused before anything is signed.
    expect(await refusal(b.claim())).toMatch(/has an owner already/)
    expect(c.log).toHaveLength(1)

    // Eve may not make herself a moderator; Ann makes Bob one.
    expect(await refusal(e.setRole(key(eve), 'moderator'))).toMatch(/role \(member\) does not allow/)
    expect(a.assignableRoles(key(bob))).toEqual(['owner', 'admin', 'moderator', 'member'])
    await a.setRole(key(bob), 'moderator')
    expect(b.view().myRole).toBe('moderator')
    expect(b.canActOn(key(eve), 'moderate')).toBe(true)
    expect(b.canActOn(key(ann), 'moderate')).toBe(false)
    expect(b.canActOn(key(eve), 'ban')).toBe(true) // moderators ban members
    expect(b.canActOn(key(ann), 'ban')).toBe(false)
    expect(await refusal(b.kick(key(ann), 'coup'))).toMatch(/below yours/)

    // Bob times Eve out: her posts are refused locally, saying until when.
    clockMs += 1000
    const until = clockMs + 10 * 60_000
    await b.timeout(key(eve), until)
    expect(e.whyNotPost('general')).toBe(`You are timed out until ${formatTime(until)}.`)
    expect(await refusal(e.claim())).toMatch(/timed out until/)
    clockMs = until
    expect(e.whyNotPost('general')).toBeNull()

    // A member cannot ban; a moderator can.
    expect(await refusal(e.ban(key(bob), 'spam'))).toMatch(/does not allow|may not|not allowed/)
    await b.ban(key(eve), 'spam')
    expect(e.whyNotPost('general')).toBe('You are banned from this community: spam.')
    expect(e.bannedNow(key(eve))).toBe(true)
    const eveRow = a.view().members.find((m) => m.id === key(eve))
    expect(eveRow?.ban?.reason).toBe('spam')

    const audit = a.view().audit.map((x) => x.kind)
    expect(audit).toEqual(['member.ban', 'member.timeout', 'role.set', 'admin.claim'])
    expect(a.view().audit[0]).toMatchObject({ author: key(bob), target: key(eve), reason: 'spam' })

    await a.unban(key(eve))
    expect(e.whyNotPost('general')).toBeNull()
  })

  it('makes invite links whose id alone is in the event, lists and revokes them', async () => {
    const c = new Community()
    const a = await c.join(ann)
    await a.claim()
    const { link, id, outgoing } = await a.createInvite({ expiresInHours: 24, uses: 1 })
    expect(link).toMatch(/^http:\/\/chat\.test\/#invite=[A-Za-z0-9_-]{43}$/)
    const secret = fromBase64url(link.split('#invite=')[1]!)
    expect(toHex(inviteIdOf(secret))).toBe(id)
    // The event names the id, never the secret.
    const body = (await outgoing.stamped).body
    expect(toHex(body)).toContain(id)
    expect(toHex(body)).not.toContain(toHex(secret))
    const [row] = a.view().invites
    expect(row).toMatchObject({ id, uses: 1, usesLeft: 1, status: 'usable', link })
    await a.revokeInvite(id)
    expect(a.view().invites[0]?.status).toBe('revoked')
    expect(await refusal(a.revokeInvite(id))).toMatch(/revoked already/)
    await expect(a.createInvite({ expiresInHours: 0, uses: 1 })).rejects.toThrow(/hours/)
    await expect(a.createInvite({ expiresInHours: 1, uses: 0 })).rejects.toThrow(/1 to 1000 uses/)
  })

  it('switches access, and makes a channel read-only for members', async () => {
    const c = new Community()
    const a = await c.join(ann)
    const e = await c.join(eve)
    await a.claim()
    expect(a.view().access).toBe('invite') // invite-only until the first access.set
    await a.setAccess('open')
    expect(e.view().access).toBe('open')
    expect(await refusal(e.setAccess('invite'))).toMatch(/does not allow/)
    await a.updateChannel('news', { postRole: 'moderator', topic: 'Announcements' })
    expect(e.whyNotPost('news')).toBe('#news is read-only: only moderators and above may post.')
    expect(a.whyNotPost('news')).toBeNull()
    expect(e.view().channels[0]).toMatchObject({
      channel: 'news',
      topic: 'Announcements',
      postRole: 'moderator',
    })
    await a.updateChannel('news', { archived: true })
    expect(a.whyNotPost('news')).toMatch(/archived/)
  })

  it("sets who may edit a channel's canvas; whyNotEdit and allowsEdit follow it (editRole, else postRole)", async () => {
    const c = new Community()
    const a = await c.join(ann)
    const b = await c.join(bob)
    const e = await c.join(eve)
    await a.claim()
    await a.setRole(key(bob), 'moderator')
    expect(e.whyNotEdit('notes')).toBeNull() // no settings: whoever may post may edit
    clockMs += 1_000
    await a.updateChannel('notes', { editRole: 'moderator' })
    expect(e.whyNotEdit('notes')).toBe(
      'The canvas of #notes is read-only: only moderators and above may edit it.',
    )
    expect(e.whyNotPost('notes')).toBeNull() // posting unchanged
    expect(b.whyNotEdit('notes')).toBeNull()
    expect(e.view().channels[0]).toMatchObject({
      channel: 'notes',
      editRole: 'moderator',
      postRole: 'member',
    })
    const yjs = async (who: Identity) => {
      clockMs += 1_000
      const request = await signRequest(who, {
        channel: 'notes',
        kind: 'yjs',
        body: new Uint8Array([1]),
        clientNonce: randomBytes(16),
      })
      return stamp(relay, nextId(), request)
    }
    const byEve = await yjs(eve)
    const byBob = await yjs(bob)
    expect(a.allowsEdit(byEve)).toBe(false)
    expect(a.allowsEdit(byBob)).toBe(true)
    expect(a.allows(byEve)).toBe(false) // the view's filter judges yjs events as edits
    // "Same as posting" (null): editing follows postRole again.
    await a.updateChannel('notes', { editRole: null })
    expect(e.whyNotEdit('notes')).toBeNull()
    expect(a.allowsEdit(byEve)).toBe(false) // judged at its own time
    expect(a.allowsEdit(await yjs(eve))).toBe(true)
    // Refused before signing: not a built-in role; a member may not manage channels.
    expect(() => a.updateChannel('notes', { editRole: 'vip' })).toThrow(/built-in role/)
    expect(await refusal(e.updateChannel('notes', { editRole: 'member' }))).toMatch(/does not allow/)
    const before = c.log.length
    await a.setRole(key(bob), 'member')
    await a.updateChannel('notes', { archived: true })
    expect(a.whyNotEdit('notes')).toBe('#notes is archived: nobody edits its canvas any more.')
    expect(a.whyNotEdit(ADMIN_CHANNEL)).toMatch(/no canvas/)
    expect(c.log.length).toBe(before + 2)
  })

  it('hides an ordinary event its author could not post then (peers enforce bans too), and keeps earlier ones', async () => {
    const c = new Community()
    const a = await c.join(ann)
    await a.claim()
    const post = async (text: string) => {
      clockMs += 1_000
      const request = await signRequest(eve, {
        channel: 'general',
        kind: 'message',
        body: new TextEncoder().encode(text),
        clientNonce: randomBytes(16),
      })
      return stamp(relay, nextId(), request)
    }
    const before = await post('before the ban')
    clockMs += 1_000
    await a.ban(key(eve), 'spam')
    const after = await post('stamped after the ban (a relay that had not folded it)')
    expect(a.allows(before)).toBe(true)
    expect(a.allows(after)).toBe(false)
    // Admin events are judged by the fold, not by this filter.
    expect(c.log.every((e) => a.allows(e))).toBe(true)
  })

  it('refolds when an event arrives below the last folded', async () => {
    const c = new Community()
    const a = await c.join(ann)
    await a.claim()
    await a.setRole(key(bob), 'moderator')
    await a.setAccess('open')
    const [claim, role, access] = c.log as [StampedEvent, StampedEvent, StampedEvent]
    // A late joiner gets them out of order: the access first, then the claim and the role.
    const late = new CommunityAdmin({
      self: eve.publicKey,
      now,
      changed: () => {},
      write: () => Promise.reject(),
    })
    late.take([access])
    expect(late.view().owner).toBeNull() // an access.set by a nobody is refused...
    late.take([claim, role])
    // ... until the claim arrives: the refold accepts all three.
    expect(late.view()).toMatchObject({ owner: key(ann), access: 'open' })
    expect(late.roleOf(key(bob))).toBe('moderator')
    expect(late.view().audit).toHaveLength(3)
    // Dropping an event (a restamp replaced) refolds without it.
    late.drop([role.id])
    expect(late.roleOf(key(bob))).toBe('member')
  })
})

describe('SimClient admin', () => {
  const clients: SimClient[] = []
  afterEach(() => {
    for (const c of clients.splice(0)) c.stop()
  })

  it('is claimed at start, keeps the admin channel out of the list, and lets the owner post in a reserved channel', async () => {
    const client = await SimClient.create({
      signer: await Identity.generate(),
      name: 'Tess',
      history: 5,
      otherHistory: 1,
      peers: 1,
      activityMs: 0,
      latencyMs: 1,
    })
    clients.push(client)
    await client.start()
    const self = publicKeyToText(client.self)
    await waitFor(() => client.admin.view().owner === self)
    expect(client.admin.view().myRole).toBe('owner')
    expect(client.channels().map((c) => c.name)).not.toContain(ADMIN_CHANNEL)
    await client.admin.updateChannel('general', { postRole: 'admin' })
    await waitFor(() => client.admin.view().channels.length === 1)
    // The owner still may post (owner ranks above admin); a member would be told it is read-only.
    await expect(client.send('general', 'still here')).resolves.toBeTruthy()
  })
})

async function waitFor(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('claim and invite links in the URL fragment', () => {
  it('reads a 32-byte secret and removes the fragment from the address bar at once', async () => {
    const { parseLinkFragment, takeLinkFromUrl } = await import('../src/client/link.ts')
    const secret = new Uint8Array(32).fill(7)
    const text = Buffer.from(secret).toString('base64url')
    expect(parseLinkFragment(`#invite=${text}`)).toEqual({ kind: 'invite', secret })
    expect(parseLinkFragment(`#claim=${text}`)?.kind).toBe('claim')
    expect(parseLinkFragment(`#claim=${text.slice(4)}`)).toBeUndefined() // not 32 bytes
    expect(parseLinkFragment('#other=abc')).toBeUndefined()
    const replaced: string[] = []
    const history = {
      state: null,
      replaceState: (_s: unknown, _t: string, url?: string | URL | null) => void replaced.push(String(url)),
    }
    const link = takeLinkFromUrl(
      { hash: `#claim=${text}`, href: `http://chat.test/?x=1#claim=${text}` },
      history,
    )
    expect(link?.kind).toBe('claim')
    expect(replaced).toEqual(['http://chat.test/?x=1'])
    // Nothing to take: the address is left alone.
    expect(takeLinkFromUrl({ hash: '#top', href: 'http://chat.test/#top' }, history)).toBeUndefined()
    expect(replaced).toHaveLength(1)
  })
})
