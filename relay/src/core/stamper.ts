/**
 * The verify -> stamp path as one pure function of its context: privilege and rate checks,
 * the idempotency cache, author signature, monotonic id, the admin state's verdict at that id
 * (admin-state.ts) and the relay's signature; every ordinary stamp also enters its channel's
 * checkpoint window (checkpointer.ts).
 * It performs no IO: the caller publishes what it returns (checkpoints go to the
 * checkpointer's listeners, admin events to the admin gate's).
 */
import { createHash } from 'node:crypto'
import {
  ErrorCode,
  encodeEvent,
  encodeRequest,
  equalBytes,
  Privilege,
  type Session,
  type SignedRequest,
  type Signer,
  type StampedEvent,
  stamp,
  type Ulid,
  ulidTime,
  verifyAuthor,
} from '@peerchat/engine'
import { ADMIN_CHANNEL, Kind } from '@peerchat/engine/chat'
import type { Logger } from '../log.ts'
import type { AdminGate, Decision, LinkGrant, Refusal } from './admin-state.ts'
import type { Checkpointer } from './checkpointer.ts'
import { IdempotencyCache, type Stamp, type StampRefusal, type StampResult } from './idempotency.ts'
import type { ChannelRegistry } from './policy.ts'
import type { RateLimiter } from './token-bucket.ts'

export interface StampContext {
  relay: Signer
  /** Monotonic ULID factory (engine's monotonicUlid). */
  nextId: () => Ulid
  cache: IdempotencyCache
  /** Events per public key. */
  eventLimiter: RateLimiter
  channels: ChannelRegistry
  /** Per-channel checkpoint windows; absent: no checkpoints. */
  checkpoints?: Checkpointer
  /** The relay's log (an admin event it could not store is said there). */
  log?: Logger
  /**
   * The community's admin state: when present it decides who may post, create and publish
   * admin events (the session's privilege bits are then not read), and the `admin` channel
   * always exists. Absent: the session's privilege bits alone (the stateless relay).
   */
  admin?: AdminGate
  /** The relay clock (required with `admin`). */
  now?: () => number
}

/** Kinds reserved to the relay itself (`relay.checkpoint`): clients may not publish them. */
export const RELAY_KIND_PREFIX = 'relay.'

export type StampOutcome =
  | {
      kind: 'stamped'
      event: StampedEvent
      bytes: Uint8Array
      createdChannel: boolean
      /** An admin event: already fanned out by the admin gate's listeners (in id order). */
      recorded: boolean
    }
  | { kind: 'retry'; event: StampedEvent; bytes: Uint8Array }
  | { kind: 'rejected'; code: ErrorCode; message: string; close?: Refusal['close'] }

const reject = (code: ErrorCode, message: string): StampOutcome => ({ kind: 'rejected', code, message })
const BAD_SIGNATURE: StampRefusal = {
  refused: ErrorCode.badSignature,
  message: 'author signature does not verify',
}
const EMPTY = new Uint8Array(0)

function rejected(r: StampResult, close?: Refusal['close']): StampOutcome {
  const f = r === null ? BAD_SIGNATURE : (r as StampRefusal)
  return close
    ? { kind: 'rejected', code: f.refused as ErrorCode, message: f.message, close }
    : reject(f.refused as ErrorCode, f.message)
}

function requestDigest(req: SignedRequest): string {
  return createHash('sha256').update(encodeRequest(req)).digest('base64')
}

function withStamp(req: SignedRequest, s: Stamp): StampedEvent {
  return { ...req, id: s.id, ts: ulidTime(s.id), relaySig: s.relaySig }
}

/**
 * Decides on one request of a logged-in session. Client-supplied ids and times do not exist on
 * the wire. `grant` is what the session's login link gave it (admin-state.ts).
 */
