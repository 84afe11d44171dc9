/**
 * The verify -> stamp path as one pure function of its context: privilege and rate checks,
 * the idempotency cache, author signature (of what the relay acts upon only, see below),
 * monotonic id, the admin state's verdict at that id (admin-state.ts) and the relay's signature,
 * shared by the stamps of one event-loop turn (stamp-batcher.ts); every ordinary stamp also
 * enters its channel's checkpoint window (checkpointer.ts).
 *
 * The relay vouches for who sent an event through the authenticated session (the author must
 * be the logged-in key), not for its author signature: every peer checks that before it stores
 * an event (engine log.ts). The relay checks it only where it acts on the content itself —
 * admin events, which it folds, and `channel.create` — so one signature check per ordinary
 * event is not the relay's ceiling (issue #13; docs/THREAT_MODEL.md).
 * It performs no IO: the caller publishes what it returns (checkpoints go to the
 * checkpointer's listeners, admin events to the admin gate's).
 */
import { hash } from 'node:crypto'
import {
  concatBytes,
  decodeEvent,
  ErrorCode,
  encodeEvent,
  encodeRequest,
  equalBytes,
  eventFrameFromBytes,
  kindsAllowedIn,
  Privilege,
  type Session,
  type SignedRequest,
  type Signer,
  type StampedEvent,
  stamp,
  ULID_BYTES,
  type Ulid,
  ulidSuccessor,
  ulidTime,
  verifyAuthor,
  withProof,
} from '@peerchat/engine'
import { ADMIN_CHANNEL, Kind } from '@peerchat/engine/chat'
import type { Cluster } from '../cluster/cluster.ts'
import type { Logger } from '../log.ts'
import type { AdminGate, Decision, LinkGrant, Refusal } from './admin-state.ts'
import type { Checkpointer } from './checkpointer.ts'
import { IdempotencyCache, type Stamp, type StampRefusal, type StampResult, stampOf } from './idempotency.ts'
import type { ChannelRegistry } from './policy.ts'
import type { StampBatcher } from './stamp-batcher.ts'
import type { RateLimiter } from './token-bucket.ts'

