/**
 * The chat bodies the UI writes, in the engine's codecs (engine/src/projections/bodies.ts,
 * documented in docs/protocol/projections.md): one flat tagged union for the composer and the
 * simulation, mapped onto the engine's encoders. No second wire format lives here.
 */

import { DecodeError, type Ulid } from '@peerchat/engine'
import {
  type AvatarBlob,
  BodyLimits,
  decodeChatBody,
  encodeEdit,
  encodeMessage,
  encodeProfile,
  encodeReaction,
  encodeRedact,
  Kind,
} from '@peerchat/engine/chat'

/** The limits the UI enforces before encoding (the engine's `BodyLimits`). */
export const ChatLimits = {
  text: BodyLimits.text,
  emoji: BodyLimits.emoji,
  name: BodyLimits.name,
} as const

export type ChatBody =
  | { kind: typeof Kind.message; text: string; replyTo?: Ulid }
  | { kind: typeof Kind.edit; target: Ulid; text: string }
  | { kind: typeof Kind.redact; target: Ulid }
  | { kind: typeof Kind.reaction; target: Ulid; emoji: string; on: boolean }
  | { kind: typeof Kind.profile; name: string; avatar?: AvatarRef }

/** A profile picture: a blob named by its digest, with what a peer needs to fetch and check it. */
export interface AvatarRef extends AvatarBlob {
  digest: Uint8Array
}

/** Encodes a body; throws RangeError when a field is over its limit. */
export function encodeBody(body: ChatBody): Uint8Array {
  switch (body.kind) {
    case Kind.message:
      return encodeMessage(
        body.replyTo
          ? { text: body.text, replyTo: body.replyTo, mentions: [] }
          : { text: body.text, mentions: [] },
      )
    case Kind.edit:
      return encodeEdit({ target: body.target, text: body.text })
    case Kind.redact:
      return encodeRedact({ target: body.target })
    case Kind.reaction:
      return encodeReaction({ target: body.target, emoji: body.emoji, on: body.on })
    case Kind.profile:
      return encodeProfile(
        body.avatar
          ? {
              name: body.name,
              avatar: body.avatar.digest,
              avatarBlob: {
                size: body.avatar.size,
                chunkRoot: body.avatar.chunkRoot,
                mime: body.avatar.mime,
              },
            }
          : { name: body.name },
      )
  }
}

/** Decodes the UI's kinds; throws DecodeError (only) for malformed bytes or another kind. */
export function decodeBody(kind: string, bytes: Uint8Array): ChatBody {
  const decoded = decodeChatBody(kind, bytes)
  switch (decoded?.kind) {
    case Kind.message: {
      const { text, replyTo } = decoded.body
      return replyTo ? { kind: Kind.message, text, replyTo } : { kind: Kind.message, text }
    }
    case Kind.edit:
      return { kind: Kind.edit, target: decoded.body.target, text: decoded.body.text }
    case Kind.redact:
      return { kind: Kind.redact, target: decoded.body.target }
    case Kind.reaction:
      return { kind: Kind.reaction, ...decoded.body }
    case Kind.profile: {
      const { name, avatar, avatarBlob } = decoded.body
      // A digest alone (older profiles) cannot be fetched: shown as initials.
      return avatar && avatarBlob
        ? { kind: Kind.profile, name, avatar: { digest: avatar, ...avatarBlob } }
        : { kind: Kind.profile, name }
    }
    default:
      throw new DecodeError(`not a chat kind the UI shows: ${kind}`)
  }
}
