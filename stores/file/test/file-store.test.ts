/** FileStore specifics beyond the conformance suite: recovery, segments, compaction, retention. */
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eventDigest, type StoredEvent, type Ulid } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { fakeStoredEvent } from '@peerchat/engine/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { FileStore } from '../src/file-store.ts'
import { encodeRecord, MAX_RECORD_BODY_BYTES, RecordType } from '../src/record.ts'

const CH = 'general'
const T0 = 1_700_000_000_000
const events = (n: number, from = 0) => Array.from({ length: n }, (_, i) => fakeStoredEvent(CH, from + i))
const idsOf = (items: { event: { id: Ulid } }[]) => items.map((s) => s.event.id)
/** fakeStoredEvent i as a canvas update (`yjs`), at the same time (T0 + i s). */
const canvas = (i: number): StoredEvent => {
  const event = { ...fakeStoredEvent(CH, i).event, kind: Kind.yjs }
  return { event, digest: eventDigest(event) }
}
const message = (i: number): StoredEvent => fakeStoredEvent(CH, i)
const keepCanvases = (e: { kind: string }) => e.kind === Kind.yjs

let dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'peerchat-fs-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs = []
})
const segments = (dir: string) =>
  readdirSync(join(dir, CH))
    .filter((f) => f.endsWith('.seg'))
    .sort()

describe('FileStore recovery', () => {
  it('truncates a torn tail and keeps every whole record before it', async () => {
    const dir = tempDir()
    const store = await FileStore.open({ dir })
    await store.putMany(CH, events(10))
    await store.close()
    const seg = join(dir, CH, segments(dir).at(-1)!)
    const whole = statSync(seg).size
    // Half of an 11th record, as a crash mid-write leaves it.
    const torn = encodeRecord(RecordType.event, new Uint8Array(200).fill(7))
    appendFileSync(seg, torn.subarray(0, 100))
    const again = await FileStore.open({ dir })
    expect(idsOf(await again.getRange(CH, {}))).toEqual(idsOf(events(10)))
    expect(again.recovery.truncatedBytes).toBe(100)
    expect(statSync(seg).size).toBe(whole)
    // Later writes land after the repaired tail and survive another reopen.
    await again.putMany(CH, events(5, 10))
    await again.close()
    const third = await FileStore.open({ dir })
    expect(await third.count(CH)).toBe(15)
    await third.close()
  })

  it('replays a segment larger than its read window, records straddling window edges, then a torn tail', async () => {
    const dir = tempDir()
    const store = await FileStore.open({ dir })
    const many = events(12_000) // ~2.8 MB in one segment: three 1 MiB windows, edges mid-record
    for (let i = 0; i < many.length; i += 2000) await store.putMany(CH, many.slice(i, i + 2000))
    await store.close()
    const seg = join(dir, CH, segments(dir).at(-1)!)
    expect(segments(dir)).toHaveLength(1)
    expect(statSync(seg).size).toBeGreaterThan(2 * 1024 * 1024)
    appendFileSync(seg, encodeRecord(RecordType.event, new Uint8Array(300).fill(9)).subarray(0, 150))
    const again = await FileStore.open({ dir })
    expect(again.recovery).toMatchObject({ records: 12_000, truncatedBytes: 150, invalidRecords: 0 })
    expect(await again.count(CH)).toBe(12_000)
    const back = await again.getRange(CH, {})
    expect(idsOf(back)).toEqual(idsOf(many))
    expect(back.map((s) => s.digest)).toEqual(many.map((s) => s.digest))
    await again.close()
  })

  it('stops at a record whose CRC fails and at a length over MAX_RECORD_BODY_BYTES', async () => {
    const dir = tempDir()
    const store = await FileStore.open({ dir })
    await store.putMany(CH, events(6))
    await store.close()
    const seg = join(dir, CH, segments(dir)[0]!)
    const bytes = readFileSync(seg)
    const recordLength = bytes.readUInt32LE(0) + 8
    // Flip one payload byte of the 4th record: records 0..2 stay.
    const rotten = Buffer.from(bytes)
    rotten[3 * recordLength + 20]! ^= 0xff
    writeFileSync(seg, rotten)
    const a = await FileStore.open({ dir })
    expect(idsOf(await a.getRange(CH, {}))).toEqual(idsOf(events(3)))
    await a.close()
    // A header claiming more than the limit is corruption, not a reason to allocate.
    const huge = Buffer.alloc(16)
    huge.writeUInt32LE(MAX_RECORD_BODY_BYTES + 1, 0)
    appendFileSync(join(dir, CH, segments(dir).at(-1)!), huge)
    const b = await FileStore.open({ dir })
    expect(await b.count(CH)).toBe(3)
    expect(b.recovery.truncatedBytes).toBe(16)
    await b.close()
  })

  it('skips a well-framed record that does not decode as an event of the channel', async () => {
    const dir = tempDir()
    const store = await FileStore.open({ dir })
    await store.putMany(CH, events(2))
    await store.close()
    appendFileSync(join(dir, CH, segments(dir).at(-1)!), encodeRecord(RecordType.event, new Uint8Array(40)))
    const other = fakeStoredEvent('other', 9)
    const { encodeEvent } = await import('@peerchat/engine')
    appendFileSync(
      join(dir, CH, segments(dir).at(-1)!),
      encodeRecord(RecordType.event, encodeEvent(other.event)),
    )
    const again = await FileStore.open({ dir })
    expect(await again.count(CH)).toBe(2)
    expect(again.recovery.invalidRecords).toBe(2)
    await again.close()
  })
})

