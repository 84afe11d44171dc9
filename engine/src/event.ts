/**
 * The signed event: what an author signs, what the relay stamps, and their canonical bytes.
 *
 *   Authored     = version:u8(=1) channel:str kind:str author:32 clientNonce:16 body:bytes
 *   Request      = Authored authorSig:64                      (client -> relay)
 *   StampedEvent = id:16 Authored authorSig:64 Stamp          (relay -> everyone)
 *   Stamp        = relaySig:64                                a single stamp
 *                | BatchStamp                                 one of a batch (stamp-proof.ts)
 *
 *   authorSig = Sign_author("event", Authored)
 *   relaySig  = Sign_relay ("stamp", id || Authored || authorSig)              (single)
 *   rootSig   = Sign_relay ("stamp-batch", BatchRoot of the batch's leaves)   (batch)
 *
 * An event is always carried delimited (the tail of a frame, a `bytes` field, a store record):
 * a Stamp of exactly 64 bytes is a single stamp, anything else must read as a BatchStamp (which
 * is never 64 bytes long). Single stamps keep the bytes of every event made before batches.
 * `ts` is not a separate field: it is the ULID's time, so it cannot disagree with the id.
 * See docs/protocol/identity-event.md (indexed by docs/PROTOCOL.md) for the grammar of
 * `str`/`bytes`, every limit and a worked example.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { abytes, equalBytes } from './bytes.ts'
import { decodeWith, putVarUint, type Reader, varUintSize } from './codec.ts'
import { DecodeError } from './errors.ts'
import type { Ed25519Backend } from './identity/backend.ts'
import { Domain } from './identity/domains.ts'
import type { Signer } from './identity/keys.ts'
import { verifySignature } from './identity/verify.ts'
import {
  type BatchProof,
  batchRootPayload,
  batchStampSize,
  defaultHash,
  type Hash,
  isBatchProof,
  leafHash,
  MAX_BATCH_STAMP_EXTRA,
  MAX_STAMP_BATCH,
  merkleTree,
  putBatchStamp,
  readBatchStamp,
  rootFromProof,
  VerifiedRoots,
} from './stamp-proof.ts'
import { ULID_BYTES, type Ulid, ulidFromBytes, ulidTime, ulidToBytes } from './ulid.ts'

export const EVENT_VERSION = 1
export const Limits = {
  /** Bytes of a channel name. */
  channel: 64,
  /** Bytes of a kind name. */
  kind: 32,
  /** Bytes of an event body (a Yjs update or an attachment's metadata with its thumbnail fits). */
  body: 48 * 1024,
} as const

/** Fixed field sizes: an Ed25519 public key and signature, and the client's idempotency nonce. */
export const AUTHOR_BYTES = 32
export const SIGNATURE_BYTES = 64
export const CLIENT_NONCE_BYTES = 16
/** Size of the largest single-stamped event (every field at its limit). */
export const MAX_SINGLE_EVENT_BYTES =
  ULID_BYTES +
  1 +
  (1 + Limits.channel) +
  (1 + Limits.kind) +
  AUTHOR_BYTES +
  CLIENT_NONCE_BYTES +
  (3 + Limits.body) + // a length up to 2^21 - 1 takes 3 varint bytes
  2 * SIGNATURE_BYTES
/**
 * Size of the largest stamped event, a batch-stamped one with the longest path: the least a
 * frame carrying one must allow.
 */
export const MAX_EVENT_BYTES = MAX_SINGLE_EVENT_BYTES + MAX_BATCH_STAMP_EXTRA
// A wrong-length signature would shift every later field on the wire.
const checkSig = (sig: Uint8Array, what: string): Uint8Array => abytes(sig, SIGNATURE_BYTES, what)

const CHANNEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const KIND_RE = /^[a-z][a-z0-9._-]*$/

export interface Authored {
  channel: string
  kind: string
  author: Uint8Array
  clientNonce: Uint8Array
  body: Uint8Array
}

export interface SignedRequest extends Authored {
  authorSig: Uint8Array
}

