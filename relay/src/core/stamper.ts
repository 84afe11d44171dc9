/**
 * The verify -> stamp path as one pure function of its context: privilege and rate checks,
 * the idempotency cache, author signature, monotonic id and the relay's signature; every
 * stamp also enters its channel's checkpoint window (checkpointer.ts).
 * It performs no IO: the caller publishes what it returns (checkpoints go to the
 * checkpointer's listeners).
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
import { Kind } from '@peerchat/engine/chat'
import type { Checkpointer } from './checkpointer.ts'
import { IdempotencyCache, type Stamp } from './idempotency.ts'
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
}

/** Kinds reserved to the relay itself (`relay.checkpoint`): clients may not publish them. */
export const RELAY_KIND_PREFIX = 'relay.'

export type StampOutcome =
  | { kind: 'stamped'; event: StampedEvent; bytes: Uint8Array; createdChannel: boolean }
  | { kind: 'retry'; event: StampedEvent; bytes: Uint8Array }
  | { kind: 'rejected'; code: ErrorCode; message: string }

const reject = (code: ErrorCode, message: string): StampOutcome => ({ kind: 'rejected', code, message })

function requestDigest(req: SignedRequest): string {
  return createHash('sha256').update(encodeRequest(req)).digest('base64')
}

function withStamp(req: SignedRequest, s: Stamp): StampedEvent {
  return { ...req, id: s.id, ts: ulidTime(s.id), relaySig: s.relaySig }
}

/** Decides on one request of a logged-in session. Client-supplied ids and times do not exist on the wire. */
export async function stampRequest(
  ctx: StampContext,
  session: Session,
  req: SignedRequest,
): Promise<StampOutcome> {
  if (!equalBytes(req.author, session.publicKey))
    return reject(ErrorCode.forbidden, 'author is not the logged-in key')
  if (req.kind.startsWith(RELAY_KIND_PREFIX))
    return reject(ErrorCode.forbidden, `kinds ${RELAY_KIND_PREFIX}* are the relay's own`)
  const creates = req.kind === Kind.channelCreate
  if (creates) {
    if (!(session.privileges & Privilege.create))
      return reject(ErrorCode.forbidden, 'may not create channels')
  } else {
    if (!(session.privileges & Privilege.post)) return reject(ErrorCode.forbidden, 'may not post')
    if (!ctx.channels.has(req.channel)) return reject(ErrorCode.unknownChannel, `no channel ${req.channel}`)
  }

  const key = IdempotencyCache.key(req.author, req.clientNonce)
  const digest = requestDigest(req)
  const seen = ctx.cache.lookup(key, digest)
  if (seen.kind === 'conflict')
    return reject(ErrorCode.nonceReused, 'clientNonce already used for different content')
  if (seen.kind === 'hit') {
    const s = await seen.stamp
    if (!s) return reject(ErrorCode.badSignature, 'author signature does not verify')
    const event = withStamp(req, s)
    return { kind: 'retry', event, bytes: encodeEvent(event) }
  }

  // The cache key starts with the 32 author bytes (one latin1 char per byte).
  if (!ctx.eventLimiter.take(key.slice(0, 32)))
    return reject(ErrorCode.rateLimited, 'too many events for this key')
  const isNewChannel = creates && !ctx.channels.has(req.channel)
  if (isNewChannel && ctx.channels.isFull())
    return reject(ErrorCode.limitExceeded, 'the relay has too many channels')

  let bytes: Uint8Array | undefined
  const pending = (async (): Promise<Stamp | null> => {
    if (!(await verifyAuthor(req))) return null
    const id = ctx.nextId()
    ctx.checkpoints?.issued(req.channel, id)
    let event: StampedEvent
    try {
      event = await stamp(ctx.relay, id, req)
    } catch (err) {
      ctx.checkpoints?.stamped(req.channel, id, undefined)
      throw err
    }
    bytes = encodeEvent(event)
    ctx.checkpoints?.stamped(req.channel, id, bytes)
    return { id: event.id, relaySig: event.relaySig }
  })()
  ctx.cache.insert(key, digest, pending)
  const s = await pending
  if (!s) return reject(ErrorCode.badSignature, 'author signature does not verify')
  const createdChannel = isNewChannel && ctx.channels.add(req.channel)
  const event = withStamp(req, s)
  return { kind: 'stamped', event, bytes: bytes ?? encodeEvent(event), createdChannel }
}