describe('FileStore segments and compaction', () => {
  it('rolls segments at segmentMaxBytes and compacts them once deletes leave mostly garbage', async () => {
    const dir = tempDir()
    const opts = { dir, segmentMaxBytes: 4096, compactMinGarbageBytes: 1, compactGarbageRatio: 0.5 }
    const store = await FileStore.open(opts)
    const all = events(300)
    for (let i = 0; i < all.length; i += 50) await store.putMany(CH, all.slice(i, i + 50))
    const rolled = segments(dir)
    expect(rolled.length).toBeGreaterThan(5)
    for (const f of rolled) expect(statSync(join(dir, CH, f)).size).toBeLessThanOrEqual(4096)
    await store.deleteMany(CH, idsOf(all.slice(0, 250)))
    const { compacted } = await store.sweep()
    expect(compacted).toEqual([CH])
    const usage = store.diskUsage()[0]!
    expect(usage.segments).toBeLessThan(rolled.length)
    expect(idsOf(await store.getRange(CH, {}))).toEqual(idsOf(all.slice(250)))
    await store.close()
    const again = await FileStore.open(opts)
    expect(idsOf(await again.getRange(CH, {}))).toEqual(idsOf(all.slice(250)))
    expect(await again.fingerprint(CH, {})).toEqual(
      await (async () => {
        const { fingerprintOfDigests } = await import('@peerchat/engine')
        return fingerprintOfDigests(all.slice(250).map((s) => s.digest))
      })(),
    )
    await again.close()
  })

  it('does not compact below compactMinGarbageBytes', async () => {
    const dir = tempDir()
    const store = await FileStore.open({ dir, segmentMaxBytes: 4096 })
    await store.putMany(CH, events(100))
    await store.deleteMany(CH, idsOf(events(90)))
    expect((await store.sweep()).compacted).toEqual([])
    await store.close()
  })

  it('writes an event larger than a segment into a segment of its own', async () => {
    const dir = tempDir()
    const store = await FileStore.open({ dir, segmentMaxBytes: 64 })
    await store.putMany(CH, events(3))
    expect(segments(dir).length).toBe(3)
    expect(await store.count(CH)).toBe(3)
    await store.close()
  })

  it('groups concurrent puts into one batch and dedups ids written concurrently', async () => {
    const dir = tempDir()
    const store = await FileStore.open({ dir })
    const all = events(40)
    const counts = await Promise.all([
      store.putMany(CH, all.slice(0, 20)),
      store.putMany(CH, all.slice(10, 30)),
      store.putMany(CH, all.slice(25, 40)),
    ])
    expect(counts.reduce((a, b) => a + b, 0)).toBe(40)
    expect(await store.count(CH)).toBe(40)
    // All three calls were queued before the first write started: one batch, one fdatasync.
    expect(store.writes).toEqual({ batches: 1, syncs: 1, records: 40 })
    await store.close()
    // Each record was written once.
    const again = await FileStore.open({ dir })
    expect(again.recovery.records).toBe(40)
    await again.close()
  })
})

