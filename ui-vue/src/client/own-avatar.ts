/**
 * The user's own profile picture per identity and community, kept in localStorage so that the
 * profile published on every start (and rename) still names it. Only the blob's reference is
 * kept here; the bytes are pinned in the community's blob store.
 */
import { fromHex, toHex } from '@peerchat/engine'
import type { MemberAvatarRef } from './types.ts'

export const OWN_AVATAR_STORAGE_KEY = 'peerchat.avatar.v1'
/** Most (identity, community) pairs remembered (default 64; the oldest go first). */
export const OWN_AVATARS_MAX = 64

interface Stored {
  digest: string
  size: number
  chunkRoot: string
  mime: string
}

function readAll(): Record<string, Stored> {
  try {
    const raw = globalThis.localStorage?.getItem(OWN_AVATAR_STORAGE_KEY)
    const parsed: unknown = raw ? JSON.parse(raw) : {}
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, Stored>) : {}
  } catch {
    return {}
  }
}

export function loadOwnAvatar(self: string, relayKey: string): MemberAvatarRef | undefined {
  const s = readAll()[`${self}@${relayKey}`]
  try {
    if (!s || typeof s.mime !== 'string' || !Number.isSafeInteger(s.size)) return undefined
    const digest = fromHex(s.digest)
    const chunkRoot = fromHex(s.chunkRoot)
    if (digest.length !== 32 || chunkRoot.length !== 32) return undefined
    return { digest, size: s.size, chunkRoot, mime: s.mime, id: toHex(digest) }
  } catch {
    return undefined
  }
}

export function saveOwnAvatar(self: string, relayKey: string, avatar: MemberAvatarRef | undefined): void {
  const all = readAll()
  const key = `${self}@${relayKey}`
  delete all[key]
  if (avatar)
    all[key] = { digest: avatar.id, size: avatar.size, chunkRoot: toHex(avatar.chunkRoot), mime: avatar.mime }
  const keys = Object.keys(all)
  for (const old of keys.slice(0, Math.max(0, keys.length - OWN_AVATARS_MAX))) delete all[old]
  try {
    globalThis.localStorage?.setItem(OWN_AVATAR_STORAGE_KEY, JSON.stringify(all))
  } catch {
    // storage full or refused: the picture is still in the profile just posted
  }
}
