/**
 * Encrypted conversations as the chat sees them (issue #16): the engine's `MlsConversations`
 * keeps the groups and the plaintexts; this turns what a device keeps into the stamped events
 * the chat's views fold (same id, time and author as the encrypted event; the inner kind and
 * body), and an own message waiting in the outbox into a pending row with its plaintext.
 * Attachments travel sealed: their seal (key, nonce, digest) is remembered by blob digest, for
 * the media client to open what it fetched.
 */

import {
  type PublicKey,
  publicKeyFromText,
  publicKeyToText,
  type StampedEvent,
  toHex,
  type Ulid,
  ulidTime,
  type Write,
} from '@peerchat/engine'
import { decodeAttachment, Kind } from '@peerchat/engine/chat'
import {
  type BlobSeal,
  type Conversation,
  type ConversationKind,
  decodeSealedAttachment,
  MlsConversations,
  type MlsConversationsOptions,
  type PlainEvent,
  SEALED_ATTACHMENT_KIND,
} from '@peerchat/engine/mls'

/** Seals remembered (the newest; an older attachment's seal is read again with its page). */
export const SEALS_KEPT = 10_000

/** What the channel list and header show of an encrypted conversation (keys as text). */
export interface PrivateInfo {
  kind: ConversationKind
  title: string | undefined
  members: string[]
  creator: string | undefined
  /** This device is in it now (false once removed). */
  member: boolean
}

const NO_BYTES = new Uint8Array(0)

export class PrivateChats {
  private readonly seals = new Map<string, BlobSeal>()

  constructor(readonly core: MlsConversations) {}

  info(channel: string): PrivateInfo | undefined {
    const c = this.core.get(channel)
    return c ? infoOf(c) : undefined
  }

  list(): Conversation[] {
    return this.core.list()
  }

  /** A kept plaintext as the stamped event the views fold. */
  toStamped(channel: string, p: PlainEvent): StampedEvent {
    const { kind, body } = this.unwrap(p.kind, p.body)
    return {
      id: p.id as Ulid,
      ts: ulidTime(p.id as Ulid),
      channel,
      kind,
      author: p.author,
      body,
      clientNonce: NO_BYTES,
      authorSig: NO_BYTES,
      relaySig: NO_BYTES,
    }
  }

  /** An own write: its plaintext in place of the ciphertext (undefined: not known on this device). */
  plainWrite(w: Write): Write | undefined {
    const inner = this.core.pending(w.key)
    if (!inner) return w.state === 'stamped' ? w : undefined
    const { kind, body } = this.unwrap(inner.kind, inner.body)
    return { ...w, request: { ...w.request, kind, body } }
  }

  sealOf(digestHex: string): BlobSeal | undefined {
    return this.seals.get(digestHex)
  }

  async page(channel: string, before: Ulid | undefined, limit: number): Promise<StampedEvent[]> {
    const plain = await this.core.plain(channel, { ...(before ? { lt: before } : {}), limit, reverse: true })
    return plain.reverse().map((p) => this.toStamped(channel, p))
  }

  create(kind: ConversationKind, members: readonly string[], title?: string): Promise<string> {
    return this.core.create(kind, members.map(publicKeyFromText), title)
  }

  add(channel: string, members: readonly string[]): Promise<void> {
    return this.core.add(channel, members.map(publicKeyFromText))
  }

  remove(channel: string, members: readonly string[]): Promise<void> {
    return this.core.remove(channel, members.map(publicKeyFromText))
  }

  /** A sealed attachment becomes the chat's attachment event (its seal remembered). */
  private unwrap(kind: string, body: Uint8Array): { kind: string; body: Uint8Array } {
    if (kind !== SEALED_ATTACHMENT_KIND) return { kind, body }
    try {
      const { seal, attachment } = decodeSealedAttachment(body)
      const digest = toHex(decodeAttachment(attachment).digest)
      this.seals.delete(digest)
      this.seals.set(digest, seal)
      if (this.seals.size > SEALS_KEPT) this.seals.delete(this.seals.keys().next().value!)
      return { kind: Kind.attachment, body: attachment }
    } catch {
      return { kind, body } // malformed: the views ignore an unknown kind
    }
  }
}

function infoOf(c: Conversation): PrivateInfo {
  return {
    kind: c.kind,
    title: c.title,
    members: c.members.map((k: PublicKey) => publicKeyToText(k)),
    creator: c.creator ? publicKeyToText(c.creator) : undefined,
    member: c.member,
  }
}

/** Opens the device's encrypted conversations (this module and the MLS code load on first use). */
export async function openPrivateChats(o: MlsConversationsOptions): Promise<PrivateChats> {
  return new PrivateChats(await MlsConversations.open(o))
}