export interface StampContext {
  relay: Signer
  /** Signs ordinary stamps in batches (one signature per event-loop turn); absent: each alone. */
  stamps?: StampBatcher
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
  /** The other nodes of the community (cross-node idempotency, rate and fan-out); absent: one node. */
  cluster?: Cluster | null
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

const DIGEST_BYTES = 32
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

const NONCE_REUSED: StampRefusal = {
  refused: ErrorCode.nonceReused,
  message: 'clientNonce already used for different content',
}

/**
 * The cross-node record of a stamp: the request's digest, then the event's bytes without the
 * request (`id`, and what follows the author signature): small, whatever the stamp's form.
 */
function stampRecord(digest: Uint8Array, requestBytes: Uint8Array, eventBytes: Uint8Array): Uint8Array {
  const tail = eventBytes.subarray(ULID_BYTES + requestBytes.length)
  const out = new Uint8Array(digest.length + ULID_BYTES + tail.length)
  out.set(digest, 0)
  out.set(eventBytes.subarray(0, ULID_BYTES), digest.length)
  out.set(tail, digest.length + ULID_BYTES)
  return out
}

type Claimed = 'claimed' | 'limited' | { digest: Uint8Array; event: StampedEvent; bytes: Uint8Array }

async function claimAcrossNodes(
  ctx: StampContext,
  req: SignedRequest,
  requestBytes: Uint8Array,
  digest: Uint8Array,
  eventBytes: Uint8Array,
): Promise<Claimed> {
  const claim = await ctx.cluster!.claimStamp({
    author: req.author,
    clientNonce: req.clientNonce,
    record: stampRecord(digest, requestBytes, eventBytes),
    channel: req.channel,
    frame: eventFrameFromBytes(eventBytes),
  })
  if (claim.kind === 'limited') return 'limited'
  if (claim.kind !== 'existing') return 'claimed' // offline: this node alone, as a single relay
  const r = claim.record
  const d = DIGEST_BYTES
  try {
    const bytes = concatBytes(r.subarray(d, d + ULID_BYTES), requestBytes, r.subarray(d + ULID_BYTES))
    return { digest: r.slice(0, d), event: decodeEvent(bytes), bytes }
  } catch {
    return 'claimed' // an unreadable record: this stamp stands (peers keep one event per nonce)
  }
}

const withStamp = (req: SignedRequest, s: Stamp): StampedEvent => withProof(req, s.id, s)

/** Another node appended to the shared admin log first: sync, then decide again at a new id. */
const STALE = Symbol('stale')
/**
 * Tries of an admin request while other nodes keep appending first (each lost try means
 * another node's event went in), with a short random pause between tries.
 */
export const ADMIN_STAMP_TRIES = 50

/** An admin event's id exceeds every one held: the log's order is id order on every node. */
function adminId(next: Ulid, newest: string | undefined): Ulid {
  return newest !== undefined && next <= newest ? (ulidSuccessor(newest as Ulid) ?? next) : next
}

async function stampAdmin(
  gate: AdminGate,
  run: () => Promise<StampResult | typeof STALE>,
): Promise<StampResult> {
  for (let i = 0; i < ADMIN_STAMP_TRIES; i++) {
    try {
      await gate.sync()
    } catch {
      return { refused: ErrorCode.internal, message: 'the relay cannot reach its cluster: try again' }
    }
    const r = await run()
    if (r !== STALE) return r
    await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 10))
  }
  return { refused: ErrorCode.rateLimited, message: 'admin events are being stamped elsewhere: try again' }
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
  // What the relay acts on is checked here; every other author signature, by the peers.
  const checkAuthor = inAdmin || creates
  if (!gate) {
    if (creates) {
      if (!(session.privileges & Privilege.create))
        return reject(ErrorCode.forbidden, 'may not create channels')
    } else if (!(session.privileges & Privilege.post)) return reject(ErrorCode.forbidden, 'may not post')
  }
  // Encrypted groups' channels (and `mls-keys`) exist without `channel.create` and take only MLS kinds.
  const only = kindsAllowedIn(req.channel)
  if (only && !only.includes(req.kind))
    return reject(ErrorCode.forbidden, `${req.channel} takes only ${only.join(', ')} events`)
  if (!creates && !inAdmin && !only && !ctx.channels.has(req.channel))
    return reject(ErrorCode.unknownChannel, `no channel ${req.channel}`)

  const key = IdempotencyCache.key(req.author, req.clientNonce)
  const requestBytes = encodeRequest(req)
  const digestBytes = hash('sha256', requestBytes, 'buffer')
  const digest = digestBytes.toString('base64')
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
  /** The event of the stamp `run` returns (so it is not rebuilt from the stamp). */
  let stamped: StampedEvent | undefined
  let close: Refusal['close']
  let crossNodeRetry = false
  // Admin events skip checkpoints: joiners of `admin` get the whole log from the relay.
  const checkpoints = inAdmin ? undefined : ctx.checkpoints
  const run = async (): Promise<StampResult | typeof STALE> => {
    if (checkAuthor && !(await verifyAuthor(req))) return null
    const id = inAdmin ? adminId(ctx.nextId(), gate.newestId) : ctx.nextId()
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
      if (inAdmin || !ctx.stamps) {
        // Admin events are judged and stored one at a time: each is signed alone.
        event = await stamp(ctx.relay, id, req)
        bytes = encodeEvent(event)
      } else ({ event, bytes } = await ctx.stamps.stamp(id, req, requestBytes))
    } catch (err) {
      checkpoints?.stamped(req.channel, id, undefined)
      throw err
    }
    checkpoints?.stamped(req.channel, id, bytes)
    if (ctx.cluster && !inAdmin) {
      const claim = await claimAcrossNodes(ctx, req, requestBytes, digestBytes, bytes)
      if (claim === 'limited')
        return { refused: ErrorCode.rateLimited, message: 'too many events for this key' }
      if (claim !== 'claimed') {
        if (!equalBytes(claim.digest, digestBytes)) return NONCE_REUSED
        // Another node stamped this request first (and fanned it out): its stamp is the one.
        crossNodeRetry = true
        bytes = claim.bytes
        stamped = claim.event
        return stampOf(claim.event)
      }
    }
    if (inAdmin)
      try {
        if ((await gate.record(event, bytes, decision)) === 'stale') return STALE
      } catch (e) {
        ctx.log?.('relay.admin_log_error', { id: event.id, error: String(e) })
        return {
          refused: ErrorCode.internal,
          message: 'the relay could not store the admin event: try again',
        }
      }
    // The final stamp (id, relay signature, batch proof): what the cache gives every retry.
    stamped = event
    return stampOf(event)
  }
  const pending = inAdmin ? gate.serialize(() => stampAdmin(gate, run)) : (run() as Promise<StampResult>)
  if (!pending) return reject(ErrorCode.rateLimited, 'too many admin requests waiting: try again')
  ctx.cache.insert(key, digest, pending)
  const s = await pending
  if (!s || 'refused' in s) return rejected(s, close)
  const event = stamped ?? withStamp(req, s)
  if (crossNodeRetry) return { kind: 'retry', event, bytes: bytes ?? encodeEvent(event) }
  const createdChannel = isNewChannel && ctx.channels.add(req.channel)
  return { kind: 'stamped', event, bytes: bytes ?? encodeEvent(event), createdChannel, recorded: inAdmin }
}
