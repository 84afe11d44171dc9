import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CHUNK_BYTES,
  chunkCount,
  chunkLength,
  chunkOf,
  describeBlob,
  manifestMatches,
  planEviction,
  rankSources,
  Transfer,
} from '../src/blobs/index.ts'
import { equalBytes } from '../src/bytes.ts'
import { decodeAttachment, encodeAttachment } from '../src/chat/bodies.ts'
import { DecodeError } from '../src/errors.ts'
import { seededBytes } from '../src/testing/bytes.ts'

const blob = (size: number, seed = 1): Uint8Array => seededBytes(size, seed)

describe('manifest', () => {
  it('cuts a blob into CHUNK_BYTES chunks, the last shorter', () => {
    expect(chunkCount(0)).toBe(0)
    expect(chunkCount(1)).toBe(1)
    expect(chunkCount(CHUNK_BYTES)).toBe(1)
    expect(chunkCount(CHUNK_BYTES + 1)).toBe(2)
    expect(chunkLength(CHUNK_BYTES + 1, 1)).toBe(1)
    expect(() => chunkLength(CHUNK_BYTES, 1)).toThrow(RangeError)
    const d = describeBlob(blob(3 * CHUNK_BYTES + 5))
    expect(d.hashes).toHaveLength(4)
    expect(manifestMatches(d, d.hashes)).toBe(true)
    expect(manifestMatches(d, d.hashes.slice(1))).toBe(false)
    expect(manifestMatches(d, [d.hashes[1]!, d.hashes[0]!, d.hashes[2]!, d.hashes[3]!])).toBe(false)
  })
})

describe('Transfer', () => {
  const bytes = blob(5 * CHUNK_BYTES + 100)
  const meta = describeBlob(bytes)

  it('asks for the manifest once per source, then for missing chunks within the window', () => {
    const t = new Transfer(meta, 4)
    expect(t.nextGets()).toEqual([]) // no source
    t.setSource('a')
    expect(t.takeManifestRequest()).toBe(true)
    expect(t.takeManifestRequest()).toBe(false)
    expect(t.nextGets()).toEqual([]) // no manifest yet
    expect(t.acceptManifest(meta.hashes)).toBe('ok')
    expect(t.nextGets(2)).toEqual([
      { first: 0, count: 2 },
      { first: 2, count: 2 },
    ])
    expect(t.nextGets()).toEqual([])
    expect(t.acceptChunk('a', 1, chunkOf(bytes, 1))).toBe('ok')
    expect(t.nextGets()).toEqual([{ first: 4, count: 1 }])
  })

  it('refuses a manifest that does not match the stamped root', () => {
    const t = new Transfer(meta)
    const forged = [...meta.hashes]
    forged[2] = new Uint8Array(32)
    expect(t.acceptManifest(forged)).toBe('bad')
    expect(t.acceptManifest(meta.hashes.slice(0, 3))).toBe('bad')
    expect(t.acceptManifest(meta.hashes)).toBe('ok')
    expect(t.acceptManifest(meta.hashes)).toBe('duplicate')
  })

  it('checks every chunk: wrong bytes, wrong length, out of range', () => {
    const t = new Transfer(meta)
    expect(t.acceptChunk('a', 0, chunkOf(bytes, 0))).toBe('unexpected') // before the manifest
    t.acceptManifest(meta.hashes)
    const bad = chunkOf(bytes, 0).slice()
    bad[7]! ^= 1
    expect(t.acceptChunk('a', 0, bad)).toBe('bad')
    expect(t.acceptChunk('a', 5, chunkOf(bytes, 5).subarray(0, 50))).toBe('bad')
    expect(t.acceptChunk('a', 6, chunkOf(bytes, 0))).toBe('unexpected')
    expect(t.acceptChunk('a', 0, chunkOf(bytes, 0))).toBe('ok')
    expect(t.acceptChunk('b', 0, chunkOf(bytes, 0))).toBe('duplicate')
    expect(t.heldChunks).toBe(1)
  })

  it('keeps chunks across a change of source and re-asks only what is missing', () => {
    const t = new Transfer(meta, 16)
    t.setSource('a')
    t.acceptManifest(meta.hashes)
    t.nextGets()
    for (const i of [0, 1, 3]) t.acceptChunk('a', i, chunkOf(bytes, i))
    t.failSource(false)
    expect(t.failures.get('a')).toBe(1)
    t.setSource('b')
    expect(t.takeManifestRequest()).toBe(false) // the manifest is kept too
    expect(t.nextGets()).toEqual([
      { first: 2, count: 1 },
      { first: 4, count: 2 },
    ])
    for (const i of [2, 4, 5]) t.acceptChunk('b', i, chunkOf(bytes, i))
    expect(t.complete).toBe(true)
    expect(equalBytes(t.assemble()!, bytes)).toBe(true)
    expect([...t.contributors].sort()).toEqual(['a', 'b'])
  })

  it('assemble refuses a whole that does not match the digest even when every chunk matches', () => {
    const other = blob(2 * CHUNK_BYTES, 9)
    const lying = { ...describeBlob(other), digest: meta.digest }
    const t = new Transfer(lying)
    t.setSource('a')
    t.acceptManifest(describeBlob(other).hashes)
    for (let i = 0; i < 2; i++) t.acceptChunk('a', i, chunkOf(other, i))
    expect(t.complete).toBe(true)
    expect(t.assemble()).toBeUndefined()
    t.reset()
    expect(t.heldChunks).toBe(0)
  })

  it('an empty blob is complete at once', () => {
    const t = new Transfer(describeBlob(new Uint8Array(0)))
    expect(t.complete).toBe(true)
    expect(t.assemble()).toEqual(new Uint8Array(0))
  })

  it('never asks for a chunk outside the stamped size (any sequence of arrivals and switches)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 9 }), fc.boolean()), { maxLength: 60 }), (ops) => {
        const t = new Transfer(meta, 3)
        t.setSource('a')
        t.acceptManifest(meta.hashes)
        for (const [i, switchSource] of ops) {
          for (const g of t.nextGets(2)) {
            expect(g.first + g.count).toBeLessThanOrEqual(t.count)
            expect(g.count).toBeGreaterThan(0)
          }
          expect(t.inflightChunks).toBeLessThanOrEqual(3)
          if (i < t.count) t.acceptChunk('a', i, chunkOf(bytes, i))
          if (switchSource) t.setSource(t.source === 'a' ? 'b' : 'a')
        }
      }),
    )
  })
})

