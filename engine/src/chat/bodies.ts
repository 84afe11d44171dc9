/**
 * Body codecs of the chat kinds (`event.body` is opaque to the log; these give it meaning).
 *
 * Every body starts with a version byte (1). Ids are ULIDs in binary (16 bytes), keys are
 * Ed25519 public keys (32 bytes), strings are varuint-length UTF-8. Optional fields follow a
 * flags byte whose unknown bits are refused, so one value has exactly one encoding.
 * Decoders are bounded (every length and count is checked before allocating) and throw only
 * `DecodeError`. An empty body means "erased by a redaction" and never decodes.
 * The layouts are written down in docs/protocol/projections.md.
 */

import { checkMeta, MAX_BLOB_BYTES } from '../blobs/manifest.ts'
import { begin, checkText, readFlags, readId, readNonEmpty, readVersion, writeId } from '../body-codec.ts'
import { abytes } from '../bytes.ts'
import {
  decodeWith,
  finish,
  type Reader,
  writeBytes,
  writeU8,
  writeVarBytes,
  writeVarString,
  writeVarUint,
} from '../codec.ts'
import { DocLimits, decodeYjs, type YjsBody } from '../docs/body.ts'
import { DecodeError } from '../errors.ts'
import type { Ulid } from '../ulid.ts'
import { Kind } from './kinds.ts'

export { BODY_VERSION } from '../body-codec.ts'
export { DocLimits, decodeYjs, encodeYjs, isValidDocName, type YjsBody } from '../docs/body.ts'

/** Bounds of the chat bodies (bytes unless said otherwise). All fit inside `Limits.body`. */
export const BodyLimits = {
  /** UTF-8 bytes of a message or edit text. */
  text: 16 * 1024,
  /** Mentioned keys per message. */
  mentions: 32,
  /** UTF-8 bytes of a redaction reason. */
  reason: 512,
  /** UTF-8 bytes of a reaction (one emoji sequence or a short :code:). */
  emoji: 64,
  /** UTF-8 bytes of a display name. */
  name: 64,
  /** UTF-8 bytes of a channel topic. */
  topic: 1024,
  /** Pinned message ids per channel. */
  pinned: 50,
  /** UTF-8 bytes of a Yjs document name (`DocLimits.docName`). */
  docName: DocLimits.docName,
  /** Bytes of one Yjs update inside a `yjs` event (`DocLimits.yjsUpdate`). */
  yjsUpdate: DocLimits.yjsUpdate,
  /** UTF-8 bytes of an attachment's MIME type (`type/subtype`, parameters included). */
  mime: 127,
  /** UTF-8 bytes of an attachment's file name. */
  fileName: 255,
  /** Pixels of an image's width or height. */
  dimension: 65_535,
  /** Bytes of an attachment's inline thumbnail (a small image that shows before the blob arrives). */
  thumbnail: 16 * 1024,
  /** Bytes of a profile's avatar blob (a small square image: one blob chunk). */
  avatar: 64 * 1024,
} as const

export interface MessageBody {
  text: string
  replyTo?: Ulid
  mentions: Uint8Array[]
}
export interface EditBody {
  target: Ulid
  text: string
}
export interface RedactBody {
  target: Ulid
  reason?: string
}
export interface ReactionBody {
  target: Ulid
  emoji: string
  on: boolean
}
export interface ProfileBody {
  name: string
  /** SHA-256 digest of the avatar blob (content-addressed attachment). */
  avatar?: Uint8Array
  /**
   * What a peer needs to fetch and check the avatar blob (docs/protocol/blobs.md): its size,
   * chunk root and MIME type. Only with `avatar`; absent in profiles written before it existed.
   */
  avatarBlob?: AvatarBlob
}
export interface AvatarBlob {
  /** 1..`BodyLimits.avatar` bytes. */
  size: number
  chunkRoot: Uint8Array
  mime: string
}
export interface ChannelMetaBody {
  topic: string
  pinned: Ulid[]
}
/**
 * An attachment: the metadata of a content-addressed blob (the bytes travel peer to peer,
 * docs/protocol/blobs.md). `digest` is the SHA-256 of the blob, `chunkRoot` the SHA-256 of its
 * chunks' hashes, so any peer can serve it and every chunk is checked on arrival.
 */