export async function stampRequest(
  ctx: StampContext,
  session: Session,
  req: SignedRequest,
  grant: LinkGrant | null = null,
): Promise<StampOutcome> {
  if (!equalBytes(req.author, session.publicKey))
    return reject(ErrorCode.forbidden, 'author is not the logged-in key')
  if (req.kind.startsWith(RELAY_KIND_PREFIX))
    return reject(ErrorCode.forbidden, `kinds ${RELAY_KIND_PREFIX}* are the relay's own`)
  const gate = ctx.admin
  const now = ctx.now ?? Date.now
  const creates = req.kind === Kind.channelCreate
  const inAdmin = gate !== undefined && req.channel === ADMIN_CHANNEL
  if (!gate) {
    if (creates) {
      if (!(session.privileges & Privilege.create))
        return reject(ErrorCode.forbidden, 'may not create channels')
    } else if (!(session.privileges & Privilege.post)) return reject(ErrorCode.forbidden, 'may not post')
  }
  if (!creates && !inAdmin && !ctx.channels.has(req.channel))
    return reject(ErrorCode.unknownChannel, `no channel ${req.channel}`)

  const key = IdempotencyCache.key(req.author, req.clientNonce)
  const digest = requestDigest(req)
  const seen = ctx.cache.lookup(key, digest)
  if (seen.kind === 'conflict')
    return reject(ErrorCode.nonceReused, 'clientNonce already used for different content')
  if (seen.kind === 'hit') {
    // A retry of a stamped request gets its stamp whatever changed since (it is in the log).
    const s = await seen.stamp
    if (!s || 'refused' in s) return rejected(s)
    const event = withStamp(req, s)
    return { kind: 'retry', event, bytes: encodeEvent(event) }
  }
  // The admin state's checks that need no id, after the retry (a redeem's retry needs no grant).
  const screened = gate?.screen(grant, req, now())
  if (screened) return { kind: 'rejected', ...screened }

  // The cache key starts with the 32 author bytes (one latin1 char per byte).
  if (!ctx.eventLimiter.take(key.slice(0, 32)))
    return reject(ErrorCode.rateLimited, 'too many events for this key')
  const isNewChannel = creates && !ctx.channels.has(req.channel)
  if (isNewChannel && ctx.channels.isFull())
    return reject(ErrorCode.limitExceeded, 'the relay has too many channels')

  let bytes: Uint8Array | undefined
  let close: Refusal['close']
  // Admin events skip checkpoints: joiners of `admin` get the whole log from the relay.
  const checkpoints = inAdmin ? undefined : ctx.checkpoints
  const run = async (): Promise<StampResult> => {
    if (!(await verifyAuthor(req))) return null
    const id = ctx.nextId()
    let decision: Decision | undefined
    if (gate) {
      decision = gate.decide(grant, { ...req, id, ts: ulidTime(id), relaySig: EMPTY })
      if (!decision.ok) {
        close = decision.refusal.close
        return { refused: decision.refusal.code, message: decision.refusal.message }
      }
    }
    checkpoints?.issued(req.channel, id)
    let event: StampedEvent
    try {
      event = await stamp(ctx.relay, id, req)
    } catch (err) {
      checkpoints?.stamped(req.channel, id, undefined)
      throw err
    }
    bytes = encodeEvent(event)
    checkpoints?.stamped(req.channel, id, bytes)
    if (inAdmin)
      try {
        gate.record(event, bytes, decision)
      } catch (e) {
        ctx.log?.('relay.admin_log_error', { id: event.id, error: String(e) })
        return {
          refused: ErrorCode.internal,
          message: 'the relay could not store the admin event: try again',
        }
      }
    return { id: event.id, relaySig: event.relaySig }
  }
  const pending = inAdmin ? gate.serialize(run) : run()
  if (!pending) return reject(ErrorCode.rateLimited, 'too many admin requests waiting: try again')
  ctx.cache.insert(key, digest, pending)
  const s = await pending
  if (!s || 'refused' in s) return rejected(s, close)
  const createdChannel = isNewChannel && ctx.channels.add(req.channel)
  const event = withStamp(req, s)
  return { kind: 'stamped', event, bytes: bytes ?? encodeEvent(event), createdChannel, recorded: inAdmin }
}
