/**
 * Attachments in the app: sharing files from the composer (prepared, then handed to the client's
 * `media`), the state of each attachment shown (thumbnail, fetching with progress, ready as a
 * `blob:` URL of verified bytes, or failed), and the lightbox. Absent media (the simulation):
 * `available` is false and the composer offers no attachment.
 */
import { type InjectionKey, onScopeDispose, provide, type Ref, reactive, shallowRef } from 'vue'
import { type AttachmentInfo, refuseFile } from '../client/attachments.ts'
import type { ChatClient } from '../client/types.ts'
import { injectStrict } from './inject.ts'

/** Full-size object URLs kept at once (least recently used are revoked). */
export const FULL_URLS_MAX = 64
/** The drop target hides this long after the last `dragover` (the drag left or was cancelled). */
export const DRAG_IDLE_MS = 150

export interface AttachmentState {
  status: 'idle' | 'fetching' | 'ready' | 'error'
  /** `blob:` URL of the verified bytes (ready). */
  url?: string
  /** Chunks held of a download in progress. */
  held?: number
  count?: number
  /** The bytes were on this device already. */
  local?: boolean
  error?: string
}

export interface Upload {
  id: number
  name: string
  size: number
  phase: 'preparing' | 'storing' | 'error'
  error?: string
}

export interface Lightbox {
  attachment: AttachmentInfo
  url: string
  /** Focus returns here when the lightbox closes. */
  trigger: HTMLElement | null
}

function createMedia(client: ChatClient, channel: Ref<string>) {
  const media = client.media
  const states = reactive(new Map<string, AttachmentState>())
  const thumbs = new Map<string, string>()
  const fulls = new Map<string, string>()
  const uploads = reactive<Upload[]>([])
  const lightbox = shallowRef<Lightbox | null>(null)
  const error = shallowRef<string | null>(null)
  /** Files are being dragged over the chat (the composer shows the drop target). */
  const dragging = shallowRef(false)
  let dragTimer: ReturnType<typeof setTimeout> | undefined
  let nextUpload = 1

  const carriesFiles = (e: DragEvent): boolean => e.dataTransfer?.types.includes('Files') ?? false

  /** `dragover` anywhere in the chat: accept files (browsers repeat it while the drag hovers). */
  function onDragOver(e: DragEvent): void {
    if (!media || !carriesFiles(e)) return
    e.preventDefault()
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'
    dragging.value = true
    clearTimeout(dragTimer)
    dragTimer = setTimeout(() => {
      dragging.value = false
    }, DRAG_IDLE_MS)
  }

  function onDrop(e: DragEvent): void {
    clearTimeout(dragTimer)
    dragging.value = false
    const files = [...(e.dataTransfer?.files ?? [])]
    if (!media || files.length === 0) return
    e.preventDefault()
    void share(files)
  }

  /** `paste` in the composer: files on the clipboard are shared, text pastes as usual. */
  function onPaste(e: ClipboardEvent): void {
    const files = [...(e.clipboardData?.files ?? [])]
    if (!media || files.length === 0) return
    e.preventDefault()
    void share(files)
  }

  function stateOf(a: AttachmentInfo): AttachmentState {
    let s = states.get(a.id)
    if (!s) {
      states.set(a.id, { status: 'idle' })
      s = states.get(a.id)!
    }
    return s
  }

  /** The inline thumbnail as an object URL (made once per attachment). */
  function thumbnailUrl(a: AttachmentInfo): string | undefined {
    if (!a.thumbnail) return undefined
    let url = thumbs.get(a.id)
    if (!url) {
      url = URL.createObjectURL(
        new Blob([a.thumbnail.bytes as Uint8Array<ArrayBuffer>], { type: a.thumbnail.mime }),
      )
      thumbs.set(a.id, url)
    }
    return url
  }

  function keepUrl(id: string, url: string): void {
    fulls.set(id, url)
    while (fulls.size > FULL_URLS_MAX) {
      const [old, oldUrl] = fulls.entries().next().value!
      fulls.delete(old)
      URL.revokeObjectURL(oldUrl)
      const s = states.get(old)
      if (s) Object.assign(s, { status: 'idle', url: undefined })
    }
  }

  /**
   * Gets the bytes (device or peers) and makes a `blob:` URL of them — only after the client
   * verified the whole digest. Images keep their type (decoded by <img>); anything else is
   * typed as opaque bytes so opening it never runs active content.
   */
  async function load(a: AttachmentInfo): Promise<void> {
    const s = stateOf(a)
    if (!media || s.status === 'fetching' || s.status === 'ready') return
    Object.assign(s, { status: 'fetching', local: media.holds(a.id), held: 0, count: 0, error: undefined })
    try {
      const bytes = await media.fetch(a, {
        onProgress: (p) => Object.assign(s, { held: p.held, count: p.count }),
      })
      const type = a.inline ? a.mime : 'application/octet-stream'
      const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }))
      keepUrl(a.id, url)
      Object.assign(s, { status: 'ready', url })
    } catch (e) {
      Object.assign(s, { status: 'error', error: (e as Error).message })
    }
  }

  /** Shares files in the open channel, one after another (each becomes one attachment event). */
  async function share(files: readonly File[]): Promise<void> {
    if (!media) return
    const name = channel.value
    for (const file of files) {
      const refused = refuseFile(file.name || 'The file', file.size, media.maxBytes)
      if (refused) {
        error.value = refused
        continue
      }
      const upload: Upload = {
        id: nextUpload++,
        name: file.name || 'file',
        size: file.size,
        phase: 'preparing',
      }
      uploads.push(upload)
      const row = uploads.find((u) => u.id === upload.id)!
      try {
        const { prepareFile } = await import('../lib/prepare-file.ts')
        const prepared = await prepareFile(file)
        row.phase = 'storing'
        await media.share(name, prepared)
        uploads.splice(uploads.indexOf(row), 1)
        error.value = null
      } catch (e) {
        row.phase = 'error'
        row.error = (e as Error).message
      }
    }
  }

  function dismiss(upload: Upload): void {
    const i = uploads.indexOf(upload)
    if (i >= 0) uploads.splice(i, 1)
  }

  function openLightbox(attachment: AttachmentInfo, url: string, trigger: HTMLElement | null): void {
    lightbox.value = { attachment, url, trigger }
  }

  function closeLightbox(): void {
    const trigger = lightbox.value?.trigger
    lightbox.value = null
    trigger?.focus()
  }

  onScopeDispose(() => {
    clearTimeout(dragTimer)
    for (const url of [...thumbs.values(), ...fulls.values()]) URL.revokeObjectURL(url)
  })

  return {
    available: media !== undefined,
    maxBytes: media?.maxBytes ?? 0,
    media,
    stateOf,
    thumbnailUrl,
    load,
    share,
    uploads,
    dismiss,
    error,
    dragging,
    onDragOver,
    onDrop,
    onPaste,
    lightbox,
    openLightbox,
    closeLightbox,
  }
}

export type MediaState = ReturnType<typeof createMedia>
const key: InjectionKey<MediaState> = Symbol('media')

export function provideMedia(client: ChatClient, channel: Ref<string>): MediaState {
  const state = createMedia(client, channel)
  provide(key, state)
  return state
}

export const useMedia = (): MediaState => injectStrict(key, 'useMedia')
