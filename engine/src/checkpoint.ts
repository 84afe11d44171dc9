/**
 * Relay checkpoints: one relay signature over a run of consecutive stamps of a channel, so a
 * peer catching up on bulk history hashes events instead of checking two signatures each.
 *
 *   CheckpointBody = version:u8(=1) first:16 last:16 count:varuint root:32
 *   root           = SHA-256(digest_1 | ... | digest_count)    digests of the covered events
 *                                                               (eventDigest), in id order
 *
 * A checkpoint travels as an ordinary stamped event of kind `relay.checkpoint` in its channel,
 * authored by the relay key itself, so it syncs by reconciliation with no new frame or store:
 *
 *   authorSig = Sign_relay("checkpoint", Authored)         (not "event": a checkpoint signature
 *   relaySig  = Sign_relay("stamp", id | Authored | authorSig)   can never pass as a message)
 *
 * It states: "in this channel, this relay process stamped exactly `count` events with ids in
 * [first, last], and these are their digests in order" — their bytes, batch proofs included, not
 * that their author signatures verify (the relay does not check those; peers do). A checkpoint
 * event is always single-stamped. See docs/protocol/identity-event.md §7.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { abytes, equalBytes } from './bytes.ts'
import { createWriter, decodeWith, finish, type Reader, writeBytes, writeU8, writeVarUint } from './codec.ts'
import { DecodeError } from './errors.ts'
import {
  type Authored,
  CLIENT_NONCE_BYTES,
  encodeAuthored,
  type StampedEvent,
  stampPayload,
} from './event.ts'
import type { Ed25519Backend } from './identity/backend.ts'
import { Domain } from './identity/domains.ts'
import type { Signer } from './identity/keys.ts'
import { verifySignature } from './identity/verify.ts'
import { ULID_BYTES, type Ulid, ulidFromBytes, ulidSuccessor, ulidTime, ulidToBytes } from './ulid.ts'

export const CHECKPOINT_KIND = 'relay.checkpoint'
export const CHECKPOINT_VERSION = 1
/** Most events one checkpoint may cover (the relay closes a window at `DEFAULT_CHECKPOINT_EVERY`). */
export const MAX_CHECKPOINT_EVENTS = 4096
/** The relay's default window: a checkpoint every 256 stamps of a channel. */
export const DEFAULT_CHECKPOINT_EVERY = 256
const DIGEST_BYTES = 32

export interface Checkpoint {
  /** Smallest and largest covered id (inclusive). */
  first: Ulid
  last: Ulid
  /** Number of covered events, 1..MAX_CHECKPOINT_EVENTS. */
  count: number
  /** SHA-256 over the covered events' digests in id order. */
  root: Uint8Array
}

function checkCheckpoint(cp: Checkpoint): void {
  if (!Number.isInteger(cp.count) || cp.count < 1 || cp.count > MAX_CHECKPOINT_EVENTS)
    throw new RangeError(`checkpoint count must be in [1, ${MAX_CHECKPOINT_EVENTS}]`)
  if (cp.first > cp.last) throw new RangeError('checkpoint first id is after its last id')
  if ((cp.count === 1) !== (cp.first === cp.last))
    throw new RangeError('a checkpoint covers one event exactly when first = last')
  abytes(cp.root, DIGEST_BYTES, 'root')
}

export function encodeCheckpointBody(cp: Checkpoint): Uint8Array {
  checkCheckpoint(cp)
  const w = createWriter()
  writeU8(w, CHECKPOINT_VERSION)
  writeBytes(w, ulidToBytes(cp.first))
  writeBytes(w, ulidToBytes(cp.last))
  writeVarUint(w, cp.count)
  writeBytes(w, cp.root)
  return finish(w)
}

function readCheckpointBody(r: Reader): Checkpoint {
  const version = r.u8('checkpoint version')
  if (version !== CHECKPOINT_VERSION) throw new DecodeError(`unsupported checkpoint version ${version}`)
  const first = ulidFromBytes(r.bytes(ULID_BYTES, 'first'))
  const last = ulidFromBytes(r.bytes(ULID_BYTES, 'last'))
  const count = r.varUint(MAX_CHECKPOINT_EVENTS, 'count')
  const root = r.bytes(DIGEST_BYTES, 'root')
  const cp = { first, last, count, root }
  try {
    checkCheckpoint(cp)
  } catch (e) {
    throw new DecodeError((e as Error).message)
  }
  return cp
}

export const decodeCheckpointBody = (bytes: Uint8Array): Checkpoint =>
  decodeWith(bytes, readCheckpointBody, 'checkpoint')

/** Hashes the digests of a window in id order; `add` must be called in ascending id order. */
export class CheckpointWindow {
  private hash = sha256.create()
  private firstId: Ulid | undefined
  private lastId: Ulid | undefined
  private n = 0

  get count(): number {
    return this.n
  }

