/**
 * The relay's admin gate on its own (relay/src/core/admin-state.ts): pure decisions at chosen
 * relay times, with events really signed and stamped: reservations, verdicts at an id's time,
 * the log read back in any order, and the close-reason cut.
 */
import {
  encodeEvent,
  Identity,
  monotonicUlid,
  randomBytes,
  type StampedEvent,
  signRequest,
  stamp,
  ulidTime,
} from '@peerchat/engine'
import { type AdminAction, AdminKind, BuiltinRole, inviteIdOf, Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { AdminGate, closeReason, type LinkGrant } from '../src/core/admin-state.ts'
import { DEFAULT_POLICY, Policy } from '../src/core/policy.ts'
import { DAY, MIN, signAdminAction, T0 } from './admin-fixtures.ts'

useNodeCrypto()
const relay = await Identity.generate()
const [owner, adm, ann, cara, dan] = (await Promise.all([1, 2, 3, 4, 5].map(() => Identity.generate()))) as [
  Identity,
  Identity,
  Identity,
  Identity,
  Identity,
]

/** A gate and a relay stamping at the times it is told; `act` decides, then signs and records. */
function setup(o: { access?: 'open' | 'invite'; events?: StampedEvent[] } = {}) {
  let now = T0
  const nextId = monotonicUlid(() => now)
  const gate = new AdminGate({
    policy: new Policy({ ...DEFAULT_POLICY, access: o.access ?? 'open' }),
    access: o.access ?? 'open',
    events: (o.events ?? []).map((event) => ({ event, bytes: encodeEvent(event) })),
    maxLogBytes: 1 << 20,
    maxPending: 8,
    newClaimCode: () => new Uint8Array(32).fill(9),
  })
  const request = (who: Identity, channel: string, kind: string, body: Uint8Array) =>
    signRequest(who, { channel, kind, clientNonce: randomBytes(16), body })
  /** Judges `who`'s request at `at` as the stamper does: screen, id, decide, sign, record. */
  const act = async (who: Identity, action: AdminAction, at: number, grant: LinkGrant | null = null) => {
    now = at
    const req = await signAdminAction(who, action)
    const screened = gate.screen(grant, req, at)
    if (screened) return { ok: false as const, message: screened.message, code: screened.code }
    const id = nextId()
    const d = gate.decide(grant, { ...req, id, ts: ulidTime(id), relaySig: new Uint8Array(0) })
    if (!d.ok) return { ok: false as const, ...d.refusal }
    const event = await stamp(relay, id, req)
    await gate.record(event, encodeEvent(event), d)
    return { ok: true as const, event, removal: d.removal }
  }
  /** The verdict on an ordinary message of `who` in `channel` stamped at `at`. */
  const post = async (who: Identity, at: number, channel = 'general') => {
    const req = await request(who, channel, Kind.message, new Uint8Array([1]))
    const id = monotonicUlid(() => at)()
    return gate.decide(null, { ...req, id, ts: ulidTime(id), relaySig: new Uint8Array(0) })
  }
  return { gate, act, post }
}

const ok = <T extends { ok: boolean }>(r: T): T => {
  expect(r.ok ? 'ok' : JSON.stringify(r)).toBe('ok')
  return r
}

describe('AdminGate', () => {
  it('claims once with the claim grant; a second claim is refused', async () => {
    const { gate, act } = setup()
    expect(gate.claimCode).toEqual(new Uint8Array(32).fill(9))
    const admitted = gate.admit(owner.publicKey, new Uint8Array(32).fill(9), false, T0)
    expect(admitted).toMatchObject({ ok: true, grant: { kind: 'claim' } })
    const grant = admitted.ok ? admitted.grant : null
    expect(await act(ann, { kind: AdminKind.claim, body: {} }, T0)).toMatchObject({
      ok: false,
      code: 'forbidden',
    })
    ok(await act(owner, { kind: AdminKind.claim, body: {} }, T0 + 1, grant))
    expect(gate.claimCode).toBeNull()
    expect(await act(owner, { kind: AdminKind.claim, body: {} }, T0 + 2, grant)).toMatchObject({ ok: false })
  })

  it('reserves invite uses per session; redeem spends one; release frees one; a last use goes to one login only', async () => {
    const { gate, act } = setup({ access: 'invite' })
    const claim = gate.admit(owner.publicKey, gate.claimCode, false, T0)
    ok(await act(owner, { kind: AdminKind.claim, body: {} }, T0, claim.ok ? claim.grant : null))
    const secret = randomBytes(32)
    ok(
      await act(
        owner,
        { kind: AdminKind.inviteCreate, body: { id: inviteIdOf(secret), expiresAt: T0 + DAY, uses: 2 } },
        T0 + MIN,
      ),
    )
    const a = gate.admit(ann.publicKey, secret, false, T0 + 2 * MIN)
    const c = gate.admit(cara.publicKey, secret, false, T0 + 2 * MIN)
    expect([a.ok, c.ok]).toEqual([true, true])
    expect(gate.admit(dan.publicKey, secret, false, T0 + 2 * MIN)).toEqual({
      ok: false,
      reason: 'bad_invite',
      message: 'this invite link is used up',
    })
    const annGrant = a.ok ? a.grant : null
    gate.release(annGrant)
    gate.release(annGrant) // idempotent
    const d = gate.admit(dan.publicKey, secret, false, T0 + 3 * MIN)
    expect(d.ok).toBe(true)
    expect(gate.admit(ann.publicKey, secret, false, T0 + 3 * MIN).ok).toBe(false)
    // Cara redeems (her reservation becomes the use); her release then frees nothing.
    const caraGrant = c.ok ? c.grant : null
    ok(
      await act(
        cara,
        { kind: AdminKind.inviteRedeem, body: { id: inviteIdOf(secret) } },
        T0 + 4 * MIN,
        caraGrant,
      ),
    )
    gate.release(caraGrant)
    expect(gate.admit(ann.publicKey, secret, false, T0 + 5 * MIN).ok).toBe(false)
    // Dan leaves unredeemed: one use left again.
    gate.release(d.ok ? d.grant : null)
    expect(gate.admit(ann.publicKey, secret, false, T0 + 5 * MIN)).toMatchObject({ ok: true })
    // Without a link an invite-only community takes members only.
    expect(gate.admit(dan.publicKey, null, false, T0).ok).toBe(false)
    expect(gate.admit(cara.publicKey, null, false, T0 + 5 * MIN).ok).toBe(true)
    expect(gate.admit(dan.publicKey, null, true, T0).ok).toBe(true) // a valid legacy credential
  })

  it('timeouts and demotions count from their relay time, to the millisecond', async () => {
    const { gate, act, post } = setup()
    const claim = gate.admit(owner.publicKey, gate.claimCode, false, T0)
    ok(await act(owner, { kind: AdminKind.claim, body: {} }, T0, claim.ok ? claim.grant : null))
    ok(
      await act(
        owner,
        { kind: AdminKind.roleSet, body: { target: adm.publicKey, role: BuiltinRole.admin } },
        T0 + MIN,
      ),
    )
    const until = T0 + 10 * MIN
    ok(
      await act(adm, { kind: AdminKind.memberTimeout, body: { target: ann.publicKey, until } }, T0 + 2 * MIN),
    )
    expect(await post(ann, T0 + 2 * MIN - 1)).toEqual({ ok: true })
    expect(await post(ann, until - 1)).toMatchObject({
      ok: false,
      refusal: { message: `timed out until ${new Date(until).toISOString()}` },
    })
    expect(await post(ann, until)).toEqual({ ok: true })
    // A channel for admins; the admin is demoted at T0 + 20 min.
    ok(
      await act(
        owner,
        { kind: AdminKind.channelUpdate, body: { channel: 'staff', postRole: BuiltinRole.admin } },
        T0 + 3 * MIN,
      ),
    )
    const demotion = T0 + 20 * MIN
    ok(
      await act(
        owner,
        { kind: AdminKind.roleSet, body: { target: adm.publicKey, role: BuiltinRole.member } },
        demotion,
      ),
    )
    expect(await post(adm, demotion - 1, 'staff')).toEqual({ ok: true })
    expect(await post(adm, demotion, 'staff')).toMatchObject({ ok: false, refusal: { code: 'forbidden' } })
    expect(
      await act(
        adm,
        { kind: AdminKind.memberKick, body: { target: ann.publicKey, reason: '' } },
        demotion + 1,
      ),
    ).toMatchObject({ ok: false, code: 'forbidden' })
    // Banned at login, with the reason and the end.
    ok(
      await act(
        owner,
        { kind: AdminKind.memberBan, body: { target: ann.publicKey, reason: 'spam', until: T0 + DAY } },
        demotion + 2,
      ),
    )
    expect(gate.admit(ann.publicKey, null, false, demotion + 3)).toEqual({
      ok: false,
      reason: 'banned',
      message: `spam until ${new Date(T0 + DAY).toISOString()}`,
    })
  })

  it('a kick or ban comes with the key whose sessions close, and its reason', async () => {
    const { gate, act } = setup()
    const claim = gate.admit(owner.publicKey, gate.claimCode, false, T0)
    ok(await act(owner, { kind: AdminKind.claim, body: {} }, T0, claim.ok ? claim.grant : null))
    const r = ok(
      await act(
        owner,
        { kind: AdminKind.memberKick, body: { target: ann.publicKey, reason: 'bye' } },
        T0 + 1,
      ),
    )
    expect(r.ok && r.removal).toEqual({ target: ann.publicKey, reason: 'bye' })
  })

  it('reads the log back in any order, each event once, and knows whether access was set', async () => {
    const first = setup()
    const claim = first.gate.admit(owner.publicKey, first.gate.claimCode, false, T0)
    const events: StampedEvent[] = []
    for (const [who, action, grant] of [
      [owner, { kind: AdminKind.claim, body: {} }, claim.ok ? claim.grant : null],
      [owner, { kind: AdminKind.accessSet, body: { access: 'invite' } }, null],
      [
        owner,
        { kind: AdminKind.roleSet, body: { target: adm.publicKey, role: BuiltinRole.moderator } },
        null,
      ],
    ] as const) {
      const r = ok(await first.act(who, action as AdminAction, T0 + events.length * MIN, grant))
      if (r.ok) events.push(r.event)
    }
    const again = setup({ access: 'open', events: [events[2]!, events[0]!, events[1]!, events[0]!] })
    expect(again.gate.claimCode).toBeNull()
    expect(again.gate.frames).toHaveLength(3)
    expect(again.gate.access(T0 + DAY)).toBe('invite') // the stamped access.set, not the default
    expect(again.gate.state.roleOf(adm.publicKey)).toBe(BuiltinRole.moderator)
  })

  it('closeReason keeps 123 bytes at most, never half a character', () => {
    expect(closeReason('spam')).toBe('spam')
    expect(Buffer.byteLength(closeReason('x'.repeat(500)))).toBe(123)
    expect(closeReason(`x${'€'.repeat(100)}`)).toBe(`x${'€'.repeat(40)}`)
  })
})
