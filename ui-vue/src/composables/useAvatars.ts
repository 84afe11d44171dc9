/**
 * Profile pictures: each member's latest profile names a blob; it is fetched from this device
 * or from peers (the client's `media`, which resolves only once the whole SHA-256 matched the
 * digest the signed profile names) and shown as a `blob:` URL. Only raster types (PNG, JPEG,
 * WebP, GIF, AVIF) within the profile's size limit are shown: anything else, or a picture not
 * fetched yet, is initials. One fetch per digest; failures are retried on the next ask after
 * `AVATAR_RETRY_MS`.
 */
import { BodyLimits } from '@peerchat/engine/chat'
import { type InjectionKey, inject, onScopeDispose, provide, reactive } from 'vue'
import { isInlineImage } from '../client/attachments.ts'
import type { ChatClient, MemberAvatarRef } from '../client/types.ts'

/** A failed fetch is tried again after this long (ms), when the avatar is shown again. */
export const AVATAR_RETRY_MS = 30_000
/** Picture URLs kept at once (the least recently made are revoked). */
export const AVATAR_URLS_MAX = 256

function createAvatars(client: ChatClient) {
  const urls = reactive(new Map<string, string>())
  const pending = new Set<string>()
  const failedAt = new Map<string, number>()
  const controller = new AbortController()

  async function load(a: MemberAvatarRef): Promise<void> {
    const media = client.media
    if (!media) return
    pending.add(a.id)
    try {
      const bytes = await media.fetch({ ...a, name: 'avatar', inline: true }, { signal: controller.signal })
      if (controller.signal.aborted) return
      urls.set(a.id, URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: a.mime })))
      while (urls.size > AVATAR_URLS_MAX) {
        const [old, url] = urls.entries().next().value!
        urls.delete(old)
        URL.revokeObjectURL(url)
      }
    } catch {
      failedAt.set(a.id, Date.now())
    } finally {
      pending.delete(a.id)
    }
  }

  /** The picture's verified `blob:` URL, or undefined (initials) while it is not here. */
  function urlOf(a: MemberAvatarRef | undefined): string | undefined {
    if (!a || !isInlineImage(a.mime) || a.size > BodyLimits.avatar) return undefined
    const url = urls.get(a.id)
    if (url) return url
    const failed = failedAt.get(a.id)
    if (!pending.has(a.id) && (failed === undefined || Date.now() - failed > AVATAR_RETRY_MS)) void load(a)
    return undefined
  }

  onScopeDispose(() => {
    controller.abort()
    for (const url of urls.values()) URL.revokeObjectURL(url)
  })
  return { urlOf }
}

export type AvatarsState = ReturnType<typeof createAvatars>
const key: InjectionKey<AvatarsState> = Symbol('avatars')

export function provideAvatars(client: ChatClient): AvatarsState {
  const state = createAvatars(client)
  provide(key, state)
  return state
}

/** Optional: outside the chat (no client) avatars are initials. */
export const useAvatars = (): AvatarsState | undefined => inject(key, undefined)