export interface StampedEvent extends SignedRequest {
  id: Ulid
  /** Relay time in ms: the time part of `id`. */
  ts: number
  /** The relay's signature: over this stamp alone, or over the root of `batch`. */
  relaySig: Uint8Array
  /** Present when the relay stamped this event in a batch: its place in the batch's Merkle tree. */
  batch?: BatchProof
}

// Both patterns are ASCII-only, so a valid name's length in characters is its length in bytes;
// the length is checked first so a huge string costs nothing.
export function isValidChannel(name: string): boolean {
  return typeof name === 'string' && name.length <= Limits.channel && CHANNEL_RE.test(name)
}

export function isValidKind(kind: string): boolean {
  return typeof kind === 'string' && kind.length <= Limits.kind && KIND_RE.test(kind)
}

function checkAuthored(a: Authored): void {
  if (!isValidChannel(a.channel)) throw new RangeError(`invalid channel name ${JSON.stringify(a.channel)}`)
  if (!isValidKind(a.kind)) throw new RangeError(`invalid event kind ${JSON.stringify(a.kind)}`)
  abytes(a.author, AUTHOR_BYTES, 'author')
  abytes(a.clientNonce, CLIENT_NONCE_BYTES, 'clientNonce')
  abytes(a.body, undefined, 'body')
  if (a.body.length > Limits.body) throw new RangeError(`body exceeds ${Limits.body} bytes`)
}

export function encodeAuthored(a: Authored): Uint8Array {
  return encodeParts(undefined, a, undefined, undefined, undefined)
}

export function readAuthored(r: Reader): Authored {
  const version = r.u8('event version')
  if (version !== EVENT_VERSION) throw new DecodeError(`unsupported event version ${version}`)
  const channel = r.varString(Limits.channel, 'channel')
  if (!isValidChannel(channel)) throw new DecodeError('invalid channel name')
  const kind = r.varString(Limits.kind, 'kind')
  if (!isValidKind(kind)) throw new DecodeError('invalid event kind')
  const author = r.bytes(AUTHOR_BYTES, 'author')
  const clientNonce = r.bytes(CLIENT_NONCE_BYTES, 'clientNonce')
  const body = r.varBytes(Limits.body, 'body')
  return { channel, kind, author, clientNonce, body }
}

/** Authors sign their content; the result is what a client sends to the relay to be stamped. */
export async function signRequest(signer: Signer, content: Omit<Authored, 'author'>): Promise<SignedRequest> {
  const authored: Authored = { ...content, author: signer.publicKey }
  const authorSig = await signer.sign(Domain.event, encodeAuthored(authored))
  return { ...authored, authorSig }
}

export function encodeRequest(req: SignedRequest): Uint8Array {
  return encodeParts(undefined, req, checkSig(req.authorSig, 'authorSig'), undefined, undefined)
}

export function readRequest(r: Reader): SignedRequest {
  const a = readAuthored(r)
  return { ...a, authorSig: r.bytes(SIGNATURE_BYTES, 'authorSig') }
}

export const decodeRequest = (bytes: Uint8Array): SignedRequest =>
  decodeWith(bytes, readRequest, 'event request')

/** False for a bad signature and for a malformed request object (never throws on peer data). */
export async function verifyAuthor(req: SignedRequest, backend?: Ed25519Backend): Promise<boolean> {
  const payload = tryEncode(() => encodeAuthored(req))
  return payload !== undefined && verifySignature(Domain.event, req.author, payload, req.authorSig, backend)
}

function tryEncode(encode: () => Uint8Array): Uint8Array | undefined {
  try {
    return encode()
  } catch {
    return undefined
  }
}

/**
 * The payload of a single stamp's signature, and a batch stamp's leaf: binds the id (and so
 * the time) to the author's signed content.
 */
export function stampPayload(id: Ulid, req: SignedRequest): Uint8Array {
  return encodeParts(id, req, checkSig(req.authorSig, 'authorSig'), undefined, undefined)
}

/**
 * `[id |] Authored [| authorSig [| Stamp]]` written into one exact-size buffer: the same bytes
 * as lib0's encoder (event.vectors.test.ts), without its intermediate buffers — a peer serving
 * history encodes every event it sends, and the relay every request it stamps. Channel and kind
 * are ASCII (checked), one byte a char.
 */
