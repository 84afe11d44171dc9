/** FileBlobStore: the engine's BlobStore conformance suite, then recovery, budget and retention. */

import { hash } from 'node:crypto'
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { LimitError, toHex } from '@peerchat/engine'
import { runBlobStoreConformance } from '@peerchat/engine/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { FileBlobStore, META_RECORD_BYTES } from '../src/file-blob-store.ts'

runBlobStoreConformance(
  'file',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peerchat-blobs-'))
    return {
      store: await FileBlobStore.open({ dir }),
      reopen: () => FileBlobStore.open({ dir }),
      teardown: async () => rmSync(dir, { recursive: true, force: true }),
    }
  },
  { durable: true },
)

let dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'peerchat-blobs-'))
  dirs.push(d)
  return d
}
const open: FileBlobStore[] = []
const openStore = async (opts: Parameters<typeof FileBlobStore.open>[0]) => {
  const s = await FileBlobStore.open(opts)
  open.push(s)
  return s
}
afterEach(async () => {
  for (const s of open.splice(0)) await s.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs = []
})
const blob = (i: number, size = 1000) => {
  const bytes = new Uint8Array(size).fill(i)
  bytes[0] = i >> 8
  return { digest: new Uint8Array(hash('sha256', bytes, 'buffer')), bytes }
}
const blobFile = (dir: string, digest: Uint8Array) => {
  const hex = toHex(digest)
  return join(dir, 'data', hex.slice(0, 2), hex)
}

describe('FileBlobStore files', () => {
  it('keeps each blob as one file named by its digest, and no bytes in memory', async () => {
    const dir = tempDir()
    const store = await openStore({ dir })
    const a = blob(1, 5000)
    await store.put(a.digest, a.bytes, { usedAt: 3 })
    expect(statSync(blobFile(dir, a.digest)).size).toBe(5000)
    expect(statSync(blobFile(dir, a.digest)).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(dir, 'tmp'))).toEqual([])
    expect(statSync(join(dir, 'meta.log')).size).toBe(META_RECORD_BYTES)
  })

  it('recovers from a crash: drops unfinished writes and a torn journal tail, adopts whole files', async () => {
    const dir = tempDir()
    const store = await FileBlobStore.open({ dir })
    const a = blob(2)
    const b = blob(3)
    await store.put(a.digest, a.bytes, { pinned: true, usedAt: 10 })
    await store.put(b.digest, b.bytes, { usedAt: 20 })
    await store.touch(b.digest, 30)
    await store.close()
    // What a kill -9 can leave: a half-written temporary file, half a journal record, and a
    // blob renamed into place whose journal record was never written.
    writeFileSync(join(dir, 'tmp', 'partial.1234'), new Uint8Array(10))
    appendFileSync(join(dir, 'meta.log'), new Uint8Array(META_RECORD_BYTES - 5).fill(7))
    const c = blob(4)
    mkdirSync(dirname(blobFile(dir, c.digest)), { recursive: true })
    writeFileSync(blobFile(dir, c.digest), c.bytes)

    const again = await openStore({ dir })
    expect(again.recovery).toMatchObject({ blobs: 3, metaRecords: 3, truncatedBytes: META_RECORD_BYTES - 5 })
    expect(again.recovery.tmpFilesRemoved).toBe(1)
    expect(readdirSync(join(dir, 'tmp'))).toEqual([])
    expect(statSync(join(dir, 'meta.log')).size).toBe(3 * META_RECORD_BYTES)
    const info = new Map((await again.list()).map((i) => [toHex(i.digest), i]))
    expect(info.get(toHex(a.digest))).toMatchObject({ pinned: true, usedAt: 10 })
    expect(info.get(toHex(b.digest))).toMatchObject({ pinned: false, usedAt: 30 })
    // Never acknowledged, but whole (renamed only after its fsync): kept, first in line for eviction.
    expect(info.get(toHex(c.digest))).toMatchObject({ pinned: false, usedAt: 0, size: c.bytes.length })
    expect(await again.get(c.digest)).toEqual(c.bytes)
  })

  it('a blob deleted and put again does not inherit the old flags after reopen', async () => {
    const dir = tempDir()
    const store = await FileBlobStore.open({ dir })
    const a = blob(5)
    await store.put(a.digest, a.bytes, { pinned: true, usedAt: 50 })
    await store.delete(a.digest)
    await store.put(a.digest, a.bytes, { usedAt: 60 })
    await store.close()
    const again = await openStore({ dir })
    expect(await again.list()).toEqual([{ digest: a.digest, size: 1000, pinned: false, usedAt: 60 }])
  })

  it('writes a blob once when two puts of it race', async () => {
    const dir = tempDir()
    const store = await openStore({ dir })
    const a = blob(6)
    const results = await Promise.all([store.put(a.digest, a.bytes), store.put(a.digest, a.bytes)])
    expect(results.sort()).toEqual([false, true])
    expect((await store.usage()).count).toBe(1)
  })
})

