/**
 * Shared fixtures for the admin tests: a relay that really signs and stamps at the relay times
 * it is told, the `ok`/`no` verdict assertions and builders for admin actions.
 */
import { beforeAll, expect } from 'vitest'
import { type AdminAction, encodeAdminBody } from '../src/chat/admin/bodies.ts'
import type { AdminVerdict } from '../src/chat/admin/fold.ts'
import { ADMIN_CHANNEL, AdminKind } from '../src/chat/admin/kinds.ts'
import { type StampedEvent, signRequest, stamp } from '../src/event.ts'
import type { Identity } from '../src/identity/keys.ts'
import { monotonicUlid } from '../src/ulid.ts'
import { cast } from './projection-fixtures.ts'

export const T0 = 1_750_000_000_000
export const MIN = 60_000
export const HOUR = 60 * MIN
export const DAY = 24 * HOUR

/** The relay of `cast()`, the default stamping key. */
let castRelay: Identity
beforeAll(async () => {
  castRelay = (await cast(0)).relay
})

/**
 * A relay signing with `key` (by default the relay of `cast()`), stamping at the relay times
 * it is told (ids strictly increase with the calls, as the relay's monotonic ULIDs do). Each
 * test gets its own, so times start again at T0.
 */
export function relayAt(key: () => Identity = () => castRelay) {
  let now = T0
  let nonce = 0
  const nextId = monotonicUlid(
    () => now,
    (n) => new Uint8Array(n).fill(7),
  )
  const event = async (
    user: Identity,
    kind: string,
    body: Uint8Array,
    at: number,
    channel = ADMIN_CHANNEL,
  ) => {
    now = at
    const id = nextId() // taken before the await, so ids follow the calls' order
    const clientNonce = new Uint8Array(16)
    new DataView(clientNonce.buffer).setUint32(12, ++nonce)
    return stamp(key(), id, await signRequest(user, { channel, kind, clientNonce, body }))
  }
  const admin = (user: Identity, action: AdminAction, at: number) =>
    event(user, action.kind, encodeAdminBody(action), at)
  /** The same signed request stamped again (a replay through the relay), at a later time. */
  const restamp = (ev: StampedEvent, at: number) => {
    now = at
    return stamp(key(), nextId(), ev)
  }
  return { event, admin, restamp }
}

export const ok = (v: AdminVerdict) => expect(v.ok ? 'ok' : `${v.reason}: ${v.detail}`).toBe('ok')
export const no = (v: AdminVerdict, reason: string) => expect(v).toMatchObject({ ok: false, reason })

/** A 16-byte invite id: the number `n` in its first four bytes. */
export function inviteBytes(n: number): Uint8Array {
  const id = new Uint8Array(16)
  new DataView(id.buffer).setUint32(0, n)
  return id
}
/** An invite id given as bytes, or as a number for `inviteBytes`. */
const inviteId = (id: Uint8Array | number): Uint8Array => (typeof id === 'number' ? inviteBytes(id) : id)

export const claim = (): AdminAction => ({ kind: AdminKind.claim, body: {} })
export const setRole = (who: Identity, role: string): AdminAction => ({
  kind: AdminKind.roleSet,
  body: { target: who.publicKey, role },
})
export const define = (name: string, permissions: number): AdminAction => ({
  kind: AdminKind.roleDefine,
  body: { name, permissions },
})
export const kick = (who: Identity, reason = 'bye'): AdminAction => ({
  kind: AdminKind.memberKick,
  body: { target: who.publicKey, reason },
})
export const ban = (who: Identity, reason = 'spam', until?: number): AdminAction => ({
  kind: AdminKind.memberBan,
  body: until === undefined ? { target: who.publicKey, reason } : { target: who.publicKey, reason, until },
})
export const unban = (who: Identity): AdminAction => ({
  kind: AdminKind.memberUnban,
  body: { target: who.publicKey },
})
export const timeout = (who: Identity, until: number): AdminAction => ({
  kind: AdminKind.memberTimeout,
  body: { target: who.publicKey, until },
})
export const channel = (body: Record<string, unknown>): AdminAction =>
  ({ kind: AdminKind.channelUpdate, body: { channel: 'general', ...body } }) as AdminAction
export const invite = (id: Uint8Array | number, expiresAt: number, uses = 1): AdminAction => ({
  kind: AdminKind.inviteCreate,
  body: { id: inviteId(id), expiresAt, uses },
})
export const create = invite
export const revoke = (id: Uint8Array | number): AdminAction => ({
  kind: AdminKind.inviteRevoke,
  body: { id: inviteId(id) },
})
export const redeem = (id: Uint8Array | number): AdminAction => ({
  kind: AdminKind.inviteRedeem,
  body: { id: inviteId(id) },
})
export const access = (a: 'open' | 'invite'): AdminAction => ({
  kind: AdminKind.accessSet,
  body: { access: a },
})

type Seven = [Identity, Identity, Identity, Identity, Identity, Identity, Identity]
/** The users of `cast(7)` as a tuple (fewer may be taken: users depend only on their index). */
export async function castUsers(): Promise<Seven> {
  return (await cast(7)).users as Seven
}