export interface AttachmentBody {
  digest: Uint8Array
  size: number
  chunkRoot: Uint8Array
  mime: string
  name: string
  /** Pixel dimensions of an image. */
  width?: number
  height?: number
  /** A small inline preview and its MIME type. */
  thumbnail?: { mime: string; bytes: Uint8Array }
}

// message = v text flags(bit0 replyTo) [replyTo:16] count(mentions) key:32*
export function encodeMessage(b: MessageBody): Uint8Array {
  checkText(b.text, BodyLimits.text, 'message text')
  if (b.mentions.length > BodyLimits.mentions)
    throw new RangeError(`more than ${BodyLimits.mentions} mentions`)
  for (const m of b.mentions)
    if (!(m instanceof Uint8Array) || m.length !== 32) throw new RangeError('a mention must be a 32-byte key')
  const w = begin()
  writeVarString(w, b.text)
  writeU8(w, b.replyTo ? 1 : 0)
  if (b.replyTo) writeId(w, b.replyTo)
  writeVarUint(w, b.mentions.length)
  for (const m of b.mentions) writeBytes(w, m)
  return finish(w)
}

function readMessage(r: Reader): MessageBody {
  readVersion(r, 'message')
  const text = r.varString(BodyLimits.text, 'message text')
  const flags = readFlags(r, 1, 'message')
  const replyTo = flags & 1 ? readId(r, 'replyTo') : undefined
  const n = r.count(BodyLimits.mentions, 32, 'mentions')
  const mentions: Uint8Array[] = []
  for (let i = 0; i < n; i++) mentions.push(r.bytes(32, 'mention'))
  return replyTo ? { text, replyTo, mentions } : { text, mentions }
}

// edit = v target:16 text
export function encodeEdit(b: EditBody): Uint8Array {
  checkText(b.text, BodyLimits.text, 'edit text')
  const w = begin()
  writeId(w, b.target)
  writeVarString(w, b.text)
  return finish(w)
}

function readEdit(r: Reader): EditBody {
  readVersion(r, 'edit')
  return { target: readId(r, 'edit target'), text: r.varString(BodyLimits.text, 'edit text') }
}

// redact = v target:16 flags(bit0 reason) [reason]
export function encodeRedact(b: RedactBody): Uint8Array {
  if (b.reason !== undefined) checkText(b.reason, BodyLimits.reason, 'redaction reason')
  const w = begin()
  writeId(w, b.target)
  writeU8(w, b.reason !== undefined ? 1 : 0)
  if (b.reason !== undefined) writeVarString(w, b.reason)
  return finish(w)
}

function readRedact(r: Reader): RedactBody {
  readVersion(r, 'redact')
  const target = readId(r, 'redact target')
  const flags = readFlags(r, 1, 'redact')
  return flags & 1 ? { target, reason: r.varString(BodyLimits.reason, 'reason') } : { target }
}

// reaction = v target:16 emoji on:u8(0|1)
export function encodeReaction(b: ReactionBody): Uint8Array {
  checkText(b.emoji, BodyLimits.emoji, 'emoji')
  if (b.emoji.length === 0) throw new RangeError('emoji must not be empty')
  const w = begin()
  writeId(w, b.target)
  writeVarString(w, b.emoji)
  writeU8(w, b.on ? 1 : 0)
  return finish(w)
}

function readReaction(r: Reader): ReactionBody {
  readVersion(r, 'reaction')
  const target = readId(r, 'reaction target')
  const emoji = readNonEmpty(r, BodyLimits.emoji, 'emoji')
  const on = r.u8('reaction state')
  if (on > 1) throw new DecodeError(`reaction state must be 0 or 1, got ${on}`)
  return { target, emoji, on: on === 1 }
}

