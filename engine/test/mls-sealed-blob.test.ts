/** Sealed attachments of encrypted groups (mls/sealed-blob.ts): ciphertext only, altered bytes refused. */
import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import { DecodeError } from '../src/errors.ts'
import { openBlob, sealBlob } from '../src/mls/sealed-blob.ts'

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
})
