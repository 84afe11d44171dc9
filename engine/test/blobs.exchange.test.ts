import { describe, expect, it } from 'vitest'
import {
  type BlobDigest,
  BlobExchange,
  type BlobExchangeOptions,
  CHUNK_BYTES,
  decodeBlobFrame,
  describeBlob,
  type EvictionListener,
  EvictionListeners,
  encodeBlobFrame,
  MAX_QUEUED_DOWNLOADS,
  MemoryBlobStore,
} from '../src/blobs/index.ts'
import { equalBytes, toHex } from '../src/bytes.ts'
import { LimitError, RejectedError } from '../src/errors.ts'
import { encodeProtocolFrame, Protocol } from '../src/mesh/protocol.ts'
import { seededBytes } from '../src/testing/bytes.ts'
import { FakeMesh } from './blobs-mesh.ts'

const blob = (size: number, seed = 1): Uint8Array => seededBytes(size, seed)

interface Node {
  id: string
  ex: BlobExchange
  store: MemoryBlobStore
}

async function setup(
  ids: string[],
  opts: Partial<BlobExchangeOptions> = {},
  kinds: Record<string, 'virtual'> = {},
): Promise<{ mesh: FakeMesh; nodes: Record<string, Node>; stop: () => void }> {
  const mesh = new FakeMesh()
  const nodes: Record<string, Node> = {}
  let seed = 7
  const random = () => {
    seed = (seed * 1103515245 + 12345) >>> 0
    return seed / 2 ** 32
  }
  for (const id of ids) {
    const store = new MemoryBlobStore()
    const port = mesh.add(id, kinds[id] ?? 'client')
    const ex = new BlobExchange({
      store,
      port,
      random,
      requestTimeoutMs: 200,
      offerTimeoutMs: 200,
      pullDelayMs: 20,
      ...opts,
    })
    await ex.start()
    nodes[id] = { id, ex, store }
  }
  return {
    mesh,
    nodes,
    stop: () => {
      for (const n of Object.values(nodes)) n.ex.stop()
    },
  }
}

const until = async (cond: () => boolean | Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 2000 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 5))
  expect(await cond()).toBe(true)
}

