/**
 * Login: the relay's challenge and the check of a client's answer. Pure apart from the
 * (injected) clock and randomness; the caller consumes the nonce before awaiting this.
 */
import {
  Domain,
  decodeInvite,
  encodeLoginPayload,
  encodeSigned,
  equalBytes,
  isValidPublicKey,
  LOGIN_NONCE_BYTES,
  randomBytes,
  SESSION_ID_BYTES,
  type Session,
  type Signed,
  type Signer,
  signSession,
  verifyInviteSignature,
  verifySignature,
} from '@peerchat/engine'
import { INVITE_SECRET_BYTES } from '@peerchat/engine/chat'
import type { RelayLimits } from '../limits.ts'
import type { AdminGate, AdminLoginRefusal, LinkGrant } from './admin-state.ts'
import type { Policy } from './policy.ts'

export interface Challenge {
  nonce: Uint8Array
  expires: number
}

export interface LoginAttempt {
  publicKey: Uint8Array
  clientTime: number
  sig: Uint8Array
  invite: Uint8Array | null
}

export interface LoginContext {
  relay: Signer
  policy: Policy
  limits: RelayLimits
  now: () => number
  /**
   * The community's admin state: bans, access, link secrets and privileges come from it.
   * Absent: the configured policy alone (the stateless relay).
   */
  admin?: AdminGate
}

export type LoginResult =
  | {
      ok: true
      session: Signed<Session>
      attestation: Uint8Array
      /** What the login's link gave the session: release it when the session ends. */
      grant: LinkGrant | null
    }
  | { ok: false; reason: LoginRefusal; message: string }

/** Stable sub-reasons of `login_failed` (sent as the error message prefix and counted in metrics). */
export type LoginRefusal = 'nonce_expired' | 'bad_key' | 'clock_skew' | 'bad_signature' | AdminLoginRefusal

export function newChallenge(now: number, limits: RelayLimits): Challenge {
  return { nonce: randomBytes(LOGIN_NONCE_BYTES), expires: now + limits.authDeadlineMs }
}

const refuse = (reason: LoginRefusal, message: string): LoginResult => ({ ok: false, reason, message })

/**
 * Checks a login answer to `challenge` for a client that connected to `origin`.
 * A signature over another relay key, origin, nonce or domain fails as `bad_signature`.
 * With an admin state, the login's `invite` field is a link secret when it has 32 bytes
 * (claim code or invite link, docs/protocol/relay.md §4.1), else a legacy invite credential.
 */
export async function checkLogin(
  ctx: LoginContext,
  challenge: Challenge,
  attempt: LoginAttempt,
  origin: string,
): Promise<LoginResult> {
  const now = ctx.now()
  if (now > challenge.expires) return refuse('nonce_expired', 'login nonce expired')
  if (!isValidPublicKey(attempt.publicKey))
    return refuse('bad_key', 'public key is not canonical or has small order')
  if (Math.abs(attempt.clientTime - now) > ctx.limits.maxClockSkewMs)
    return refuse('clock_skew', `client clock differs by more than ${ctx.limits.maxClockSkewMs} ms`)
  let payload: Uint8Array
  try {
    payload = encodeLoginPayload({
      relayKey: ctx.relay.publicKey,
      nonce: challenge.nonce,
      origin,
      clientTime: attempt.clientTime,
    })
  } catch {
    return refuse('bad_signature', 'origin cannot be signed')
  }
  if (!(await verifySignature(Domain.login, attempt.publicKey, payload, attempt.sig)))
    return refuse('bad_signature', 'login signature does not verify for this relay, origin and nonce')
  let privileges: number
  let grant: LinkGrant | null = null
  const gate = ctx.admin
  if (gate) {
    const invite = attempt.invite?.length ? attempt.invite : null
    const link = invite?.length === INVITE_SECRET_BYTES ? invite : null
    let legacyInvite = false
    if (invite && !link && gate.needsInvite(attempt.publicKey, now)) {
      const problem = await inviteProblem(ctx, invite, attempt.publicKey, now)
      if (problem) return refuse('bad_invite', problem)
      legacyInvite = true
    }
    // Synchronous from here to the reservation: two logins by a last use cannot both get it.
    const admission = gate.admit(attempt.publicKey, link, legacyInvite, ctx.now())
    if (!admission.ok) return refuse(admission.reason, admission.message)
    privileges = admission.privileges
    grant = admission.grant
  } else {
    const admin = ctx.policy.isAdmin(attempt.publicKey)
    if (ctx.policy.options.access === 'invite' && !admin) {
      if (!attempt.invite) return refuse('invite_required', 'this relay is invite-only')
      const problem = await inviteProblem(ctx, attempt.invite, attempt.publicKey, now)
      if (problem) return refuse('bad_invite', problem)
    }
    privileges = ctx.policy.privilegesOf(attempt.publicKey)
  }
  const issued = ctx.now()
  let session: Signed<Session>
  try {
    session = await signSession(ctx.relay, {
      relayKey: ctx.relay.publicKey,
      publicKey: attempt.publicKey,
      sessionId: randomBytes(SESSION_ID_BYTES),
      privileges,
      issued,
      expires: issued + ctx.limits.sessionTtlMs,
    })
  } catch (e) {
    gate?.release(grant)
    throw e
  }
  return { ok: true, session, attestation: encodeSigned(session), grant }
}

async function inviteProblem(
  ctx: LoginContext,
  bytes: Uint8Array,
  invitee: Uint8Array,
  now: number,
): Promise<string | null> {
  let invite: ReturnType<typeof decodeInvite>
  try {
    invite = decodeInvite(bytes)
  } catch (e) {
    return `invite does not decode: ${(e as Error).message}`
  }
  const v = invite.value
  if (!equalBytes(v.relayKey, ctx.relay.publicKey)) return 'invite is for another relay'
  if (!ctx.policy.isAdmin(v.admin)) return 'invite is not signed by an admin of this relay'
  if (now >= v.expires) return 'invite expired'
  if (!v.invitee.every((b) => b === 0) && !equalBytes(v.invitee, invitee)) return 'invite names another key'
  if (!(await verifyInviteSignature(invite))) return 'invite signature does not verify'
  return null
}
