/**
 * Issue #14, the relay side, through the relay CLI as an operator runs it (a child process on a
 * data dir) and raw relay-protocol clients: the claim link printed at start, the owner's claim,
 * a channel, a canvas only moderators edit, a moderator who times out and (once promoted) bans, an invite-only community
 * joined by an invite link, and a restart on the same data dir that remembers all of it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  decodeSession,
  Identity,
  Privilege,
  type RelayFrame,
  randomBytes,
  type SignedRequest,
  type StampedEvent,
  signRequest,
} from '@peerchat/engine'
import { type AdminAction, AdminKind, BuiltinRole, inviteIdOf, Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterAll, describe, expect, it } from 'vitest'
import { type Outcome, signAdminAction } from '../../relay/test/admin-fixtures.ts'
import { TestClient } from './client.ts'
import { type RelayProcess, spawnRelay } from './relay-process.ts'

useNodeCrypto()

const CLAIM =
  /^claim link \(makes the first person to open it the owner\): (http:\/\/localhost:\d+)\/#claim=([\w-]{43})$/m

const clients: TestClient[] = []
const relays: RelayProcess[] = []
const dirs: string[] = []
afterAll(async () => {
  for (const c of clients) c.close()
  for (const r of relays) await r.stop()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function start(dataDir: string): Promise<RelayProcess> {
  const r = await spawnRelay(['--quiet', '--data-dir', dataDir, '--limit', 'unauthenticatedPerAddress=64'])
  relays.push(r)
  return r
}

/** Logs in (a link secret in the login's invite field when given); the welcome or the error. */
async function login(r: RelayProcess, id: Identity, link?: Uint8Array) {
  const c = await TestClient.open(r.url)
  clients.push(c)
  const answer = await c.doLogin(id, link ? { invite: link } : {})
  return { c, answer }
}

async function loggedIn(r: RelayProcess, id: Identity, link?: Uint8Array): Promise<TestClient> {
  const { c, answer } = await login(r, id, link)
  if (answer.type !== 'welcome') throw new Error(`login refused: ${JSON.stringify(answer)}`)
  return c
}

/** Publishes `id`'s message of `kind` and waits for its stamped event (the ack) or refusal. */
async function publish(c: TestClient, id: Identity, channel: string, kind: string, body: Uint8Array) {
  return send(c, await signRequest(id, { channel, kind, clientNonce: randomBytes(16), body }))
}

