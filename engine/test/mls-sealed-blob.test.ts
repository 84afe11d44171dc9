/**
 * Sealed attachments of encrypted groups (mls/sealed-blob.ts): ciphertext only, altered bytes
 * refused; the inner attachment event (seal, then the chat's attachment body) round-trips, and
 * truncated bytes or an unknown version are refused.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DecodeError } from '../src/errors.ts'
import { decodeSealedAttachment, encodeSealedAttachment, openBlob, sealBlob } from '../src/mls/sealed-blob.ts'

describe('sealed blobs', () => {
  it('round-trips, and the stored bytes do not contain the plaintext', async () => {
    const plain = new TextEncoder().encode('canary-31c9 photo bytes '.repeat(100))
    const { ciphertext, seal } = await sealBlob(plain)
    expect(ciphertext.length).toBe(plain.length + 16)
    expect(Buffer.from(ciphertext).includes(Buffer.from('canary-31c9'))).toBe(false)
    expect(await openBlob(ciphertext, seal)).toEqual(plain)
    // Each seal is fresh: the same bytes twice give two blobs (two digests).
    const again = await sealBlob(plain)
    expect(sha256(again.ciphertext)).not.toEqual(sha256(ciphertext))
  })

  it('refuses altered bytes, another key, and a seal naming other bytes', async () => {
    const { ciphertext, seal } = await sealBlob(new Uint8Array(1000).fill(7))
    const flipped = ciphertext.slice()
    flipped[10] = (flipped[10] ?? 0) ^ 1
    await expect(openBlob(flipped, seal)).rejects.toThrow(DecodeError)
    await expect(openBlob(ciphertext, { ...seal, key: new Uint8Array(16) })).rejects.toThrow(DecodeError)
    await expect(openBlob(ciphertext, { ...seal, digest: new Uint8Array(32) })).rejects.toThrow(/not the one/)
    await expect(openBlob(ciphertext, { ...seal, iv: new Uint8Array(3) })).rejects.toThrow(/malformed/)
  })

  it('an attachment event round-trips: its seal opens the blob, its attachment body is kept as is', async () => {
    const plain = new TextEncoder().encode('photo bytes')
    const { ciphertext, seal } = await sealBlob(plain)
    const attachment = new TextEncoder().encode('{"name":"cat.jpg","type":"image/jpeg"}')
    const bytes = encodeSealedAttachment(seal, attachment)
    expect(bytes.length).toBe(1 + 16 + 12 + 32 + attachment.length)
    const decoded = decodeSealedAttachment(bytes)
    expect(decoded).toEqual({ seal, attachment })
    expect(await openBlob(ciphertext, decoded.seal)).toEqual(plain)
    // Copies, not views: changing the encoded bytes afterwards changes nothing decoded.
    bytes.fill(0)
    expect(decoded).toEqual({ seal, attachment })
  })

  it('property: any seal and non-empty attachment body round-trip', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        (key, iv, digest, attachment) => {
          const seal = { key, iv, digest }
          expect(decodeSealedAttachment(encodeSealedAttachment(seal, attachment))).toEqual({
            seal,
            attachment,
          })
        },
      ),
    )
  })

  it('refuses truncated bytes and an unknown version with DecodeError', async () => {
    const { seal } = await sealBlob(new Uint8Array([1, 2, 3]))
    const bytes = encodeSealedAttachment(seal, new Uint8Array([9, 8, 7]))
    // Cut anywhere before the attachment body's first byte (the whole seal is needed, and a body).
    for (let n = 0; n <= 61; n++)
      expect(() => decodeSealedAttachment(bytes.subarray(0, n)), `${n} bytes`).toThrow(DecodeError)
    expect(() => decodeSealedAttachment(bytes.subarray(0, 61))).toThrow(/too short/)
    for (const version of [0, 2, 255]) {
      const other = bytes.slice()
      other[0] = version
      expect(() => decodeSealedAttachment(other), `version ${version}`).toThrow(DecodeError)
      expect(() => decodeSealedAttachment(other)).toThrow(/version/)
    }
  })
})
