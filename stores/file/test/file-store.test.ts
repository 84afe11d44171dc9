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
import type { Ulid } from '@peerchat/engine'
import { fakeStoredEvent } from '@peerchat/engine/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { FileStore } from '../src/file-store.ts'
import { encodeRecord, MAX_RECORD_BODY_BYTES, RecordType } from '../src/record.ts'

const CH = 'general'
const T0 = 1_700_000_000_000
const events = (n: number, from = 0) => Array.from({ length: n }, (_, i) => fakeStoredEvent(CH, from + i))
const idsOf = (items: { event: { id: Ulid } }[]) => items.map((s) => s.event.id)

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
})