  add(id: Ulid, digest: Uint8Array): void {
    if (this.lastId !== undefined && id <= this.lastId) throw new RangeError('checkpoint ids must ascend')
    abytes(digest, DIGEST_BYTES, 'digest')
    this.hash.update(digest)
    this.firstId ??= id
    this.lastId = id
    this.n++
  }

  /** The checkpoint of what was added, and a fresh empty window; undefined when empty. */
  close(): Checkpoint | undefined {
    if (this.n === 0) return undefined
    const cp: Checkpoint = {
      first: this.firstId!,
      last: this.lastId!,
      count: this.n,
      root: this.hash.digest(),
    }
    this.hash = sha256.create()
    this.firstId = this.lastId = undefined
    this.n = 0
    return cp
  }
}

/** The root of digests already in id order (what a receiver recomputes). */
export function checkpointRoot(digests: readonly Uint8Array[]): Uint8Array {
  const h = sha256.create()
  for (const d of digests) h.update(d)
  return h.digest()
}

/** The content the relay signs as the checkpoint's "author" (clientNonce = the first id, unique per channel). */
export function checkpointAuthored(relayKey: Uint8Array, channel: string, cp: Checkpoint): Authored {
  return {
    channel,
    kind: CHECKPOINT_KIND,
    author: relayKey,
    clientNonce: ulidToBytes(cp.first).slice(0, CLIENT_NONCE_BYTES),
    body: encodeCheckpointBody(cp),
  }
}

/** The relay's checkpoint event, stamped with `id` (which must come after `cp.last`). */
export async function stampCheckpoint(
  relay: Signer,
  id: Ulid,
  channel: string,
  cp: Checkpoint,
): Promise<StampedEvent> {
  if (id <= cp.last) throw new RangeError('a checkpoint is stamped after the events it covers')
  const authored = checkpointAuthored(relay.publicKey, channel, cp)
  const authorSig = await relay.sign(Domain.checkpoint, encodeAuthored(authored))
  const req = { ...authored, authorSig }
  const relaySig = await relay.sign(Domain.stamp, stampPayload(id, req))
  return { ...req, id, ts: ulidTime(id), relaySig }
}

/** Whether `e` claims to be a checkpoint of one of `relayKeys` (its signatures are not checked). */
export function isCheckpointEvent(e: StampedEvent, relayKeys: readonly Uint8Array[]): boolean {
  return e.kind === CHECKPOINT_KIND && relayKeys.some((k) => equalBytes(k, e.author))
}

/**
 * The checkpoint an event carries, if it is a valid one: authored by a key of `relayKeys`,
 * its author signature under the `checkpoint` domain and its stamp under `stamp`, both by
 * that same key, its body well-formed and covering only ids before its own. Never throws.
 */
export async function verifyCheckpointEvent(
  e: StampedEvent,
  relayKeys: readonly Uint8Array[],
  backend?: Ed25519Backend,
): Promise<Checkpoint | undefined> {
  const verdict = await checkCheckpointEvent(e, relayKeys, backend)
  return typeof verdict === 'string' ? undefined : verdict
}

/** Why a checkpoint event is refused (the log's reject reasons of the same names). */
export type CheckpointRefusal = 'notCheckpoint' | 'malformed' | 'badRelaySig' | 'badAuthorSig'

/** `verifyCheckpointEvent` with the reason of a refusal; each signature is checked once. */
export async function checkCheckpointEvent(
  e: StampedEvent,
  relayKeys: readonly Uint8Array[],
  backend?: Ed25519Backend,
): Promise<Checkpoint | CheckpointRefusal> {
  if (!isCheckpointEvent(e, relayKeys)) return 'notCheckpoint'
  if (e.batch !== undefined) return 'malformed' // the relay signs each checkpoint alone
  let cp: Checkpoint
  let authored: Uint8Array
  let stamp: Uint8Array
  try {
    cp = decodeCheckpointBody(e.body)
    if (cp.last >= e.id) return 'malformed'
    if (!equalBytes(e.clientNonce, ulidToBytes(cp.first))) return 'malformed'
    authored = encodeAuthored(e)
    stamp = stampPayload(e.id, e)
  } catch {
    return 'malformed'
  }
  const [authorOk, stampOk] = await Promise.all([
    verifySignature(Domain.checkpoint, e.author, authored, e.authorSig, backend),
    verifySignature(Domain.stamp, e.author, stamp, e.relaySig, backend),
  ])
  if (!stampOk) return 'badRelaySig'
  return authorOk ? cp : 'badAuthorSig'
}

/** The id right after `id` (id + 1 as a 128-bit number), for half-open ranges ending at `id`. */
export function ulidAfter(id: Ulid): Ulid {
  const next = ulidSuccessor(id)
  if (next === undefined) throw new RangeError('no id after the largest ULID')
  return next
}
