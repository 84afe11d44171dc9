/** Login: every refusal the issue lists, and invites. */
import {
  Domain,
  encodeLoginPayload,
  encodeSigned,
  fromHex,
  Identity,
  Privilege,
  randomBytes,
  signInvite,
  verifySession,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import {
  NON_CANONICAL_SMALL_ORDER_HEX,
  SMALL_ORDER_HEX,
} from '../../engine/test/vectors/ed25519-adversarial.ts'
import { checkLogin, type LoginAttempt, newChallenge } from '../src/core/login.ts'
import { DEFAULT_POLICY, Policy } from '../src/core/policy.ts'
import { resolveLimits } from '../src/limits.ts'

useNodeCrypto()
const relay = await Identity.generate()
const admin = await Identity.generate()
const user = await Identity.generate()
const ORIGIN = 'relay.test:8787'
const clock = 1_700_000_000_000
const limits = resolveLimits()
const ctx = (access: 'open' | 'invite' = 'open') => ({
  relay,
  limits,
  now: () => clock,
  policy: new Policy({
    ...DEFAULT_POLICY,
    adminKeys: [Buffer.from(admin.publicKey).toString('base64url')],
    access,
  }),
})

async function attempt(
  id: Identity,
  nonce: Uint8Array,
  o: {
    origin?: string
    relayKey?: Uint8Array
    clientTime?: number
    domain?: Domain
    invite?: Uint8Array
  } = {},
): Promise<LoginAttempt> {
  const clientTime = o.clientTime ?? clock
  const payload = encodeLoginPayload({
    relayKey: o.relayKey ?? relay.publicKey,
    nonce,
    origin: o.origin ?? ORIGIN,
    clientTime,
  })
  return {
    publicKey: id.publicKey,
    clientTime,
    sig: await id.sign(o.domain ?? Domain.login, payload),
    invite: o.invite ?? null,
  }
}

describe('checkLogin', () => {
  it('accepts a correct answer and returns a relay-signed attestation with the policy privileges', async () => {
    const ch = newChallenge(clock, limits)
    expect(ch.nonce.length).toBeGreaterThanOrEqual(16)
    const r = await checkLogin(ctx(), ch, await attempt(user, ch.nonce), ORIGIN)
    if (!r.ok) throw new Error(r.message)
    expect(r.session.value.publicKey).toEqual(user.publicKey)
    expect(r.session.value.privileges).toBe(Privilege.post)
    expect(r.session.value.expires - r.session.value.issued).toBe(limits.sessionTtlMs)
    expect(await verifySession(r.session, relay.publicKey, clock)).toBe(true)
    expect(encodeSigned(r.session)).toEqual(r.attestation)
    const a = await checkLogin(ctx(), ch, await attempt(admin, ch.nonce), ORIGIN)
    expect(a.ok && a.session.value.privileges).toBe(Privilege.post | Privilege.create | Privilege.admin)
  })

  it('refuses an expired nonce (older than the auth deadline)', async () => {
    const ch = newChallenge(clock, limits)
    const att = await attempt(user, ch.nonce)
    const later = { ...ctx(), now: () => clock + limits.authDeadlineMs + 1 }
    expect(await checkLogin(later, ch, att, ORIGIN)).toMatchObject({ ok: false, reason: 'nonce_expired' })
  })

  it('refuses a signature over another nonce (a replayed login)', async () => {
    const first = newChallenge(clock, limits)
    const replay = await attempt(user, first.nonce)
    const second = newChallenge(clock, limits)
    expect(await checkLogin(ctx(), second, replay, ORIGIN)).toMatchObject({
      ok: false,
      reason: 'bad_signature',
    })
  })

  it('refuses another relay key, another origin and another domain', async () => {
    const ch = newChallenge(clock, limits)
    const other = await Identity.generate()
    for (const o of [{ relayKey: other.publicKey }, { origin: 'evil.test' }, { domain: Domain.event }]) {
      expect(await checkLogin(ctx(), ch, await attempt(user, ch.nonce, o), ORIGIN)).toMatchObject({
        ok: false,
        reason: 'bad_signature',
      })
    }
  })

  it('refuses clock skew beyond maxClockSkewMs, accepts it at the bound', async () => {
    const ch = newChallenge(clock, limits)
    for (const d of [limits.maxClockSkewMs + 1, -(limits.maxClockSkewMs + 1)]) {
      const r = await checkLogin(ctx(), ch, await attempt(user, ch.nonce, { clientTime: clock + d }), ORIGIN)
      expect(r).toMatchObject({ ok: false, reason: 'clock_skew' })
    }
    const ok = await checkLogin(
      ctx(),
      ch,
      await attempt(user, ch.nonce, { clientTime: clock - limits.maxClockSkewMs }),
      ORIGIN,
    )
    expect(ok.ok).toBe(true)
  })

  it('refuses small-order and non-canonical public keys', async () => {
    const ch = newChallenge(clock, limits)
    for (const hex of [...SMALL_ORDER_HEX, ...NON_CANONICAL_SMALL_ORDER_HEX]) {
      const att = { ...(await attempt(user, ch.nonce)), publicKey: fromHex(hex) }
      expect(await checkLogin(ctx(), ch, att, ORIGIN)).toMatchObject({ ok: false, reason: 'bad_key' })
    }
  })

  it('invite-only: admins need none, others need a valid unexpired admin invite', async () => {
    const ch = newChallenge(clock, limits)
    const c = ctx('invite')
    expect((await checkLogin(c, ch, await attempt(admin, ch.nonce), ORIGIN)).ok).toBe(true)
    expect(await checkLogin(c, ch, await attempt(user, ch.nonce), ORIGIN)).toMatchObject({
      reason: 'invite_required',
    })
    const invite = async (
      signer: Identity,
      o: { expires?: number; invitee?: Uint8Array; relayKey?: Uint8Array } = {},
    ) =>
      encodeSigned(
        await signInvite(signer, {
          relayKey: o.relayKey ?? relay.publicKey,
          invitee: o.invitee ?? new Uint8Array(32),
          inviteId: randomBytes(16),
          expires: o.expires ?? clock + 60_000,
        }),
      )
    const good = await invite(admin)
    expect((await checkLogin(c, ch, await attempt(user, ch.nonce, { invite: good }), ORIGIN)).ok).toBe(true)
    const named = await invite(admin, { invitee: user.publicKey })
    expect((await checkLogin(c, ch, await attempt(user, ch.nonce, { invite: named }), ORIGIN)).ok).toBe(true)
    const bad = [
      await invite(user), // not an admin
      await invite(admin, { expires: clock }), // expired
      await invite(admin, { invitee: admin.publicKey }), // for someone else
      await invite(admin, { relayKey: user.publicKey }), // other relay
      randomBytes(40), // garbage
    ]
    for (const b of bad)
      expect(await checkLogin(c, ch, await attempt(user, ch.nonce, { invite: b }), ORIGIN)).toMatchObject({
        ok: false,
        reason: 'bad_invite',
      })
    const forged = good.slice()
    forged[forged.length - 1]! ^= 1
    expect(await checkLogin(c, ch, await attempt(user, ch.nonce, { invite: forged }), ORIGIN)).toMatchObject({
      reason: 'bad_invite',
    })
  })
})
