/**
 * Attachments as the UI sees them: the stamped `attachment` body (engine/src/projections/bodies.ts,
 * docs/protocol/blobs.md) plus what the UI decides from it — whether it may be shown inline.
 * Pure: no DOM, unit tested.
 */

import { toHex } from '@peerchat/engine'
import { DEFAULT_MAX_ATTACHMENT_BYTES } from '@peerchat/engine/blobs'
import type { AttachmentBody } from '@peerchat/engine/chat'

/** Largest file the composer accepts (the exchange's default cap): 25 MiB. */
export const MAX_ATTACHMENT_BYTES = DEFAULT_MAX_ATTACHMENT_BYTES

/**
 * Raster formats the browser decodes in an <img> with no script and no external fetches. SVG
 * (script, external references), HTML and everything else are shown as a file card, never inline.
 */
const INLINE_IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/avif'])

/** Thumbnails are shown only in these formats (they arrive inside a signed event, before the blob). */
const THUMBNAIL_TYPES = new Set(['image/webp', 'image/jpeg', 'image/png'])

export interface AttachmentInfo extends AttachmentBody {
  /** The digest in hex: the key of caches and DOM ids. */
  id: string
  /** Shown inline as an image (after the whole blob verified); otherwise a file card. */
  inline: boolean
}

const baseType = (mime: string): string => mime.split(';')[0]!.trim().toLowerCase()

export function isInlineImage(mime: string): boolean {
  return INLINE_IMAGE_TYPES.has(baseType(mime))
}

export function attachmentInfo(body: AttachmentBody): AttachmentInfo {
  const info: AttachmentInfo = { ...body, id: toHex(body.digest), inline: isInlineImage(body.mime) }
  if (info.thumbnail && !THUMBNAIL_TYPES.has(baseType(info.thumbnail.mime))) delete info.thumbnail
  return info
}

/** "2.4 MB", "512 KB", "12 bytes". */
export function formatSize(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

/** A limit in whole MB when it is one ("25 MB"). */
export const formatLimit = (n: number): string =>
  n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MB` : formatSize(n)

/** The reason a file cannot be shared, or null. */
export function refuseFile(name: string, size: number, max = MAX_ATTACHMENT_BYTES): string | null {
  if (size === 0) return `${name} is empty: nothing to share.`
  if (size > max)
    return `${name} is too large to share (${formatSize(size)}): files are limited to ${formatLimit(max)}.`
  return null
}
