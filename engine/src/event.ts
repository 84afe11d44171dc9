/**
 * The signed event: what an author signs, what the relay stamps, and their canonical bytes.
 *
 *   Authored     = version:u8(=1) channel:str kind:str author:32 clientNonce:16 body:bytes
 *   Request      = Authored authorSig:64                      (client -> relay)
 *   StampedEvent = id:16 Authored authorSig:64 relaySig:64    (relay -> everyone)
 *
 *   authorSig = Sign_author("event", Authored)
 *   relaySig  = Sign_relay ("stamp", id || Authored || authorSig)
 *
 * `ts` is not a separate field: it is the ULID's time, so it cannot disagree with the id.
 * See docs/protocol/identity-event.md (indexed by docs/PROTOCOL.md) for the grammar of
 * `str`/`bytes`, every limit and a worked example.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { abytes, concatBytes, equalBytes } from './bytes.ts'
import {
  createWriter,
  decodeWith,
  finish,
  putVarUint,
  type Reader,
  varUintSize,
  writeBytes,
  writeU8,
  writeVarBytes,
  writeVarString,
} from './codec.ts'
import { DecodeError } from './errors.ts'
import type { Ed25519Backend } from './identity/backend.ts'
import { Domain } from './identity/domains.ts'
import type { Signer } from './identity/keys.ts'
import { verifySignature } from './identity/verify.ts'
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
/** Size of the largest stamped event (every field at its limit): the least a frame carrying one must allow. */
export const MAX_EVENT_BYTES =
  ULID_BYTES +
  1 +
  (1 + Limits.channel) +
  (1 + Limits.kind) +
  AUTHOR_BYTES +
  CLIENT_NONCE_BYTES +
  (3 + Limits.body) + // a length up to 2^21 - 1 takes 3 varint bytes
  2 * SIGNATURE_BYTES
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
  relaySig: Uint8Array
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
  checkAuthored(a)
  const w = createWriter()
  writeU8(w, EVENT_VERSION)
  writeVarString(w, a.channel)
  writeVarString(w, a.kind)
  writeBytes(w, a.author)
  writeBytes(w, a.clientNonce)
  writeVarBytes(w, a.body)
  return finish(w)
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
  return concatBytes(encodeAuthored(req), checkSig(req.authorSig, 'authorSig'))
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

/** The payload the relay signs: binds the id (and so the time) to the author's signed content. */
export function stampPayload(id: Ulid, req: SignedRequest): Uint8Array {
  return encodeStamped(id, req, undefined)
}

/**
 * `id | Authored | authorSig [| relaySig]` written into one exact-size buffer: the same bytes
 * as lib0's encoder (event.vectors.test.ts), without its intermediate buffers — a peer serving
 * history encodes every event it sends. Channel and kind are ASCII (checked), one byte a char.
 */
function encodeStamped(id: Ulid, a: SignedRequest, relaySig: Uint8Array | undefined): Uint8Array {
  checkAuthored(a)
  checkSig(a.authorSig, 'authorSig')
  if (relaySig) checkSig(relaySig, 'relaySig')
  const { channel, kind, body } = a
  const size =
    ULID_BYTES +
    1 +
    varUintSize(channel.length) +
    channel.length +
    varUintSize(kind.length) +
    kind.length +
    AUTHOR_BYTES +
    CLIENT_NONCE_BYTES +
    varUintSize(body.length) +
    body.length +
    SIGNATURE_BYTES * (relaySig ? 2 : 1)
  const out = new Uint8Array(size)
  out.set(ulidToBytes(id), 0)
  let o = ULID_BYTES
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
  out.set(a.authorSig, o)
  if (relaySig) out.set(relaySig, o + SIGNATURE_BYTES)
  return out
}

/** The relay's half: assign the id and sign. Checks on the request happen before (relay policy). */
export async function stamp(relay: Signer, id: Ulid, req: SignedRequest): Promise<StampedEvent> {
  const relaySig = await relay.sign(Domain.stamp, stampPayload(id, req))
  return { ...req, id, ts: ulidTime(id), relaySig }
}

export function encodeEvent(e: StampedEvent): Uint8Array {
  if (!(e.relaySig instanceof Uint8Array)) checkSig(e.relaySig, 'relaySig')
  return encodeStamped(e.id, e, e.relaySig)
}

export function readEvent(r: Reader): StampedEvent {
  const id = ulidFromBytes(r.bytes(ULID_BYTES, 'id'))
  const req = readRequest(r)
  const relaySig = r.bytes(SIGNATURE_BYTES, 'relaySig')
  return { ...req, id, ts: ulidTime(id), relaySig }
}

export const decodeEvent = (bytes: Uint8Array): StampedEvent => decodeWith(bytes, readEvent, 'event')

/** False for a bad stamp and for a malformed event object (never throws on peer data). */
export async function verifyRelayStamp(
  e: StampedEvent,
  relayKey: Uint8Array,
  backend?: Ed25519Backend,
): Promise<boolean> {
  const payload = tryEncode(() => stampPayload(e.id, e))
  return payload !== undefined && verifySignature(Domain.stamp, relayKey, payload, e.relaySig, backend)
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
