/**
 * Turns a picked, pasted or dropped file into what an attachment event carries: a valid MIME type
 * and name, and for an image its pixel size and a small inline thumbnail (a canvas re-encoding,
 * WebP, at most `THUMBNAIL_MAX_BYTES`). An image the browser cannot decode is shared as a file.
 */

import { utf8 } from '@peerchat/engine'
import { BodyLimits } from '@peerchat/engine/chat'
import { isInlineImage } from '../client/attachments.ts'
import type { PreparedFile } from '../client/types.ts'

/** Largest inline thumbnail (the event body allows 16 KiB; smaller keeps relay traffic low). */
export const THUMBNAIL_MAX_BYTES = 8 * 1024
/** Longest side of a thumbnail, tried in turn until one fits the byte budget. */
const THUMBNAIL_SIDES = [320, 240, 160, 112, 80]
const THUMBNAIL_QUALITIES = [0.75, 0.55, 0.35]

const MIME_RE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i

export function cleanMime(type: string): string {
  const t = type.trim().toLowerCase()
  return MIME_RE.test(t) && utf8(t).length <= BodyLimits.mime ? t : 'application/octet-stream'
}

/** The file's name without control characters, cut to the body's limit (UTF-8 bytes), never empty. */
export function cleanName(name: string): string {
  let n = [...name.replace(/[\p{Cc}\p{Cf}]/gu, '').trim()]
  while (n.length > 0 && utf8(n.join('')).length > BodyLimits.fileName) n = n.slice(1)
  return n.join('') || 'file'
}

export async function prepareFile(file: File): Promise<PreparedFile> {
  const bytes = new Uint8Array(await file.arrayBuffer())
  const name = cleanName(file.name)
  const mime = cleanMime(file.type)
  if (!isInlineImage(mime)) return { bytes, mime, name }
  let bitmap: ImageBitmap
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type: mime }))
  } catch {
    return { bytes, mime: 'application/octet-stream', name }
  }
  try {
    const { width, height } = bitmap
    if (width < 1 || height < 1 || width > BodyLimits.dimension || height > BodyLimits.dimension)
      return { bytes, mime, name }
    const thumbnail = await makeThumbnail(bitmap)
    return { bytes, mime, name, width, height, ...(thumbnail ? { thumbnail } : {}) }
  } finally {
    bitmap.close()
  }
}

async function makeThumbnail(bitmap: ImageBitmap): Promise<PreparedFile['thumbnail']> {
  const canvas = document.createElement('canvas')
  const ctx = canvas.getContext('2d')
  if (!ctx) return undefined
  for (const side of THUMBNAIL_SIDES) {
    const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height))
    canvas.width = Math.max(1, Math.round(bitmap.width * scale))
    canvas.height = Math.max(1, Math.round(bitmap.height * scale))
    ctx.clearRect(0, 0, canvas.width, canvas.height)
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height)
    for (const quality of THUMBNAIL_QUALITIES) {
      const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, 'image/webp', quality))
      if (!blob) continue
      // A browser without a WebP encoder answers PNG: fine if it fits.
      if (blob.size > 0 && blob.size <= THUMBNAIL_MAX_BYTES)
        return { mime: blob.type || 'image/webp', bytes: new Uint8Array(await blob.arrayBuffer()) }
    }
  }
  return undefined
}