function encodeParts(
  id: Ulid | undefined,
  a: Authored,
  authorSig: Uint8Array | undefined,
  relaySig: Uint8Array | undefined,
  batch: BatchProof | undefined,
): Uint8Array {
  checkAuthored(a)
  if (relaySig) checkSig(relaySig, 'relaySig')
  if (batch !== undefined && !isBatchProof(batch)) throw new RangeError('malformed batch proof')
  const idBytes = id === undefined ? undefined : ulidToBytes(id)
  const { channel, kind, body } = a
  const stampBytes = relaySig === undefined ? 0 : batch ? batchStampSize(batch) : SIGNATURE_BYTES
  const size =
    (idBytes ? ULID_BYTES : 0) +
    1 +
    varUintSize(channel.length) +
    channel.length +
    varUintSize(kind.length) +
    kind.length +
    AUTHOR_BYTES +
    CLIENT_NONCE_BYTES +
    varUintSize(body.length) +
    body.length +
    (authorSig ? SIGNATURE_BYTES : 0) +
    stampBytes
  const out = new Uint8Array(size)
  let o = 0
  if (idBytes) {
    out.set(idBytes, 0)
    o = ULID_BYTES
  }
  out[o++] = EVENT_VERSION
  o = putVarUint(out, o, channel.length)
  for (let i = 0; i < channel.length; i++) out[o++] = channel.charCodeAt(i)
  o = putVarUint(out, o, kind.length)
  for (let i = 0; i < kind.length; i++) out[o++] = kind.charCodeAt(i)
  out.set(a.author, o)
  o += AUTHOR_BYTES
  out.set(a.clientNonce, o)
  o += CLIENT_NONCE_BYTES
  o = putVarUint(out, o, body.length)
  out.set(body, o)
  o += body.length
  if (!authorSig) return out
  out.set(authorSig, o)
  o += SIGNATURE_BYTES
  if (relaySig && batch) putBatchStamp(out, o, batch, relaySig)
  else if (relaySig) out.set(relaySig, o)
  return out
}

/** The relay's half: assign the id and sign. Checks on the request happen before (relay policy). */
export async function stamp(relay: Signer, id: Ulid, req: SignedRequest): Promise<StampedEvent> {
  return withProof(req, id, { relaySig: await relay.sign(Domain.stamp, stampPayload(id, req)) })
}

/** A relay's stamp of one event: its signature, and its place in a batch when it shared one. */
export interface StampProof {
  relaySig: Uint8Array
  batch?: BatchProof
}

/**
 * The relay's half for many stamps at once (the stamps of one event-loop turn), given their
 * `stampPayload`s: one signature over their Merkle root, each with its proof. A batch of one is
 * a single stamp (signed alone, no proof). `hash` is SHA-256 (the relay passes a native one);
 * `leaves` are the payloads' `leafHash`es when the caller has them.
 */
export async function signStamps(
  relay: Signer,
  payloads: readonly Uint8Array[],
  hash: Hash = defaultHash,
  leaves?: readonly Uint8Array[],
): Promise<StampProof[]> {
  if (payloads.length === 0) return []
  if (payloads.length === 1) return [{ relaySig: await relay.sign(Domain.stamp, payloads[0]!) }]
  if (payloads.length > MAX_STAMP_BATCH)
    throw new RangeError(`a batch holds at most ${MAX_STAMP_BATCH} stamps`)
  if (leaves && leaves.length !== payloads.length) throw new RangeError('one leaf per payload')
  const { root, paths } = merkleTree(leaves ?? payloads.map((p) => leafHash(p, hash)), hash)
  const size = payloads.length
  const relaySig = await relay.sign(Domain.stampBatch, batchRootPayload(size, root))
  return paths.map((path, index) => ({ relaySig, batch: { size, index, path } }))
}

/** `signStamps` for requests and their ids: the stamped events. */
export async function stampBatch(
  relay: Signer,
  items: readonly { id: Ulid; req: SignedRequest }[],
  hash: Hash = defaultHash,
): Promise<StampedEvent[]> {
  const proofs = await signStamps(
    relay,
    items.map(({ id, req }) => stampPayload(id, req)),
    hash,
  )
  return items.map(({ id, req }, i) => withProof(req, id, proofs[i]!))
}