/** Sends a signed request and waits for the stamped event (the ack) or the refusal of this request. */
async function send(c: TestClient, request: SignedRequest) {
  c.send({ type: 'publish', request })
  const nonce = Buffer.from(request.clientNonce).toString('hex')
  const mine = (f: RelayFrame) =>
    (f.type === 'event' && Buffer.from(f.event.clientNonce).toString('hex') === nonce) ||
    (f.type === 'error' && Buffer.from(f.ref).toString('hex') === nonce)
  const deadline = Date.now() + 5000
  for (;;) {
    const i = c.frames.findIndex(mine)
    if (i >= 0) {
      const f = c.frames.splice(i, 1)[0]!
      if (f.type === 'event') return { ok: true, event: f.event } as Outcome
      if (f.type === 'error') return { ok: false, code: f.code, message: f.message } as Outcome
    }
    if (Date.now() > deadline || c.isClosed)
      throw new Error(`no answer to ${request.kind}; closed: ${c.isClosed}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

const act = async (c: TestClient, id: Identity, action: AdminAction) =>
  send(c, await signAdminAction(id, action))
const say = (c: TestClient, id: Identity, channel = 'general') =>
  publish(c, id, channel, Kind.message, new Uint8Array([1]))
const ok = (o: Outcome) => {
  expect(o.ok ? 'ok' : `${o.code}: ${o.message}`).toBe('ok')
  return (o as { event: StampedEvent }).event
}

describe('running a community from the app: the relay (#14)', () => {
  it('claim, channel, moderator, timeout, ban, invite-only by link; all of it survives a restart', {
    timeout: 90_000,
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'peerchat-admin-'))
    dirs.push(dataDir)
    const [owner, bob, eve, cara, dan] = [
      await Identity.generate(),
      await Identity.generate(),
      await Identity.generate(),
      await Identity.generate(),
      await Identity.generate(),
    ]

    let r = await start(dataDir)
    const m = CLAIM.exec(r.output())
    expect(m, r.output()).not.toBeNull()
    expect(m![1]).toBe(`http://localhost:${r.port}`)
    const code = Buffer.from(m![2]!, 'base64url')

    // The owner opens the claim link: logs in with the code and claims.
    const o = await loggedIn(r, owner, code)
    ok(await act(o, owner, { kind: AdminKind.claim, body: {} }))
    ok(await publish(o, owner, 'news', Kind.channelCreate, new Uint8Array(0)))
    const b = await loggedIn(r, bob)
    // Bob is no admin: he may not create channels.
    expect(await publish(b, bob, 'bobs', Kind.channelCreate, new Uint8Array(0))).toMatchObject({
      ok: false,
      code: 'forbidden',
    })
    ok(
      await act(o, owner, {
        kind: AdminKind.roleSet,
        body: { target: bob.publicKey, role: BuiltinRole.moderator },
      }),
    )

    // Bob times Eve out: her post is refused until then.
    const e = await loggedIn(r, eve)
    ok(await say(e, eve))

    // The canvas of #news: moderators and above edit it (yjs events); members still post there.
    ok(
      await act(o, owner, {
        kind: AdminKind.channelUpdate,
        body: { channel: 'news', editRole: BuiltinRole.moderator },
      }),
    )
    expect(await publish(e, eve, 'news', Kind.yjs, new Uint8Array([1]))).toEqual({
      ok: false,
      code: 'forbidden',
      message: 'the canvas of #news is editable by moderator and above (your role: member)',
    })
    ok(await publish(b, bob, 'news', Kind.yjs, new Uint8Array([1])))
    ok(await say(e, eve, 'news'))
    const until = Date.now() + 5 * 60_000
    ok(await act(b, bob, { kind: AdminKind.memberTimeout, body: { target: eve.publicKey, until } }))
    const muted = await say(e, eve)
    expect(muted).toMatchObject({
      ok: false,
      code: 'forbidden',
      message: `timed out until ${new Date(until).toISOString()}`,
    })
    // A moderator bans below his rank: not the owner; Eve, yes: her session closes (4013).
    const coup = { kind: AdminKind.memberBan, body: { target: owner.publicKey, reason: 'coup' } } as const
    expect(await act(b, bob, coup)).toMatchObject({ ok: false, code: 'forbidden' })
    const ban = { kind: AdminKind.memberBan, body: { target: eve.publicKey, reason: 'spam links' } } as const
    ok(await act(b, bob, ban))
    expect(await e.closed).toEqual({ code: 4013, reason: 'spam links' })
    expect((await login(r, eve)).answer).toMatchObject({
      type: 'error',
      code: 'login_failed',
      message: 'banned: spam links',
    })

    // Invite-only: Cara comes in by a link and redeems it; the 1-use link then lets nobody else in.
    ok(await act(o, owner, { kind: AdminKind.accessSet, body: { access: 'invite' } }))
    expect((await login(r, dan)).answer).toMatchObject({
      type: 'error',
      message: 'invite_required: this community is invite-only: ask for an invite link',
    })
    const secret = randomBytes(32)
    ok(
      await act(o, owner, {
        kind: AdminKind.inviteCreate,
        body: { id: inviteIdOf(secret), expiresAt: Date.now() + 3600_000, uses: 1 },
      }),
    )
    const c = await loggedIn(r, cara, secret)
    expect(await say(c, cara)).toMatchObject({ ok: false, code: 'redeem_first' })
    ok(await act(c, cara, { kind: AdminKind.inviteRedeem, body: { id: inviteIdOf(secret) } }))
    ok(await say(c, cara))
    expect((await login(r, dan, secret)).answer).toMatchObject({
      type: 'error',
      code: 'login_failed',
      message: 'bad_invite: this invite link is used up',
    })
    // Joining admin: the whole admin log, oldest first.
    c.send({ type: 'join', channel: 'admin' })
    const log: string[] = []
    while (log.length < 8) log.push((await c.next('event')).event.kind)
    expect(log).toEqual([
      AdminKind.claim,
      AdminKind.roleSet,
      AdminKind.channelUpdate,
      AdminKind.memberTimeout,
      AdminKind.memberBan,
      AdminKind.accessSet,
      AdminKind.inviteCreate,
      AdminKind.inviteRedeem,
    ])

    // Restart on the same data dir: no claim link, and it remembers.
    await r.stop()
    r = await start(dataDir)
    expect(r.output()).not.toMatch(/claim/)
    expect((await login(r, eve)).answer).toMatchObject({ type: 'error', message: 'banned: spam links' })
    expect((await login(r, dan, secret)).answer).toMatchObject({
      message: 'bad_invite: this invite link is used up',
    })
    expect((await login(r, dan)).answer).toMatchObject({
      message: expect.stringMatching(/^invite_required: /),
    })
    ok(await say(await loggedIn(r, cara), cara))
    const again = await login(r, owner)
    expect(again.answer.type).toBe('welcome')
    if (again.answer.type === 'welcome')
      expect(decodeSession(again.answer.attestation).value.privileges & Privilege.admin).toBe(Privilege.admin)
    const wk = await (await fetch(`${r.url.replace('ws:', 'http:')}/.well-known/peerchat.json`)).json()
    expect(wk.access).toBe('invite')
  })
})