describe('FileBlobStore budget and retention', () => {
  it('evicts unpinned blobs, least recently used first, to fit the budget, and says so', async () => {
    const dir = tempDir()
    const store = await openStore({ dir, budgetBytes: 3000 })
    const evictions: string[] = []
    store.onEvict((digest, size) => evictions.push(`${toHex(digest)}:${size}`))
    const [a, b, c, d] = [blob(10), blob(11), blob(12), blob(13)]
    await store.put(a!.digest, a!.bytes, { usedAt: 1, pinned: true })
    await store.put(b!.digest, b!.bytes, { usedAt: 2 })
    await store.put(c!.digest, c!.bytes, { usedAt: 3 })
    await store.touch(b!.digest, 9) // now c is the least recently used unpinned blob
    await store.put(d!.digest, d!.bytes, { usedAt: 10 })
    expect(await store.has(c!.digest)).toBe(false)
    expect(await store.has(a!.digest)).toBe(true)
    expect(await store.has(b!.digest)).toBe(true)
    expect(store.evicted.budget).toBe(1)
    expect(evictions).toEqual([`${toHex(c!.digest)}:1000`])
    expect((await store.usage()).bytes).toBe(3000)
    expect(() => statSync(blobFile(dir, c!.digest))).toThrow()
  })

  it('stays within the budget when many puts run at once', async () => {
    const dir = tempDir()
    const store = await openStore({ dir, budgetBytes: 5000 })
    const many = Array.from({ length: 20 }, (_, i) => blob(40 + i))
    await Promise.all(many.map((b, i) => store.put(b.digest, b.bytes, { usedAt: i })))
    expect(await store.usage()).toMatchObject({ count: 5, bytes: 5000 })
    expect(store.evicted.budget).toBe(15)
    // The five most recently used remain.
    for (const b of many.slice(15)) expect(await store.has(b.digest)).toBe(true)
  })

  it('refuses a blob that pinned blobs leave no room for, evicting nothing', async () => {
    const dir = tempDir()
    const store = await openStore({ dir, budgetBytes: 2500 })
    const [a, b, c] = [blob(20), blob(21), blob(22, 1600)]
    await store.put(a!.digest, a!.bytes, { pinned: true })
    await store.put(b!.digest, b!.bytes)
    await expect(store.put(c!.digest, c!.bytes)).rejects.toThrow(LimitError)
    expect(await store.has(b!.digest)).toBe(true)
    expect(await store.has(c!.digest)).toBe(false)
    expect(readdirSync(join(dir, 'tmp'))).toEqual([])
  })

  it('drops unpinned blobs unused for the retention window, durably', async () => {
    const dir = tempDir()
    let now = 100_000
    const store = await FileBlobStore.open({ dir, retentionMs: 50_000, now: () => now })
    const evictions: string[] = []
    store.onEvict((digest) => evictions.push(toHex(digest)))
    const [old, pinnedOld, fresh] = [blob(30), blob(31), blob(32)]
    await store.put(old!.digest, old!.bytes, { usedAt: 40_000 })
    await store.put(pinnedOld!.digest, pinnedOld!.bytes, { usedAt: 40_000, pinned: true })
    await store.put(fresh!.digest, fresh!.bytes, { usedAt: 90_000 })
    expect(await store.sweep()).toEqual({ expired: 1 })
    expect(evictions).toEqual([toHex(old!.digest)])
    await store.delete(fresh!.digest) // asked for: not an eviction
    await store.put(fresh!.digest, fresh!.bytes, { usedAt: 90_000 })
    expect(evictions).toHaveLength(1)
    now = 200_000
    await store.pin(pinnedOld!.digest, false)
    expect(await store.sweep()).toEqual({ expired: 2 })
    await store.close()
    const again = await openStore({ dir })
    expect(await again.list()).toEqual([])
    expect(again.recovery.blobs).toBe(0)
  })
})