/**
 * The event a request becomes with its id and stamp: the request's own fields only (a stamped
 * event passed as the request loses its old id, stamp and proof).
 */
export function withProof(req: SignedRequest, id: Ulid, proof: StampProof): StampedEvent {
  const event: StampedEvent = {
    channel: req.channel,
    kind: req.kind,
    author: req.author,
    clientNonce: req.clientNonce,
    body: req.body,
    authorSig: req.authorSig,
    id,
    ts: ulidTime(id),
    relaySig: proof.relaySig,
  }
  if (proof.batch) event.batch = proof.batch
  return event
}

/**
 * An encoded event from its stamp payload (`stampPayload`: id | Authored | authorSig) and its
 * stamp: `payload | Stamp`, in one allocation (the relay fans out these bytes).
 */
export function appendStamp(payload: Uint8Array, proof: StampProof): Uint8Array {
  checkSig(proof.relaySig, 'relaySig')
  const out = new Uint8Array(payload.length + (proof.batch ? batchStampSize(proof.batch) : SIGNATURE_BYTES))
  out.set(payload, 0)
  if (proof.batch) putBatchStamp(out, payload.length, proof.batch, proof.relaySig)
  else out.set(proof.relaySig, payload.length)
  return out
}

export function encodeEvent(e: StampedEvent): Uint8Array {
  return encodeParts(e.id, e, checkSig(e.authorSig, 'authorSig'), checkSig(e.relaySig, 'relaySig'), e.batch)
}

/** Reads a whole event: the stamp is the rest of the input (see the grammar above). */
export function readEvent(r: Reader): StampedEvent {
  const id = ulidFromBytes(r.bytes(ULID_BYTES, 'id'))
  const req = readRequest(r)
  if (r.remaining <= SIGNATURE_BYTES) {
    const relaySig = r.bytes(SIGNATURE_BYTES, 'relaySig')
    return { ...req, id, ts: ulidTime(id), relaySig }
  }
  const { batch, relaySig } = readBatchStamp(r)
  return { ...req, id, ts: ulidTime(id), relaySig, batch }
}

export const decodeEvent = (bytes: Uint8Array): StampedEvent => decodeWith(bytes, readEvent, 'event')

/**
 * Root signatures verified by `verifyRelayStamp` and the logs that are given no cache of their
 * own: the events of one batch, live or in a catch-up, cost one signature check between them.
 */
export const sharedVerifiedRoots = new VerifiedRoots()

/**
 * False for a bad stamp and for a malformed event object (never throws on peer data). A batch
 * stamp is checked by hashing the event's path up to a root, then the root's signature, once per
 * root in `roots`. `hash` is SHA-256.
 */
export async function verifyRelayStamp(
  e: StampedEvent,
  relayKey: Uint8Array,
  backend?: Ed25519Backend,
  roots: VerifiedRoots = sharedVerifiedRoots,
  hash: Hash = defaultHash,
): Promise<boolean> {
  const payload = tryEncode(() => stampPayload(e.id, e))
  if (payload === undefined || !(e.relaySig instanceof Uint8Array)) return false
  if (e.batch === undefined) return verifySignature(Domain.stamp, relayKey, payload, e.relaySig, backend)
  const root = rootFromProof(leafHash(payload, hash), e.batch, hash)
  if (!root) return false
  const signed = batchRootPayload(e.batch.size, root)
  return roots.verify(relayKey, signed, e.relaySig, () =>
    verifySignature(Domain.stampBatch, relayKey, signed, e.relaySig, backend),
  )
}

/** Content digest of an event (SHA-256 of its canonical bytes): the item hash in fingerprints. */
export function eventDigest(e: StampedEvent): Uint8Array {
  return sha256(encodeEvent(e))
}

export function sameContent(a: Authored, b: Authored): boolean {
  return (
    a.channel === b.channel &&
    a.kind === b.kind &&
    equalBytes(a.author, b.author) &&
    equalBytes(a.clientNonce, b.clientNonce) &&
    equalBytes(a.body, b.body)
  )
}