describe('rankSources', () => {
  it('puts real clients first, then fewer failures, then higher score; leaves banned peers out', () => {
    const t = new Transfer(describeBlob(blob(10)))
    t.banned.add('banned')
    t.failures.set('flaky', 2)
    const order = rankSources(
      t,
      [
        { peer: 'vc', virtual: true, score: 100 },
        { peer: 'flaky', virtual: false, score: 5 },
        { peer: 'low', virtual: false, score: -10 },
        { peer: 'good', virtual: false, score: 0 },
        { peer: 'banned', virtual: false, score: 50 },
      ],
      () => 0.5,
    )
    expect(order).toEqual(['good', 'low', 'flaky', 'vc'])
  })
})

describe('planEviction', () => {
  const info = (i: number, size: number, usedAt: number, pinned = false) => ({
    digest: Uint8Array.of(i, ...new Uint8Array(31)),
    size,
    usedAt,
    pinned,
  })

  it('evicts unpinned blobs least recently used first until the incoming blob fits', () => {
    const blobs = [info(1, 40, 30), info(2, 40, 10, true), info(3, 40, 20), info(4, 40, 40)]
    expect(planEviction(blobs, 200, 30)).toEqual({ evict: [], fits: true })
    const plan = planEviction(blobs, 160, 60)
    expect(plan.fits).toBe(true)
    expect(plan.evict.map((d) => d[0])).toEqual([3, 1])
  })

  it('evicts nothing when pinned blobs alone leave no room', () => {
    const blobs = [info(1, 90, 1, true), info(2, 10, 0)]
    expect(planEviction(blobs, 100, 20)).toEqual({ evict: [], fits: false })
  })

  it('leaves the store within budget whenever it says fits (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 100 }), fc.nat({ max: 1000 }), fc.boolean()), { maxLength: 30 }),
        fc.nat({ max: 2000 }),
        fc.nat({ max: 200 }),
        (items, budget, incoming) => {
          const blobs = items.map(([size, usedAt, pinned], i) => info(i, size, usedAt, pinned))
          const plan = planEviction(blobs, budget, incoming)
          const gone = new Set(plan.evict.map((d) => d[0]))
          const left = blobs.filter((b) => !gone.has(b.digest[0]))
          expect(plan.evict.every((d) => !blobs[d[0]!]!.pinned)).toBe(true)
          if (plan.fits) expect(left.reduce((n, b) => n + b.size, 0) + incoming).toBeLessThanOrEqual(budget)
        },
      ),
    )
  })
})

describe('attachment body', () => {
  const d = describeBlob(blob(1000))
  const base = { digest: d.digest, size: d.size, chunkRoot: d.chunkRoot, mime: 'image/png', name: 'cat.png' }

  it('round-trips with and without dimensions and thumbnail', () => {
    const full = { ...base, width: 640, height: 480, thumbnail: { mime: 'image/webp', bytes: blob(300) } }
    expect(decodeAttachment(encodeAttachment(base))).toEqual(base)
    expect(decodeAttachment(encodeAttachment(full))).toEqual(full)
  })

  it('refuses bad values on both sides', () => {
    expect(() => encodeAttachment({ ...base, mime: 'not a mime' })).toThrow(RangeError)
    expect(() => encodeAttachment({ ...base, name: '' })).toThrow(RangeError)
    expect(() => encodeAttachment({ ...base, width: 10 })).toThrow(RangeError)
    expect(() => encodeAttachment({ ...base, size: -1 })).toThrow(RangeError)
    expect(() =>
      encodeAttachment({ ...base, thumbnail: { mime: 'image/png', bytes: new Uint8Array(16 * 1024 + 1) } }),
    ).toThrow(RangeError)
    const bytes = encodeAttachment(base)
    expect(() => decodeAttachment(Uint8Array.of(...bytes, 0))).toThrow(DecodeError)
    const flags = bytes.slice()
    flags[flags.length - 1] = 4
    expect(() => decodeAttachment(flags)).toThrow(/flags/)
  })

  it('mutated bodies decode canonically or throw DecodeError', () => {
    const full = encodeAttachment({
      ...base,
      width: 1,
      height: 2,
      thumbnail: { mime: 'image/jpeg', bytes: blob(40) },
    })
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (pos, value, cut) => {
        const bytes = full.slice()
        bytes[pos % bytes.length] = value
        for (const input of [bytes, bytes.subarray(0, cut % (bytes.length + 1))]) {
          try {
            expect(encodeAttachment(decodeAttachment(input))).toEqual(input)
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError)
          }
        }
      }),
      { numRuns: 1000 },
    )
  })
})