// profile = v name flags(bit0 avatar, bit1 avatarBlob; bit1 needs bit0) [avatar:32]
//           [size:varuint(1..avatar) chunkRoot:32 mime]
export function encodeProfile(b: ProfileBody): Uint8Array {
  checkText(b.name, BodyLimits.name, 'display name')
  if (b.avatar && b.avatar.length !== 32) throw new RangeError('avatar digest must be 32 bytes')
  const blob = b.avatarBlob
  if (blob) {
    if (!b.avatar) throw new RangeError('avatarBlob needs the avatar digest')
    if (!Number.isSafeInteger(blob.size) || blob.size < 1 || blob.size > BodyLimits.avatar)
      throw new RangeError(`avatar size must be an integer in [1, ${BodyLimits.avatar}]`)
    abytes(blob.chunkRoot, 32, 'avatar chunkRoot')
    checkMime(blob.mime, 'avatar MIME type')
  }
  const w = begin()
  writeVarString(w, b.name)
  writeU8(w, (b.avatar ? 1 : 0) | (blob ? 2 : 0))
  if (b.avatar) writeBytes(w, b.avatar)
  if (blob) {
    writeVarUint(w, blob.size)
    writeBytes(w, blob.chunkRoot)
    writeVarString(w, blob.mime)
  }
  return finish(w)
}

function readProfile(r: Reader): ProfileBody {
  readVersion(r, 'profile')
  const name = r.varString(BodyLimits.name, 'display name')
  const flags = readFlags(r, 3, 'profile')
  if (flags === 2) throw new DecodeError('profile avatarBlob without an avatar digest')
  if (!(flags & 1)) return { name }
  const avatar = r.bytes(32, 'avatar digest')
  if (!(flags & 2)) return { name, avatar }
  const size = r.varUint(BodyLimits.avatar, 'avatar size')
  if (size === 0) throw new DecodeError('avatar size must not be 0')
  const chunkRoot = r.bytes(32, 'avatar chunkRoot')
  const mime = readMime(r, 'avatar MIME type')
  return { name, avatar, avatarBlob: { size, chunkRoot, mime } }
}

// channel.meta = v topic count(pinned) id:16*
export function encodeChannelMeta(b: ChannelMetaBody): Uint8Array {
  checkText(b.topic, BodyLimits.topic, 'topic')
  if (b.pinned.length > BodyLimits.pinned) throw new RangeError(`more than ${BodyLimits.pinned} pinned ids`)
  const w = begin()
  writeVarString(w, b.topic)
  writeVarUint(w, b.pinned.length)
  for (const id of b.pinned) writeId(w, id)
  return finish(w)
}

function readChannelMeta(r: Reader): ChannelMetaBody {
  readVersion(r, 'channel.meta')
  const topic = r.varString(BodyLimits.topic, 'topic')
  const n = r.count(BodyLimits.pinned, 16, 'pinned')
  const pinned: Ulid[] = []
  for (let i = 0; i < n; i++) pinned.push(readId(r, 'pinned id'))
  return { topic, pinned }
}

const MIME_RE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*(;[ -~]*)?$/i
const isValidMime = (mime: string): boolean => MIME_RE.test(mime)

/** The encoder's side of `readMime`: bounded UTF-8, `type/subtype`. */
function checkMime(mime: string, what: string): void {
  checkText(mime, BodyLimits.mime, what)
  if (!isValidMime(mime)) throw new RangeError(`invalid ${what} ${JSON.stringify(mime)}`)
}

function checkDimension(n: number | undefined, what: string): void {
  if (!Number.isSafeInteger(n) || n! < 1 || n! > BodyLimits.dimension)
    throw new RangeError(`${what} must be an integer in [1, ${BodyLimits.dimension}]`)
}

// attachment = v digest:32 size:varuint chunkRoot:32 mime name flags(bit0 dims, bit1 thumbnail)
//              [width:varuint height:varuint] [thumbMime thumbnail:bytes]
export function encodeAttachment(b: AttachmentBody): Uint8Array {
  checkMeta(b)
  checkMime(b.mime, 'MIME type')
  checkText(b.name, BodyLimits.fileName, 'file name')
  if (b.name.length === 0) throw new RangeError('file name must not be empty')
  const dims = b.width !== undefined || b.height !== undefined
  if (dims) {
    checkDimension(b.width, 'width')
    checkDimension(b.height, 'height')
  }
  const thumb = b.thumbnail
  if (thumb) {
    checkMime(thumb.mime, 'thumbnail MIME type')
    if (!(thumb.bytes instanceof Uint8Array)) throw new TypeError('thumbnail must be a Uint8Array')
    if (thumb.bytes.length === 0 || thumb.bytes.length > BodyLimits.thumbnail)
      throw new RangeError(`thumbnail must be 1..${BodyLimits.thumbnail} bytes`)
  }
  const w = begin()
  writeBytes(w, b.digest)
  writeVarUint(w, b.size)
  writeBytes(w, b.chunkRoot)
  writeVarString(w, b.mime)
  writeVarString(w, b.name)
  writeU8(w, (dims ? 1 : 0) | (thumb ? 2 : 0))
  if (dims) {
    writeVarUint(w, b.width!)
    writeVarUint(w, b.height!)
  }
  if (thumb) {
    writeVarString(w, thumb.mime)
    writeVarBytes(w, thumb.bytes)
  }
  return finish(w)
}

