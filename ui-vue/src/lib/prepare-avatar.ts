/**
 * A picked picture made into a profile picture: decoded once (`createImageBitmap`, so only what
 * the browser decodes as a raster image; an SVG never gets here), the centred square cropped,
 * drawn at `AVATAR_SIDE` px and encoded as WebP, smaller until it fits `AVATAR_MAX_BYTES`.
 * Loaded lazily (only when a picture is picked).
 */
import { BodyLimits } from '@peerchat/engine/chat'
import { isInlineImage } from '../client/attachments.ts'
import type { PreparedAvatar } from '../client/types.ts'

/** Side of the square picture, px. */
export const AVATAR_SIDE = 128
/** Largest picture file read (default 25 MiB, the attachment cap). */
export const AVATAR_SOURCE_MAX_BYTES = 25 * 1024 * 1024
/** Largest encoded picture (the profile body allows `BodyLimits.avatar`, 64 KiB). */
export const AVATAR_MAX_BYTES = 32 * 1024
const QUALITIES = [0.85, 0.7, 0.5, 0.3]

export async function prepareAvatar(file: File): Promise<PreparedAvatar> {
  if (!isInlineImage(file.type)) throw new RangeError('Pick a PNG, JPEG, WebP, GIF or AVIF picture.')
  if (file.size > AVATAR_SOURCE_MAX_BYTES) throw new RangeError('That picture is too large (over 25 MB).')
  let bitmap: ImageBitmap
  try {
    bitmap = await createImageBitmap(file)
  } catch {
    throw new RangeError('This browser cannot read that picture.')
  }
  try {
    const side = Math.min(bitmap.width, bitmap.height)
    if (side < 1) throw new RangeError('That picture is empty.')
    const canvas = document.createElement('canvas')
    canvas.width = AVATAR_SIDE
    canvas.height = AVATAR_SIDE
    const ctx = canvas.getContext('2d')
    if (!ctx) throw new Error('No canvas to resize the picture.')
    ctx.imageSmoothingQuality = 'high'
    const sx = (bitmap.width - side) / 2
    const sy = (bitmap.height - side) / 2
    ctx.drawImage(bitmap, sx, sy, side, side, 0, 0, AVATAR_SIDE, AVATAR_SIDE)
    for (const quality of QUALITIES) {
      const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, 'image/webp', quality))
      // A browser without a WebP encoder answers PNG: fine if it fits.
      if (blob && blob.size > 0 && blob.size <= Math.min(AVATAR_MAX_BYTES, BodyLimits.avatar))
        return { bytes: new Uint8Array(await blob.arrayBuffer()), mime: blob.type || 'image/webp' }
    }
    throw new RangeError('That picture does not shrink small enough.')
  } finally {
    bitmap.close()
  }
}
