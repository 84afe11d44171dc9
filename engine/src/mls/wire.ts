/**
 * What MLS puts in a channel log: the event kinds, and the plaintext inside an application
 * message (an inner chat event: its kind and body, and its author, which must be the outer
 * event's author). MLS messages themselves are RFC 9420 wire bytes (ts-mls's codec).
 */

import { decodeMlsMessage, encodeMlsMessage, type MLSMessage } from 'ts-mls'
import {
  createWriter,
  decodeWith,
  finish,
  type Reader,
  writeU8,
  writeVarBytes,
  writeVarString,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import { isValidKind } from '../event.ts'

import { isPrivateChannel } from '../private-channels.ts'

export { MlsKind } from '../private-channels.ts'

/** Largest MLS message read from a log (a Welcome for 1,000 members is ~340 KB). */
export const MLS_MESSAGE_MAX = 1024 * 1024
/** Largest inner body (the chat's bodies are far smaller). */
export const INNER_BODY_MAX = 64 * 1024
const INNER_VERSION = 1

/** An event inside an encrypted application message. */
export interface InnerEvent {
  kind: string
  author: Uint8Array
  body: Uint8Array
}

export function encodeInner(e: InnerEvent): Uint8Array {
  if (!isValidKind(e.kind)) throw new RangeError(`invalid event kind ${JSON.stringify(e.kind)}`)
  if (e.body.length > INNER_BODY_MAX) throw new RangeError(`inner body over ${INNER_BODY_MAX} bytes`)
  const w = createWriter()
  writeU8(w, INNER_VERSION)
  writeVarString(w, e.kind)
  writeVarBytes(w, e.author)
  writeVarBytes(w, e.body)
  return finish(w)
}

export function decodeInner(bytes: Uint8Array): InnerEvent {
  return decodeWith(
    bytes,
    (r: Reader) => {
      const v = r.u8('inner version')
      if (v !== INNER_VERSION) throw new DecodeError(`unsupported inner event version ${v}`)
      const kind = r.varString(64, 'inner kind')
      if (!isValidKind(kind)) throw new DecodeError('invalid inner event kind')
      const author = r.varBytes(32, 'inner author')
      if (author.length !== 32) throw new DecodeError('inner author must be 32 bytes')
      return { kind, author, body: r.varBytes(INNER_BODY_MAX, 'inner body') }
    },
    'inner event',
  )
}

/** An MLSMessage from a log's bytes; throws DecodeError on anything else (or trailing bytes). */
export function readMlsMessage(bytes: Uint8Array): MLSMessage {
  if (bytes.length > MLS_MESSAGE_MAX) throw new DecodeError(`MLS message over ${MLS_MESSAGE_MAX} bytes`)
  let decoded: ReturnType<typeof decodeMlsMessage>
  try {
    decoded = decodeMlsMessage(bytes, 0)
  } catch (e) {
    throw new DecodeError(`not an MLS message: ${(e as Error).message}`)
  }
  if (!decoded || decoded[1] !== bytes.length) throw new DecodeError('not an MLS message')
  return decoded[0]
}

export const writeMlsMessage = (m: MLSMessage): Uint8Array => encodeMlsMessage(m)

/**
 * An `mls.welcome` event's body (in `mls-welcomes`): the group's channel, the SHA-256 of the
 * `mls.commit` event body it belongs to, then the Welcome. A joiner acts on it only once that
 * commit is the first of its epoch in the channel's log (a Welcome of a commit that lost the
 * race would join a group nobody is in).
 */
export interface WelcomeEnvelope {
  channel: string
  commit: Uint8Array
  welcome: Uint8Array
}

export function encodeWelcomeEnvelope(e: WelcomeEnvelope): Uint8Array {
  const w = createWriter()
  writeU8(w, INNER_VERSION)
  writeVarString(w, e.channel)
  writeVarBytes(w, e.commit)
  writeVarBytes(w, e.welcome)
  return finish(w)
}

export function decodeWelcomeEnvelope(bytes: Uint8Array): WelcomeEnvelope {
  return decodeWith(
    bytes,
    (r: Reader) => {
      const v = r.u8('welcome version')
      if (v !== INNER_VERSION) throw new DecodeError(`unsupported welcome envelope version ${v}`)
      const channel = r.varString(64, 'group channel')
      if (!isPrivateChannel(channel)) throw new DecodeError('a Welcome must name a group channel')
      const commit = r.varBytes(32, 'commit digest')
      if (commit.length !== 32) throw new DecodeError('commit digest must be 32 bytes')
      return { channel, commit, welcome: r.varBytes(MLS_MESSAGE_MAX, 'welcome') }
    },
    'welcome envelope',
  )
}

/** The epoch and group of a private message (plaintext in its header), or undefined. */
export function headerOf(
  bytes: Uint8Array,
): { groupId: Uint8Array; epoch: bigint; contentType: string } | undefined {
  try {
    const m = readMlsMessage(bytes)
    if (m.wireformat !== 'mls_private_message') return undefined
    const { groupId, epoch, contentType } = m.privateMessage
    return { groupId, epoch, contentType }
  } catch {
    return undefined
  }
}
