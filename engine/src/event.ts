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
 * See docs/PROTOCOL.md for the grammar of `str`/`bytes` and every limit.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, equalBytes } from './bytes.ts'
import {
  createWriter,
  decodeWith,
  finish,
  type Reader,
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
import { type Ulid, ulidFromBytes, ulidTime, ulidToBytes } from './ulid.ts'

export const EVENT_VERSION = 1
export const Limits = {
  /** Bytes of a channel name. */
  channel: 64,
  /** Bytes of a kind name. */
  kind: 32,
  /** Bytes of an event body (a Yjs update or an attachment's metadata with its thumbnail fits). */
  body: 48 * 1024,
} as const

/** Well-known kinds; any `[a-z][a-z0-9._-]*` kind is allowed so other tools can add theirs. */
export const Kind = {
  message: 'message',
  edit: 'edit',
  redact: 'redact',
  reaction: 'reaction',
  attachment: 'attachment',
  profile: 'profile',
  channelCreate: 'channel.create',
  channelMeta: 'channel.meta',
  yjs: 'yjs',
} as const

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

export function isValidChannel(name: string): boolean {
  return (
    typeof name === 'string' &&
    CHANNEL_RE.test(name) &&
    new TextEncoder().encode(name).length <= Limits.channel
  )
}

export function isValidKind(kind: string): boolean {
  return typeof kind === 'string' && KIND_RE.test(kind) && kind.length <= Limits.kind
}

function checkAuthored(a: Authored): void {
  if (!isValidChannel(a.channel)) throw new RangeError(`invalid channel name ${JSON.stringify(a.channel)}`)
  if (!isValidKind(a.kind)) throw new RangeError(`invalid event kind ${JSON.stringify(a.kind)}`)
  if (a.author.length !== 32) throw new RangeError('author must be 32 bytes')
  if (a.clientNonce.length !== 16) throw new RangeError('clientNonce must be 16 bytes')
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
  const author = r.bytes(32, 'author')
  const clientNonce = r.bytes(16, 'clientNonce')
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
  return concatBytes(encodeAuthored(req), req.authorSig)
}

export function readRequest(r: Reader): SignedRequest {
  const a = readAuthored(r)
  return { ...a, authorSig: r.bytes(64, 'authorSig') }
}

export const decodeRequest = (bytes: Uint8Array): SignedRequest =>
  decodeWith(bytes, readRequest, 'event request')

export function verifyAuthor(req: SignedRequest, backend?: Ed25519Backend): Promise<boolean> {
  return verifySignature(Domain.event, req.author, encodeAuthored(req), req.authorSig, backend)
}

/** The payload the relay signs: binds the id (and so the time) to the author's signed content. */
export function stampPayload(id: Ulid, req: SignedRequest): Uint8Array {
  return concatBytes(ulidToBytes(id), encodeAuthored(req), req.authorSig)
}

/** The relay's half: assign the id and sign. Checks on the request happen before (relay policy). */
export async function stamp(relay: Signer, id: Ulid, req: SignedRequest): Promise<StampedEvent> {
  const relaySig = await relay.sign(Domain.stamp, stampPayload(id, req))
  return { ...req, id, ts: ulidTime(id), relaySig }
}

export function encodeEvent(e: StampedEvent): Uint8Array {
  return concatBytes(ulidToBytes(e.id), encodeAuthored(e), e.authorSig, e.relaySig)
}

export function readEvent(r: Reader): StampedEvent {
  const id = ulidFromBytes(r.bytes(16, 'id'))
  const req = readRequest(r)
  const relaySig = r.bytes(64, 'relaySig')
  return { ...req, id, ts: ulidTime(id), relaySig }
}

export const decodeEvent = (bytes: Uint8Array): StampedEvent => decodeWith(bytes, readEvent, 'event')

export function verifyRelayStamp(
  e: StampedEvent,
  relayKey: Uint8Array,
  backend?: Ed25519Backend,
): Promise<boolean> {
  return verifySignature(Domain.stamp, relayKey, stampPayload(e.id, e), e.relaySig, backend)
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
