/**
 * The BlobStore conformance suite. Every BlobStore implementation runs it with a few lines:
 *
 *   runBlobStoreConformance('memory', async () => ({ store: new MemoryBlobStore() }))
 *
 * A persistent store passes `{ durable: true }` and a fixture `reopen` that returns a fresh
 * BlobStore over the same data, to check that `put`/`delete`/`pin`/`touch` are durable once resolved.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import type { BlobStore } from '../blobs/store.ts'
import { compareBytes, equalBytes } from '../bytes.ts'
import { seededBytes } from './bytes.ts'
import { type Fixture, perTestFixture } from './fixture.ts'

export type BlobStoreFixture = Fixture<BlobStore>

/** Deterministic test blob `i` of `size` bytes, with its digest. */
function blob(i: number, size = 1000 + i * 37): { digest: Uint8Array; bytes: Uint8Array } {
  const bytes = seededBytes(size, (i + 1) * 2654435761)
  return { digest: sha256(bytes), bytes }
}

export function runBlobStoreConformance(
  name: string,
  setup: () => Promise<BlobStoreFixture>,
  o: { durable?: boolean } = {},
): void {
  describe(`BlobStore conformance: ${name}`, () => {
    const { open, reopen } = perTestFixture(setup)

    it('put stores a blob under its digest; get returns the same bytes', async () => {
      const store = await open()
      const a = blob(1)
      expect(await store.has(a.digest)).toBe(false)
      expect(await store.get(a.digest)).toBeUndefined()
      expect(await store.put(a.digest, a.bytes, { usedAt: 10 })).toBe(true)
      expect(await store.has(a.digest)).toBe(true)
      expect(await store.get(a.digest)).toEqual(a.bytes)
      expect(await store.put(a.digest, a.bytes, { usedAt: 5 })).toBe(false)
      const [info] = await store.list()
      expect(info).toEqual({ digest: a.digest, size: a.bytes.length, pinned: false, usedAt: 10 })
    })

    it('keeps its own copy of the bytes', async () => {
      const store = await open()
      const a = blob(2)
      const input = a.bytes.slice()
      await store.put(a.digest, input)
      input.fill(0)
      const out = await store.get(a.digest)
      expect(out).toEqual(a.bytes)
      out!.fill(0)
      expect(await store.get(a.digest)).toEqual(a.bytes)
    })

    it('stores empty and large blobs', async () => {
      const store = await open()
      const empty = blob(3, 0)
      const large = blob(4, 3 * 1024 * 1024 + 17)
      await store.put(empty.digest, empty.bytes)
      await store.put(large.digest, large.bytes)
      expect(await store.get(empty.digest)).toEqual(new Uint8Array(0))
      expect(equalBytes((await store.get(large.digest))!, large.bytes)).toBe(true)
      expect((await store.usage()).bytes).toBe(large.bytes.length)
    })

    it('read returns a slice, shorter at the end, undefined when absent', async () => {
      const store = await open()
      const a = blob(5, 5000)
      await store.put(a.digest, a.bytes)
      expect(await store.read(a.digest, 0, 100)).toEqual(a.bytes.slice(0, 100))
      expect(await store.read(a.digest, 4096, 4096)).toEqual(a.bytes.slice(4096))
      expect(await store.read(a.digest, 5000, 10)).toEqual(new Uint8Array(0))
      expect(await store.read(blob(6).digest, 0, 10)).toBeUndefined()
      await expect(store.read(a.digest, -1, 10)).rejects.toThrow(RangeError)
      await expect(store.read(a.digest, 0, 1.5)).rejects.toThrow(RangeError)
    })

    it('delete removes pinned and unpinned blobs and reports presence', async () => {
      const store = await open()
      const a = blob(7)
      const b = blob(8)
      await store.put(a.digest, a.bytes)
      await store.put(b.digest, b.bytes, { pinned: true })
      expect(await store.delete(a.digest)).toBe(true)
      expect(await store.delete(a.digest)).toBe(false)
      expect(await store.delete(b.digest)).toBe(true)
      expect(await store.has(a.digest)).toBe(false)
      expect(await store.list()).toEqual([])
    })

    it('pin and touch update the info of present blobs only', async () => {
      const store = await open()
      const a = blob(9)
      expect(await store.pin(a.digest, true)).toBe(false)
      expect(await store.touch(a.digest, 50)).toBe(false)
      await store.put(a.digest, a.bytes, { usedAt: 20 })
      expect(await store.pin(a.digest, true)).toBe(true)
      expect(await store.touch(a.digest, 40)).toBe(true)
      expect(await store.touch(a.digest, 30)).toBe(true)
      expect((await store.list())[0]).toMatchObject({ pinned: true, usedAt: 40 })
      await store.put(a.digest, a.bytes)
      expect((await store.list())[0]).toMatchObject({ pinned: true, usedAt: 40 })
      expect(await store.pin(a.digest, false)).toBe(true)
      expect((await store.list())[0]).toMatchObject({ pinned: false })
      await store.put(a.digest, a.bytes, { pinned: true })
      expect((await store.list())[0]).toMatchObject({ pinned: true })
    })

    it('list is ordered by digest and usage sums sizes', async () => {
      const store = await open()
      const blobs = Array.from({ length: 12 }, (_, i) => blob(20 + i))
      for (const [i, b] of blobs.entries())
        await store.put(b.digest, b.bytes, { pinned: i % 3 === 0, usedAt: i })
      const list = await store.list()
      expect(list.map((x) => x.digest)).toEqual(blobs.map((b) => b.digest).sort(compareBytes))
      const bytes = blobs.reduce((n, b) => n + b.bytes.length, 0)
      const pinnedBytes = blobs.filter((_, i) => i % 3 === 0).reduce((n, b) => n + b.bytes.length, 0)
      expect(await store.usage()).toEqual({ count: 12, bytes, pinnedBytes })
    })

    it('refuses a digest that is not 32 bytes', async () => {
      const store = await open()
      await expect(store.put(new Uint8Array(31), new Uint8Array(1))).rejects.toThrow(RangeError)
      await expect(store.has(new Uint8Array(33))).rejects.toThrow(RangeError)
    })

    it('rejects every call after close; close is idempotent', async () => {
      const store = await open()
      const a = blob(40)
      await store.put(a.digest, a.bytes)
      await store.close()
      await store.close()
      await expect(store.has(a.digest)).rejects.toThrow()
      await expect(store.get(a.digest)).rejects.toThrow()
      await expect(store.put(a.digest, a.bytes)).rejects.toThrow()
      await expect(store.list()).rejects.toThrow()
    })

    if (o.durable)
      it('is durable across reopen', async () => {
        const store = await open()
        const a = blob(50)
        const b = blob(51)
        const c = blob(52)
        await store.put(a.digest, a.bytes, { usedAt: 7 })
        await store.put(b.digest, b.bytes)
        await store.put(c.digest, c.bytes)
        await store.pin(a.digest, true)
        await store.touch(b.digest, 99)
        await store.delete(c.digest)
        await store.close()
        const again = await reopen()
        expect(await again.get(a.digest)).toEqual(a.bytes)
        expect(await again.has(c.digest)).toBe(false)
        const infos = await again.list()
        expect(infos.find((i) => compareBytes(i.digest, a.digest) === 0)).toMatchObject({
          pinned: true,
          usedAt: 7,
        })
        expect(infos.find((i) => compareBytes(i.digest, b.digest) === 0)).toMatchObject({
          pinned: false,
          usedAt: 99,
        })
      })
  })
}
