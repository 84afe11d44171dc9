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
import type { RelayLimits } from '../limits.ts'
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
}

export type LoginResult =
  | { ok: true; session: Signed<Session>; attestation: Uint8Array }
  | { ok: false; reason: LoginRefusal; message: string }

/** Stable sub-reasons of `login_failed` (sent as the error message prefix and counted in metrics). */
export type LoginRefusal =
  | 'nonce_expired'
  | 'bad_key'
  | 'clock_skew'
  | 'bad_signature'
  | 'invite_required'
  | 'bad_invite'

export function newChallenge(now: number, limits: RelayLimits): Challenge {
  return { nonce: randomBytes(LOGIN_NONCE_BYTES), expires: now + limits.authDeadlineMs }
}

const refuse = (reason: LoginRefusal, message: string): LoginResult => ({ ok: false, reason, message })

/**
 * Checks a login answer to `challenge` for a client that connected to `origin`.
 * A signature over another relay key, origin, nonce or domain fails as `bad_signature`.
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
  const admin = ctx.policy.isAdmin(attempt.publicKey)
  if (ctx.policy.options.access === 'invite' && !admin) {
    if (!attempt.invite) return refuse('invite_required', 'this relay is invite-only')
    const problem = await inviteProblem(ctx, attempt.invite, attempt.publicKey, now)
    if (problem) return refuse('bad_invite', problem)
  }
  const issued = ctx.now()
  const session = await signSession(ctx.relay, {
    relayKey: ctx.relay.publicKey,
    publicKey: attempt.publicKey,
    sessionId: randomBytes(SESSION_ID_BYTES),
    privileges: ctx.policy.privilegesOf(attempt.publicKey),
    issued,
    expires: issued + ctx.limits.sessionTtlMs,
  })
  return { ok: true, session, attestation: encodeSigned(session) }
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