describe('BlobExchange', () => {
  it('push: a published blob reaches every peer that wants it, each chunk sent once per receiver', async () => {
    const { nodes, stop } = await setup(['a', 'b', 'c', 'd', 'e', 'f'], { fanout: 2, pullDelayMs: 60_000 })
    const bytes = blob(5 * CHUNK_BYTES + 123)
    const meta = describeBlob(bytes)
    for (const n of Object.values(nodes)) if (n.id !== 'a') n.ex.want(meta)
    await nodes.a!.ex.publish(bytes)
    await until(() => Object.values(nodes).every((n) => n.ex.holds(meta.digest)))
    for (const n of Object.values(nodes))
      expect(equalBytes((await n.store.get(meta.digest))!, bytes)).toBe(true)
    const received = Object.values(nodes).reduce((s, n) => s + n.ex.stats.chunkBytesReceived, 0)
    const wasted = Object.values(nodes).reduce((s, n) => s + n.ex.stats.chunkBytesWasted, 0)
    expect(received).toBe(5 * bytes.length)
    expect(wasted).toBe(0)
    expect(nodes.a!.ex.stats.chunkBytesSent).toBeLessThanOrEqual(2 * bytes.length)
    expect((await nodes.a!.store.list())[0]!.pinned).toBe(true)
    expect((await nodes.b!.store.list())[0]!.pinned).toBe(false)
    stop()
  })

  it('a peer that already holds the blob receives no chunk of it', async () => {
    const { nodes, stop } = await setup(['a', 'b'])
    const bytes = blob(3 * CHUNK_BYTES)
    const meta = describeBlob(bytes)
    await nodes.b!.store.put(meta.digest, bytes)
    nodes.b!.ex.stop()
    await nodes.b!.ex.start() // learns what its store holds
    nodes.b!.ex.want(meta)
    await nodes.a!.ex.publish(bytes)
    await until(() => nodes.a!.ex.activity === 0)
    expect(nodes.b!.ex.stats.chunkBytesReceived).toBe(0)
    expect(nodes.a!.ex.stats.chunkBytesSent).toBe(0)
    stop()
  })

  it('fetch never returns a damaged stored copy: it is dropped and fetched again from a peer', async () => {
    const { nodes, stop } = await setup(['a', 'b'], { fanout: 0 })
    const bytes = blob(2 * CHUNK_BYTES + 5, 3)
    const meta = describeBlob(bytes)
    const damaged = bytes.slice()
    damaged[10] = damaged[10]! ^ 1
    await nodes.b!.store.put(meta.digest, damaged)
    nodes.b!.ex.stop()
    await nodes.b!.ex.start() // believes its store holds the blob
    await nodes.a!.ex.publish(bytes)
    expect(equalBytes(await nodes.b!.ex.fetch(meta), bytes)).toBe(true)
    expect(equalBytes((await nodes.b!.store.get(meta.digest))!, bytes)).toBe(true)
    expect(nodes.b!.ex.stats.chunkBytesReceived).toBe(bytes.length)
    stop()
  })

  it('pull: fetch asks the announcers, real clients before virtual ones', async () => {
    const { nodes, stop } = await setup(['a', 'v', 'r', 'me'], { fanout: 0 }, { v: 'virtual' })
    const bytes = blob(2 * CHUNK_BYTES + 9)
    const meta = describeBlob(bytes)
    await nodes.v!.ex.publish(bytes)
    await nodes.r!.ex.fetch(meta) // only the virtual client has it: it serves
    expect(nodes.v!.ex.stats.chunkBytesSent).toBe(bytes.length)
    const got = await nodes.me!.ex.fetch(meta)
    expect(equalBytes(got, bytes)).toBe(true)
    expect(nodes.r!.ex.stats.chunkBytesSent).toBe(bytes.length) // the real client served `me`
    expect(nodes.v!.ex.stats.chunkBytesSent).toBe(bytes.length)
    stop()
  })

  it('resumes from another peer when the source leaves mid-way, keeping the chunks held', async () => {
    const { mesh, nodes, stop } = await setup(['a', 'b', 'c'], { fanout: 0, random: () => 0 })
    const bytes = blob(10 * CHUNK_BYTES)
    const meta = describeBlob(bytes)
    await nodes.a!.ex.publish(bytes)
    await nodes.b!.ex.fetch(meta)
    const served: string[] = []
    mesh.tap = (from, to, frame) => {
      if (!mesh.ports.has(from)) return undefined // in flight when its sender left: lost
      if (to !== 'c' || decodeBlobFrame(frame).type !== 'chunk') return frame
      served.push(from)
      if (served.length === 4) mesh.remove(from) // the source vanishes: this chunk and the rest are lost
      return frame
    }
    const got = await nodes.c!.ex.fetch(meta)
    expect(equalBytes(got, bytes)).toBe(true)
    const [first] = served
    expect(served.slice(0, 4)).toEqual([first, first, first, first])
    expect(served.slice(4)).toHaveLength(7)
    expect(served.slice(4).every((p) => p !== first)).toBe(true)
    // three chunks came from the first source, the seven others from the second: none twice
    expect(nodes.c!.ex.stats.chunkBytesReceived).toBe(bytes.length)
    stop()
  })

  it('catches a peer serving a corrupted chunk, bans it and completes from another', async () => {
    const { mesh, nodes, stop } = await setup(['bad', 'good', 'me'], { fanout: 0, random: () => 0 })
    const bytes = blob(6 * CHUNK_BYTES + 1)
    const meta = describeBlob(bytes)
    await nodes.bad!.ex.publish(bytes)
    await nodes.good!.ex.publish(bytes)
    let corrupted = false
    let asksAfter = 0
    mesh.tap = (from, to, frame) => {
      const f = decodeBlobFrame(frame)
      if (to === 'bad' && corrupted && f.type === 'get') asksAfter++
      if (from !== 'bad' || f.type !== 'chunk' || f.index !== 2) return frame
      corrupted = true
      const data = f.data.slice()
      data[100]! ^= 0xff
      return encodeBlobFrame({ ...f, data })
    }
    const got = await nodes.me!.ex.fetch(meta) // asks `bad` first (it joined first, ties are equal)
    expect(equalBytes(got, bytes)).toBe(true)
    expect(corrupted).toBe(true)
    expect(nodes.me!.ex.stats.badChunks).toBe(1)
    expect(asksAfter).toBe(0)
    expect(nodes.good!.ex.stats.chunkBytesSent).toBeGreaterThan(0)
    stop()
  })

  it('a source that always corrupts is caught every time it is tried', async () => {
    const { mesh, nodes, stop } = await setup(['bad', 'me'], { fanout: 0 })
    const bytes = blob(3 * CHUNK_BYTES)
    const meta = describeBlob(bytes)
    await nodes.bad!.ex.publish(bytes)
    mesh.tap = (from, _to, frame) => {
      const f = decodeBlobFrame(frame)
      if (from !== 'bad' || f.type !== 'chunk') return frame
      const data = f.data.slice()
      data[0]! ^= 1
      return encodeBlobFrame({ ...f, data })
    }
    const pending = nodes.me!.ex.fetch(meta)
    await until(() => nodes.me!.ex.stats.badChunks > 0)
    // Banned: the download waits for another source. A good one appears and serves it.
    const good = mesh.add('good')
    const goodEx = new BlobExchange({ store: new MemoryBlobStore(), port: good, fanout: 0 })
    await goodEx.start()
    await goodEx.publish(bytes)
    expect(equalBytes(await pending, bytes)).toBe(true)
    expect(goodEx.stats.chunkBytesSent).toBeGreaterThan(0)
    goodEx.stop()
    stop()
  })

  it('never downloads more than the stamped size, whatever a peer sends unasked', async () => {
    const { mesh, nodes, stop } = await setup(['a', 'me'], { fanout: 0 })
    const bytes = blob(2 * CHUNK_BYTES)
    const meta = describeBlob(bytes)
    await nodes.a!.ex.publish(bytes)
    // a floods chunks nobody asked for, of a digest `me` wants
    for (let i = 0; i < 20; i++)
      mesh.ports.get('a')!.send(
        'me',
        encodeProtocolFrame(
          Protocol.blobs,
          encodeBlobFrame({
            type: 'chunk',
            digest: meta.digest,
            index: i,
            data: new Uint8Array(CHUNK_BYTES),
          }),
        ),
      )
    const got = await nodes.me!.ex.fetch(meta)
    expect(equalBytes(got, bytes)).toBe(true)
    expect(nodes.me!.ex.stats.chunkBytesReceived).toBe(bytes.length)
    stop()
  })

  it('rejects a blob whose whole digest does not match its stamp, and demotes the sender', async () => {
    const { nodes, stop } = await setup(['liar', 'me'], { fanout: 0 })
    const real = blob(2 * CHUNK_BYTES, 3)
    const described = await nodes.liar!.ex.publish(real)
    const lying = { ...described, digest: describeBlob(blob(10, 4)).digest }
    // the liar announces `real` under the lying digest: its manifest matches the lying chunkRoot
    await nodes.liar!.store.put(lying.digest, real)
    nodes.liar!.ex.stop()
    await nodes.liar!.ex.start()
    await expect(nodes.me!.ex.fetch(lying)).rejects.toThrow(RejectedError)
    expect(nodes.me!.ex.stats.badBlobs).toBe(1)
    expect(await nodes.me!.store.has(lying.digest)).toBe(false)
    await expect(nodes.me!.ex.fetch(lying)).rejects.toThrow(/does not match/)
    stop()
  })

  it('enforces the attachment size cap on publish, fetch and offers', async () => {
    const { nodes, stop } = await setup(['a', 'b'], { maxAttachmentBytes: CHUNK_BYTES })
    await expect(nodes.a!.ex.publish(blob(CHUNK_BYTES + 1))).rejects.toThrow(LimitError)
    const big = describeBlob(blob(CHUNK_BYTES + 1))
    await expect(nodes.b!.ex.fetch(big)).rejects.toThrow(LimitError)
    stop()
  })

  it('evicts unpinned blobs least recently used first to stay within the budget', async () => {
    let now = 0
    const clock = {
      now: () => ++now,
      setTimeout: (fn: () => void, ms: number) => {
        const t = setTimeout(fn, ms)
        return () => clearTimeout(t)
      },
    }
    const { nodes, stop } = await setup(['a', 'b'], { fanout: 0, budgetBytes: 3 * CHUNK_BYTES, clock })
    const blobs = [1, 2, 3].map((s) => blob(CHUNK_BYTES, s))
    for (const b of blobs) await nodes.a!.ex.publish(b, { pinned: false })
    await nodes.b!.ex.publish(blob(CHUNK_BYTES, 9)) // pinned
    const [m1, m2, m3] = blobs.map(describeBlob)
    await nodes.b!.ex.fetch(m1!)
    await nodes.b!.ex.fetch(m2!)
    expect((await nodes.b!.store.usage()).bytes).toBe(3 * CHUNK_BYTES)
    await nodes.b!.ex.fetch(m3!)
    expect(await nodes.b!.store.has(m1!.digest)).toBe(false)
    expect(await nodes.b!.store.has(m2!.digest)).toBe(true)
    expect((await nodes.b!.store.usage()).bytes).toBe(3 * CHUNK_BYTES)
    expect(nodes.b!.ex.holds(m1!.digest)).toBe(false)
    stop()
  })

  it('spread: chunk bytes served of a blob and connected peers announcing it', async () => {
    const { nodes, stop } = await setup(['a', 'b', 'c'], { fanout: 2, pullDelayMs: 60_000 })
    const bytes = blob(2 * CHUNK_BYTES + 10, 5)
    const meta = describeBlob(bytes)
    expect(nodes.a!.ex.spread(meta.digest)).toBeUndefined()
    for (const id of ['b', 'c']) nodes[id]!.ex.want(meta)
    await nodes.a!.ex.publish(bytes)
    expect(nodes.a!.ex.spread(meta.digest)).toMatchObject({ size: bytes.length, holders: 0 })
    await until(() => nodes.a!.ex.spread(meta.digest)!.holders === 2)
    const served = Object.values(nodes).reduce((sum, n) => sum + (n.ex.spread(meta.digest)?.sent ?? 0), 0)
    expect(served).toBe(2 * bytes.length) // each receiver got every chunk once, from a or the other
    expect(nodes.a!.ex.spread(meta.digest)!.sent).toBe(nodes.a!.ex.stats.chunkBytesSent)
    stop()
  })

  it('a blob its store evicts on its own is no longer held, nor announced to a new peer', async () => {
    class EvictingStore extends MemoryBlobStore {
      private readonly evictions = new EvictionListeners()
      onEvict(listener: EvictionListener): () => void {
        return this.evictions.add(listener)
      }
      async evictNow(digest: BlobDigest): Promise<void> {
        const size = (await this.get(digest))!.length
        await this.delete(digest)
        this.evictions.emit(digest, size)
      }
    }
    const mesh = new FakeMesh()
    const store = new EvictingStore()
    const a = new BlobExchange({ store, port: mesh.add('a') })
    await a.start()
    const [kept, dropped] = [describeBlob(blob(CHUNK_BYTES, 1)), describeBlob(blob(CHUNK_BYTES, 2))]
    await a.publish(blob(CHUNK_BYTES, 1))
    await a.publish(blob(CHUNK_BYTES, 2))
    await store.evictNow(dropped.digest)
    expect(a.holds(dropped.digest)).toBe(false)
    expect(a.holds(kept.digest)).toBe(true)
    const announced: string[] = []
    mesh.tap = (from, _to, bytes) => {
      const f = decodeBlobFrame(bytes)
      if (from === 'a' && f.type === 'have') announced.push(...f.digests.map(toHex))
      return bytes
    }
    const c = new BlobExchange({ store: new MemoryBlobStore(), port: mesh.add('c') })
    await c.start()
    await until(() => announced.length > 0)
    expect(announced).toEqual([toHex(kept.digest)])
    a.stop()
    c.stop()
  })

  it('an offer that outruns its stamp is taken up when the stamp arrives', async () => {
    const { mesh, nodes, stop } = await setup(['a', 'b'], { fanout: 1, pullDelayMs: 60_000 })
    const bytes = blob(2 * CHUNK_BYTES)
    const meta = describeBlob(bytes)
    const frames: string[] = []
    mesh.tap = (from, _to, frame) => {
      frames.push(`${from}:${decodeBlobFrame(frame).type}`)
      return frame
    }
    await nodes.a!.ex.publish(bytes) // b does not know the digest yet: it stays silent
    await until(() => frames.includes('a:offer'))
    expect(frames.filter((f) => f.startsWith('b:'))).toEqual([])
    nodes.b!.ex.want(meta) // the stamp arrives: b pulls from the offerer at once
    await until(() => nodes.b!.ex.holds(meta.digest))
    expect(nodes.a!.ex.stats.chunkBytesSent).toBe(bytes.length)
    stop()
  })

  it('a holder serves at most maxUploads peers at once and turns the next away', async () => {
    const { mesh, nodes, stop } = await setup(['a', 'b', 'c'], { fanout: 0, maxUploads: 1 })
    const bytes = blob(4 * CHUNK_BYTES)
    const meta = describeBlob(bytes)
    await nodes.a!.ex.publish(bytes)
    const replies: string[] = []
    mesh.tap = (from, to, frame) => {
      const f = decodeBlobFrame(frame)
      if (from === 'a' && to === 'c' && f.type !== 'chunk')
        replies.push(f.type === 'no' ? `no:${f.reason}` : f.type)
      return frame
    }
    const [gotB, gotC] = await Promise.all([nodes.b!.ex.fetch(meta), nodes.c!.ex.fetch(meta)])
    expect(equalBytes(gotB, bytes) && equalBytes(gotC, bytes)).toBe(true)
    expect(replies).toContain('no:1') // busy while serving b; c got it from b or from a later
    stop()
  })

  it('the uploader sends about fanout copies, later requesters are turned to other holders', async () => {
    const { nodes, stop } = await setup(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], {
      fanout: 2,
      pullDelayMs: 0,
    })
    const bytes = blob(3 * CHUNK_BYTES)
    const meta = describeBlob(bytes)
    await nodes.a!.ex.publish(bytes)
    for (const n of Object.values(nodes)) if (n.id !== 'a') n.ex.want(meta)
    await until(() => Object.values(nodes).every((n) => n.ex.holds(meta.digest)))
    expect(nodes.a!.ex.stats.chunkBytesSent).toBeLessThanOrEqual(2 * bytes.length)
    stop()
  })

  it('runs at most maxDownloads at once; the others wait their turn', async () => {
    const { mesh, nodes, stop } = await setup(['a', 'me'], { fanout: 0, maxDownloads: 2 })
    const blobs = [1, 2, 3, 4, 5].map((s) => blob(2 * CHUNK_BYTES, s))
    for (const b of blobs) await nodes.a!.ex.publish(b)
    // a download is open from its GET_MANIFEST until its second (last) chunk arrives
    const chunks = new Map<number, number>()
    const opened = new Set<number>()
    let open = 0
    let most = 0
    mesh.tap = (from, _to, frame) => {
      const f = decodeBlobFrame(frame)
      if (from === 'me' && f.type === 'getManifest' && !opened.has(f.digest[0]!)) {
        opened.add(f.digest[0]!)
        most = Math.max(most, ++open)
      }
      if (from === 'a' && f.type === 'chunk') {
        const n = (chunks.get(f.digest[0]!) ?? 0) + 1
        chunks.set(f.digest[0]!, n)
        if (n === 2) open--
      }
      return frame
    }
    const got = await Promise.all(
      blobs.map(async (b) => equalBytes(await nodes.me!.ex.fetch(describeBlob(b)), b)),
    )
    expect(got).toEqual([true, true, true, true, true])
    expect(most).toBe(2)
    stop()
  })

  it('refuses to queue more than MAX_QUEUED_DOWNLOADS fetches', async () => {
    const { nodes, stop } = await setup(['me'])
    const metas = Array.from({ length: MAX_QUEUED_DOWNLOADS + 1 }, (_, i) => ({
      digest: Uint8Array.of(1, i & 0xff, i >> 8, ...new Uint8Array(29)),
      size: 10,
      chunkRoot: new Uint8Array(32),
    }))
    const pending = metas.slice(0, -1).map((m) => nodes.me!.ex.fetch(m).catch((e: Error) => e.message))
    await expect(nodes.me!.ex.fetch(metas.at(-1)!)).rejects.toThrow(LimitError)
    stop()
    expect(new Set(await Promise.all(pending))).toEqual(new Set(['blob exchange stopped']))
  })

  it('stop is idempotent and leaves no timer or download behind', async () => {
    const { nodes, stop } = await setup(['a', 'b'], { pullDelayMs: 60_000 })
    const meta = describeBlob(blob(100))
    nodes.b!.ex.want(meta)
    const pending = nodes.b!.ex.fetch(describeBlob(blob(200)))
    expect(nodes.b!.ex.activity).toBeGreaterThan(0)
    stop()
    stop()
    await expect(pending).rejects.toThrow(/stopped|not running/)
    expect(nodes.a!.ex.activity).toBe(0)
    expect(nodes.b!.ex.activity).toBe(0)
  })
})