describe('FileStore retention window', () => {
  it('drops events older than retentionMs on open, on sweep and at put', async () => {
    const dir = tempDir()
    let now = T0 + 100_000
    const opts = { dir, retentionMs: 50_000, now: () => now }
    const store = await FileStore.open(opts)
    // fakeStoredEvent i is at T0 + i s: events 0..49 are older than the window.
    expect(await store.putMany(CH, events(100))).toBe(50)
    expect(idsOf(await store.getRange(CH, {}))).toEqual(idsOf(events(50, 50)))
    now += 20_000
    expect((await store.sweep()).expired).toBe(20)
    expect(await store.count(CH)).toBe(30)
    await store.close()
    now += 10_000
    const again = await FileStore.open(opts)
    expect(idsOf(await again.getRange(CH, {}))).toEqual(idsOf(events(20, 80)))
    expect(again.recovery.expired).toBe(30)
    await again.close()
  })

  it('holds what `keep` says yes to outside the window: at put, on sweep and on replay', async () => {
    const dir = tempDir()
    let now = T0 + 100_000
    const opts = { dir, retentionMs: 50_000, now: () => now, keep: keepCanvases }
    const store = await FileStore.open(opts)
    // Cutoff T0 + 50 s: canvas 10 and message 20 are older than the window.
    const all = [canvas(10), message(20), canvas(60), message(65), message(80)]
    expect(await store.putMany(CH, all)).toBe(4)
    expect(idsOf(await store.getRange(CH, {}))).toEqual(idsOf([all[0]!, ...all.slice(2)]))
    // Cutoff T0 + 70 s: message 65 expires; canvas 60, in the window at put, is held.
    now += 20_000
    expect((await store.sweep()).expired).toBe(1)
    const held = [canvas(10), canvas(60), message(80)]
    expect(idsOf(await store.getRange(CH, {}))).toEqual(idsOf(held))
    await store.close()

    // Replay reads the kind from each record: the canvases are indexed, the old message skipped.
    now += 10_000
    const again = await FileStore.open(opts)
    expect(again.recovery).toMatchObject({ expired: 1, kept: 2, invalidRecords: 0 })
    const back = await again.getRange(CH, {})
    expect(idsOf(back)).toEqual(idsOf(held))
    expect(back.map((s) => s.event.kind)).toEqual([Kind.yjs, Kind.yjs, Kind.message])
    expect(back.map((s) => s.digest)).toEqual(held.map((s) => s.digest))
    // ...and flagged there: a later sweep, past every event, still holds them.
    now += 60_000
    expect((await again.sweep()).expired).toBe(1)
    expect(idsOf(await again.getRange(CH, {}))).toEqual(idsOf(held.slice(0, 2)))
    // An old canvas update arriving later (a peer's catch-up) is written too; an old message is not.
    expect(await again.putMany(CH, [canvas(5), message(6)])).toBe(1)
    await again.close()

    const third = await FileStore.open(opts)
    expect(idsOf(await third.getRange(CH, {}))).toEqual(idsOf([canvas(5), ...held.slice(0, 2)]))
    await third.close()
    // `keep` is asked again at every open: without it, the old canvases expire.
    const without = await FileStore.open({ dir, retentionMs: 50_000, now: () => now })
    expect(await without.count(CH)).toBe(0)
    await without.close()
  })

  it('deletes a held event with deleteMany, for good', async () => {
    const dir = tempDir()
    const now = T0 + 100_000
    const opts = { dir, retentionMs: 50_000, now: () => now, keep: keepCanvases }
    const store = await FileStore.open(opts)
    expect(await store.putMany(CH, [canvas(1), canvas(2)])).toBe(2)
    expect(await store.deleteMany(CH, [canvas(1).event.id])).toBe(1)
    expect(idsOf(await store.getRange(CH, {}))).toEqual(idsOf([canvas(2)]))
    await store.close()
    const again = await FileStore.open(opts)
    expect(idsOf(await again.getRange(CH, {}))).toEqual(idsOf([canvas(2)]))
    await again.close()
  })

  it('keeps held events through compaction (moved, still flagged) and its crash-left duplicates', async () => {
    const dir = tempDir()
    let now = T0 + 100_000
    const opts = {
      dir,
      retentionMs: 50_000,
      now: () => now,
      keep: keepCanvases,
      segmentMaxBytes: 4096,
      compactMinGarbageBytes: 1,
    }
    const store = await FileStore.open(opts)
    const canvases = [canvas(51), canvas(52), canvas(53)]
    const messages = Array.from({ length: 100 }, (_, i) => message(60 + i))
    await store.putMany(CH, canvases)
    for (let i = 0; i < messages.length; i += 20) await store.putMany(CH, messages.slice(i, i + 20))
    const before = segments(dir)
    // Every message expires; the canvases, in the first sealed segment, are copied forward.
    now += 200_000
    const { expired, compacted } = await store.sweep()
    expect({ expired, compacted }).toEqual({ expired: 100, compacted: [CH] })
    expect(segments(dir)).not.toContain(before[0])
    expect((await store.sweep()).expired).toBe(0)
    expect(idsOf(await store.getRange(CH, {}))).toEqual(idsOf(canvases))
    await store.close()
    // A compaction cut short leaves the copies and the originals: the first copy wins.
    const segs = segments(dir)
    writeFileSync(join(dir, CH, '00000099.seg'), readFileSync(join(dir, CH, segs.at(-1)!)))
    const again = await FileStore.open(opts)
    expect(again.recovery).toMatchObject({ kept: 6, invalidRecords: 0 })
    expect(await again.count(CH)).toBe(3)
    const { fingerprintOfDigests } = await import('@peerchat/engine')
    expect(await again.fingerprint(CH, {})).toEqual(fingerprintOfDigests(canvases.map((s) => s.digest)))
    expect((await again.sweep()).expired).toBe(0)
    await again.close()
  })

  it('writes nothing when `keep` throws, and the same events can be put again', async () => {
    const dir = tempDir()
    let broken = true
    const keep = (e: { kind: string }) => {
      if (broken && e.kind === Kind.message) throw new Error('bad predicate')
      return e.kind === Kind.yjs
    }
    const store = await FileStore.open({ dir, retentionMs: 50_000, now: () => T0 + 100_000, keep })
    const batch = [canvas(70), message(71)]
    await expect(store.putMany(CH, batch)).rejects.toThrow('bad predicate')
    expect(await store.count(CH)).toBe(0)
    broken = false
    expect(await store.putMany(CH, batch)).toBe(2)
    await store.close()
  })
})