function readMime(r: Reader, what: string): string {
  const mime = r.varString(BodyLimits.mime, what)
  if (!isValidMime(mime)) throw new DecodeError(`invalid ${what}`)
  return mime
}

function readDimension(r: Reader, what: string): number {
  const n = r.varUint(BodyLimits.dimension, what)
  if (n === 0) throw new DecodeError(`${what} must not be 0`)
  return n
}

function readAttachment(r: Reader): AttachmentBody {
  readVersion(r, 'attachment')
  const digest = r.bytes(32, 'digest')
  const size = r.varUint(MAX_BLOB_BYTES, 'attachment size')
  const chunkRoot = r.bytes(32, 'chunkRoot')
  const mime = readMime(r, 'MIME type')
  const name = readNonEmpty(r, BodyLimits.fileName, 'file name')
  const flags = readFlags(r, 3, 'attachment')
  const body: AttachmentBody = { digest, size, chunkRoot, mime, name }
  if (flags & 1) {
    body.width = readDimension(r, 'width')
    body.height = readDimension(r, 'height')
  }
  if (flags & 2) {
    const thumbMime = readMime(r, 'thumbnail MIME type')
    const bytes = r.varBytes(BodyLimits.thumbnail, 'thumbnail')
    if (bytes.length === 0) throw new DecodeError('empty thumbnail')
    body.thumbnail = { mime: thumbMime, bytes }
  }
  return body
}

/** A decoded chat body, tagged by its event kind. */
export type ChatBody =
  | { kind: typeof Kind.message; body: MessageBody }
  | { kind: typeof Kind.edit; body: EditBody }
  | { kind: typeof Kind.redact; body: RedactBody }
  | { kind: typeof Kind.reaction; body: ReactionBody }
  | { kind: typeof Kind.profile; body: ProfileBody }
  | { kind: typeof Kind.channelMeta; body: ChannelMetaBody }
  | { kind: typeof Kind.yjs; body: YjsBody }
  | { kind: typeof Kind.attachment; body: AttachmentBody }

export const decodeMessage = (b: Uint8Array): MessageBody => decodeWith(b, readMessage, 'message body')
export const decodeEdit = (b: Uint8Array): EditBody => decodeWith(b, readEdit, 'edit body')
export const decodeRedact = (b: Uint8Array): RedactBody => decodeWith(b, readRedact, 'redact body')
export const decodeReaction = (b: Uint8Array): ReactionBody => decodeWith(b, readReaction, 'reaction body')
export const decodeProfile = (b: Uint8Array): ProfileBody => decodeWith(b, readProfile, 'profile body')
export const decodeChannelMeta = (b: Uint8Array): ChannelMetaBody =>
  decodeWith(b, readChannelMeta, 'channel.meta body')
export const decodeAttachment = (b: Uint8Array): AttachmentBody =>
  decodeWith(b, readAttachment, 'attachment body')

/**
 * Decodes the body of a chat kind. Returns undefined for kinds this module does not define
 * (other tools add their own); throws DecodeError for a malformed body of a known kind.
 */
export function decodeChatBody(kind: string, body: Uint8Array): ChatBody | undefined {
  switch (kind) {
    case Kind.message:
      return { kind, body: decodeMessage(body) }
    case Kind.edit:
      return { kind, body: decodeEdit(body) }
    case Kind.redact:
      return { kind, body: decodeRedact(body) }
    case Kind.reaction:
      return { kind, body: decodeReaction(body) }
    case Kind.profile:
      return { kind, body: decodeProfile(body) }
    case Kind.channelMeta:
      return { kind, body: decodeChannelMeta(body) }
    case Kind.yjs:
      return { kind, body: decodeYjs(body) }
    case Kind.attachment:
      return { kind, body: decodeAttachment(body) }
    default:
      return undefined
  }
}
