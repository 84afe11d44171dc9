/**
 * The chat actions every client shares: each one encodes a chat body and hands it to the
 * client's own `publish` (sign, queue, stamp). Implementations supply transport and storage.
 */

import type { Ulid } from '@peerchat/engine'
import { TypedEmitter } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { type AvatarRef, type ChatBody, encodeBody } from './bodies.ts'
import type { ChatClientEvents, Outgoing, Unsubscribe } from './types.ts'

/** Profiles travel in their own channel, hidden from the channel list (provisional, see bodies.ts). */
export const PROFILE_CHANNEL = 'profiles'

export abstract class ChatClientBase {
  protected readonly emitter = new TypedEmitter<ChatClientEvents>()

  /** Signs `body` as `kind` in `channel` and queues it for stamping. */
  protected abstract publish(channel: string, kind: string, body: Uint8Array): Promise<Outgoing>

  private publishBody(channel: string, body: ChatBody): Promise<Outgoing> {
    return this.publish(channel, body.kind, encodeBody(body))
  }

  send(channel: string, text: string, replyTo?: Ulid): Promise<Outgoing> {
    return this.publishBody(
      channel,
      replyTo ? { kind: Kind.message, text, replyTo } : { kind: Kind.message, text },
    )
  }

  edit(channel: string, target: Ulid, text: string): Promise<Outgoing> {
    return this.publishBody(channel, { kind: Kind.edit, target, text })
  }

  react(channel: string, target: Ulid, emoji: string, on: boolean): Promise<Outgoing> {
    return this.publishBody(channel, { kind: Kind.reaction, target, emoji, on })
  }

  redact(channel: string, target: Ulid): Promise<Outgoing> {
    return this.publishBody(channel, { kind: Kind.redact, target })
  }

  setProfile(name: string, avatar?: AvatarRef): Promise<Outgoing> {
    return this.publishBody(
      this.profileChannel(),
      avatar ? { kind: Kind.profile, name, avatar } : { kind: Kind.profile, name },
    )
  }

  /** The channel profile events go to (a client may pick one its relay actually has). */
  protected profileChannel(): string {
    return PROFILE_CHANNEL
  }

  on<K extends keyof ChatClientEvents>(type: K, handler: (value: ChatClientEvents[K]) => void): Unsubscribe {
    return this.emitter.on(type, handler)
  }
}
