/**
 * Attachments of encrypted groups: the bytes are sealed with a fresh AES-128-GCM key before they
 * become a blob, so what gossips between peers and what virtual clients keep is ciphertext,
 * addressed (like every blob) by the SHA-256 of those bytes. The key, nonce and the plaintext's
 * digest travel inside the group's encrypted message (the inner attachment event), never in
 * the clear.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { equalBytes } from '../bytes.ts'
import { DecodeError } from '../errors.ts'

export interface BlobSeal {
  /** AES-128-GCM key (16 bytes), used for this blob only. */
  key: Uint8Array
  /** GCM nonce (12 bytes). */
  iv: Uint8Array
  /** SHA-256 of the plaintext, checked after opening. */
  digest: Uint8Array
}

const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle
  if (!s) throw new Error('WebCrypto is not available: sealed attachments need crypto.subtle')
  return s
}

const importKey = (key: Uint8Array, use: KeyUsage) =>
  subtle().importKey('raw', key as BufferSource, { name: 'AES-GCM' }, false, [use])

/** Seals `plain`: the ciphertext (plaintext + 16-byte tag) to store and share, and its seal. */
export async function sealBlob(plain: Uint8Array): Promise<{ ciphertext: Uint8Array; seal: BlobSeal }> {
  const key = globalThis.crypto.getRandomValues(new Uint8Array(16))
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
  const ct = await subtle().encrypt(
    { name: 'AES-GCM', iv: iv as BufferSource },
    await importKey(key, 'encrypt'),
    plain as BufferSource,
  )
  return { ciphertext: new Uint8Array(ct), seal: { key, iv, digest: sha256(plain) } }
}

/** Opens a sealed blob; throws DecodeError when it was altered or is not the one the seal names. */
export async function openBlob(ciphertext: Uint8Array, seal: BlobSeal): Promise<Uint8Array> {
  if (seal.key.length !== 16 || seal.iv.length !== 12 || seal.digest.length !== 32)
    throw new DecodeError('malformed blob seal')
  let plain: Uint8Array
  try {
    const pt = await subtle().decrypt(
      { name: 'AES-GCM', iv: seal.iv as BufferSource },
      await importKey(seal.key, 'decrypt'),
      ciphertext as BufferSource,
    )
    plain = new Uint8Array(pt)
  } catch {
    throw new DecodeError('sealed blob does not open with its key (altered, or another blob)')
  }
  if (!equalBytes(sha256(plain), seal.digest))
    throw new DecodeError('sealed blob is not the one its seal names')
  return plain
}

/**
 * The inner event of an attachment in an encrypted group: its seal, then the chat's attachment
 * body (of the ciphertext blob: digest, size, chunk root; name, type and thumbnail as shared).
 */
export const SEALED_ATTACHMENT_KIND = 'attachment.sealed'
const SEALED_VERSION = 1

export function encodeSealedAttachment(seal: BlobSeal, attachment: Uint8Array): Uint8Array {
  if (seal.key.length !== 16 || seal.iv.length !== 12 || seal.digest.length !== 32)
    throw new RangeError('malformed blob seal')
  if (attachment.length === 0) throw new RangeError('an attachment body is not empty')
  const out = new Uint8Array(1 + 16 + 12 + 32 + attachment.length)
  out[0] = SEALED_VERSION
  out.set(seal.key, 1)
  out.set(seal.iv, 17)
  out.set(seal.digest, 29)
  out.set(attachment, 61)
  return out
}

export function decodeSealedAttachment(bytes: Uint8Array): { seal: BlobSeal; attachment: Uint8Array } {
  if (bytes.length < 62) throw new DecodeError('sealed attachment too short')
  if (bytes[0] !== SEALED_VERSION) throw new DecodeError(`unsupported sealed attachment version ${bytes[0]}`)
  return {
    seal: { key: bytes.slice(1, 17), iv: bytes.slice(17, 29), digest: bytes.slice(29, 61) },
    attachment: bytes.slice(61),
  }
}
