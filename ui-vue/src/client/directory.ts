/**
 * Who is who on the real network: display names from profile events (the latest per key, from
 * any channel), online state and privileges from the relay's signed session attestations.
 */

import {
  Privilege,
  type PublicKey,
  publicKeyFromText,
  publicKeyToText,
  type Session,
  type StampedEvent,
  toHex,
  type Ulid,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { decodeBody } from './bodies.ts'
import type { Member, MemberAvatarRef, Privilege as UiPrivilege } from './types.ts'

/** Privilege bits of an attestation as the UI names them (admins also moderate). */
export function privilegesOf(bits: number): UiPrivilege[] {
  const out: UiPrivilege[] = []
  if (bits & Privilege.admin) out.push('admin', 'moderator')
  if (bits & Privilege.post) out.push('post')
  if (bits & Privilege.create) out.push('create-channel')
  return out
}

export class Directory {
  private readonly names = new Map<string, { id: Ulid; name: string; avatar?: MemberAvatarRef }>()

  /** Takes a profile event into account; true when a shown name changed. */
  addProfile(event: StampedEvent): boolean {
    if (event.kind !== Kind.profile) return false
    let name: string
    let avatar: MemberAvatarRef | undefined
    try {
      const body = decodeBody(event.kind, event.body)
      if (body.kind !== Kind.profile) return false
      name = body.name
      if (body.avatar) avatar = { ...body.avatar, id: toHex(body.avatar.digest) }
    } catch {
      return false // a malformed profile is ignored; the previous name stays
    }
    const id = publicKeyToText(event.author)
    const held = this.names.get(id)
    if (held && held.id >= event.id) return false
    this.names.set(id, avatar ? { id: event.id, name, avatar } : { id: event.id, name })
    return held?.name !== name || held?.avatar?.id !== avatar?.id
  }

  /**
   * A name remembered from the last visit (remembered.ts), for the first frame of a return: any
   * profile read from the history replaces it (its id sorts below every event's).
   */
  recall(id: string, name: string): void {
    if (!this.names.has(id)) this.names.set(id, { id: '' as Ulid, name })
  }

  /** Key text and name of every named key, the newest profiles first (what to remember). */
  *known(): Generator<readonly [string, string]> {
    const byNewest = [...this.names].sort(([, a], [, b]) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    for (const [id, { name }] of byNewest) yield [id, name]
  }

  nameOf(id: string): string | undefined {
    return this.names.get(id)?.name
  }

  avatarOf(id: string): MemberAvatarRef | undefined {
    return this.names.get(id)?.avatar
  }

  /**
   * Me first, then everyone online (by attestation) or known by a profile. `online` holds the
   * sessions of every channel's presence; a key with several sessions appears once. `typing`
   * (key -> channel) holds the awareness hints, already checked (typing.ts).
   */
  members(
    self: {
      key: PublicKey
      name: string
      online: boolean
      privileges: number
      typingIn: string | null
      avatar?: MemberAvatarRef | undefined
    },
    online: Iterable<Session>,
    typing: ReadonlyMap<string, string> = new Map(),
  ): Member[] {
    const selfId = publicKeyToText(self.key)
    const others = new Map<string, Member>()
    for (const s of online) {
      const id = publicKeyToText(s.publicKey)
      if (id === selfId || others.has(id)) continue
      others.set(id, {
        ...this.member(s.publicKey, id, true, privilegesOf(s.privileges)),
        typingIn: typing.get(id) ?? null,
      })
    }
    for (const id of this.names.keys())
      if (id !== selfId && !others.has(id)) others.set(id, this.member(publicKeyFromText(id), id, false, []))
    const me: Member = {
      key: self.key,
      id: selfId,
      name: self.name,
      online: self.online,
      privileges: privilegesOf(self.privileges),
      typingIn: self.typingIn,
      ...(self.avatar ? { avatar: self.avatar } : {}),
    }
    return [me, ...others.values()]
  }

  private member(key: PublicKey, id: string, online: boolean, privileges: UiPrivilege[]): Member {
    const avatar = this.avatarOf(id)
    return {
      key,
      id,
      name: this.nameOf(id) ?? `${id.slice(0, 8)}…`,
      online,
      privileges,
      typingIn: null,
      ...(avatar ? { avatar } : {}),
    }
  }
}
