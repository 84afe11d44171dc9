/**
 * FileOutboxStore: an outbox conformance suite (the engine ships none), run against the
 * engine's MemoryOutboxStore too so the suite itself is checked against the reference; then
 * the file's own guarantees: reopen, torn and rotten journals, MAX_OUTBOX, compaction, and
 * a Replica that restarts with its pending writes.
 */
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  encodeRequest,
  equalBytes,
  Identity,
  LimitError,
  MAX_OUTBOX,
  MemoryOutboxStore,
  MemoryStore,
  type OutboxEntry,
  type OutboxStore,
  outboxKey,
  Replica,
  type SignedRequest,
} from '@peerchat/engine'
import { fakeStoredEvent } from '@peerchat/engine/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { FileOutboxStore } from '../src/file-outbox-store.ts'
import { encodeRecord, RecordType } from '../src/record.ts'

const CH = 'general'
const T0 = 1_700_000_000_000

/** A well-formed request (unsigned: the outbox never verifies); `i` picks its nonce. */
function request(i: number, body?: string): SignedRequest {
  const { channel, kind, author, clientNonce, authorSig } = fakeStoredEvent(CH, i).event
  return {
    channel,
    kind,
    author,
    clientNonce,
    body: new TextEncoder().encode(body ?? `write ${i}`),
    authorSig,
  }
}
const entry = (i: number, extra: Partial<OutboxEntry> = {}): OutboxEntry => ({
  request: request(i),
  queuedAt: T0 + i,
  ...extra,
})
const keyOf = (e: OutboxEntry) => outboxKey(e.request.author, e.request.clientNonce)

/** Entries compared by their encoded request (byte for byte), time and failure. */
const shape = (list: readonly OutboxEntry[]) =>
  list.map((e) => ({
    key: keyOf(e),
    request: Buffer.from(encodeRequest(e.request)).toString('hex'),
    queuedAt: e.queuedAt,
    failed: e.failed,
  }))

interface OutboxFixture {
  store: OutboxStore
  /** Closes `store` and opens it again on the same data (durable stores only). */
  reopen?: () => Promise<OutboxStore>
  teardown(): Promise<void>
}

/** What every OutboxStore must do (the Replica relies on nothing else). */
function runOutboxConformance(name: string, make: () => Promise<OutboxFixture>): void {
  describe(`OutboxStore conformance: ${name}`, () => {
    let fx: OutboxFixture
    afterEach(async () => fx?.teardown())

    it('puts, lists and deletes', async () => {
      fx = await make()
      const [a, b, c] = [entry(1), entry(2), entry(3)]
      expect(await fx.store.list()).toEqual([])
      for (const e of [a, b, c]) await fx.store.put(keyOf(e), e)
      expect(shape(await fx.store.list())).toEqual(shape([a, b, c]))
      await fx.store.delete(keyOf(b))
      expect(shape(await fx.store.list())).toEqual(shape([a, c]))
      await fx.store.delete(keyOf(b)) // absent: a no-op
      await fx.store.delete('not:a-key')
      expect(shape(await fx.store.list())).toEqual(shape([a, c]))
    })

    it('replaces an entry put again under its key, in place (a refusal, then a retry)', async () => {
      fx = await make()
      const [a, b] = [entry(1), entry(2)]
      await fx.store.put(keyOf(a), a)
      await fx.store.put(keyOf(b), b)
      const refused = { ...a, failed: { code: 'rate', message: 'too many writes' } }
      await fx.store.put(keyOf(a), refused)
      expect(shape(await fx.store.list())).toEqual(shape([refused, b]))
      await fx.store.put(keyOf(a), a)
      const list = await fx.store.list()
      expect(shape(list)).toEqual(shape([a, b]))
      expect(list[0]!.failed).toBeUndefined()
    })

    it('keeps every field of the request, byte for byte', async () => {
      fx = await make()
      const e = { request: request(7, 'ünïcødé 🙂'), queuedAt: T0 + 0.5 }
      await fx.store.put(keyOf(e), e)
      const [back] = await fx.store.list()
      expect(back!.request.channel).toBe(CH)
      expect(new TextDecoder().decode(back!.request.body)).toBe('ünïcødé 🙂')
      expect(equalBytes(encodeRequest(back!.request), encodeRequest(e.request))).toBe(true)
      expect(back!.queuedAt).toBe(T0 + 0.5)
    })

    it('holds what concurrent calls leave, last call of a key winning', async () => {
      fx = await make()
      const all = Array.from({ length: 50 }, (_, i) => entry(i))
      await Promise.all([
        ...all.map((e) => fx.store.put(keyOf(e), e)),
        ...all.filter((_, i) => i % 2 === 0).map((e) => fx.store.delete(keyOf(e))),
      ])
      expect(shape(await fx.store.list())).toEqual(shape(all.filter((_, i) => i % 2 === 1)))
    })

    it('survives a reopen (durable stores)', async () => {
      fx = await make()
      if (!fx.reopen) return
      const all = Array.from({ length: 5 }, (_, i) => entry(i))
      for (const e of all) await fx.store.put(keyOf(e), e)
      await fx.store.delete(keyOf(all[1]!))
      const failed = { ...all[3]!, failed: { code: 'too-large', message: 'body over the limit' } }
      await fx.store.put(keyOf(failed), failed)
      const again = await fx.reopen()
      expect(shape(await again.list())).toEqual(shape([all[0]!, all[2]!, failed, all[4]!]))
    })
  })
}

let dirs: string[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'peerchat-outbox-'))
  dirs.push(d)
  return d
}
let open: FileOutboxStore[] = []
const openStore = async (opts: Parameters<typeof FileOutboxStore.open>[0]) => {
  const s = await FileOutboxStore.open(opts)
  open.push(s)
  return s
}
afterEach(async () => {
  for (const s of open) await s.close()
  open = []
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs = []
})

runOutboxConformance('memory (the reference)', async () => ({
  store: new MemoryOutboxStore(),
  teardown: async () => {},
}))

runOutboxConformance('file', async () => {
  const dir = tempDir()
  let store = await openStore({ dir })
  return {
    store,
    reopen: async () => {
      await store.close()
      store = await openStore({ dir })
      return store
    },
    teardown: async () => {},
  }
})

const journal = (dir: string) => join(dir, 'outbox.log')
/** Three entries written and the store closed: the journal holds three put records. */
async function threeEntries(dir: string): Promise<OutboxEntry[]> {
  const store = await FileOutboxStore.open({ dir })
  const all = [entry(1), entry(2), entry(3)]
  for (const e of all) await store.put(keyOf(e), e)
  await store.close()
  return all
}

describe('FileOutboxStore recovery (as the FileStore: cut at the first bad record)', () => {
  it('cuts a torn tail and keeps every whole record before it; later writes land after it', async () => {
    const dir = tempDir()
    const all = await threeEntries(dir)
    const whole = statSync(journal(dir)).size
    // Half of a fourth put, as a crash mid-write leaves it.
    const torn = encodeRecord(RecordType.outboxPut, new Uint8Array(300).fill(7))
    appendFileSync(journal(dir), torn.subarray(0, 120))
    const again = await openStore({ dir })
    expect(shape(await again.list())).toEqual(shape(all))
    expect(again.recovery).toMatchObject({ records: 3, truncatedBytes: 120, invalidRecords: 0, entries: 3 })
    expect(statSync(journal(dir)).size).toBe(whole)
    const more = entry(4)
    await again.put(keyOf(more), more)
    await again.close()
    const third = await openStore({ dir })
    expect(shape(await third.list())).toEqual(shape([...all, more]))
    expect(third.recovery.truncatedBytes).toBe(0)
  })

  it('cuts garbage appended to the journal', async () => {
    const dir = tempDir()
    const all = await threeEntries(dir)
    const garbage = Buffer.from('this is not a record, just bytes on the end of the file')
    appendFileSync(journal(dir), garbage)
    const again = await openStore({ dir })
    expect(shape(await again.list())).toEqual(shape(all))
    expect(again.recovery.truncatedBytes).toBe(garbage.length)
  })

  it('stops at a rotten record: the records before it are kept, those after it are lost', async () => {
    const dir = tempDir()
    const all = await threeEntries(dir)
    const bytes = readFileSync(journal(dir))
    const first = bytes.readUInt32LE(0) + 8
    const rotten = Buffer.from(bytes)
    rotten[first + 30]! ^= 0xff // inside the second record: its CRC fails
    writeFileSync(journal(dir), rotten)
    const again = await openStore({ dir })
    expect(shape(await again.list())).toEqual(shape(all.slice(0, 1)))
    expect(again.recovery.truncatedBytes).toBe(bytes.length - first)
  })

  it('opens a journal that is garbage from its first byte as empty (and cuts it)', async () => {
    const dir = tempDir()
    writeFileSync(journal(dir), Buffer.alloc(4096, 0xab))
    const store = await openStore({ dir })
    expect(await store.list()).toEqual([])
    expect(store.recovery.truncatedBytes).toBe(4096)
    expect(statSync(journal(dir)).size).toBe(0)
  })

  it('skips a well-framed record that does not decode, and reads on after it', async () => {
    const dir = tempDir()
    const all = await threeEntries(dir)
    appendFileSync(journal(dir), encodeRecord(RecordType.outboxPut, new Uint8Array(40).fill(1)))
    appendFileSync(journal(dir), encodeRecord(RecordType.outboxDelete, new Uint8Array(0)))
    const store = await FileOutboxStore.open({ dir })
    const more = entry(4)
    await store.put(keyOf(more), more)
    await store.close()
    const again = await openStore({ dir })
    expect(again.recovery).toMatchObject({ records: 6, invalidRecords: 2, truncatedBytes: 0 })
    expect(shape(await again.list())).toEqual(shape([...all, more]))
  })

  it('treats a record type of another file as corruption', async () => {
    const dir = tempDir()
    const all = await threeEntries(dir)
    appendFileSync(journal(dir), encodeRecord(RecordType.event, fakeStoredEvent(CH, 0).digest))
    const again = await openStore({ dir })
    expect(shape(await again.list())).toEqual(shape(all))
    expect(again.recovery.truncatedBytes).toBeGreaterThan(0)
  })
})

describe('FileOutboxStore bounds', () => {
  it('holds MAX_OUTBOX entries, refuses one more with a LimitError, and takes it after a delete', async () => {
    const dir = tempDir()
    const store = await openStore({ dir })
    const all = Array.from({ length: MAX_OUTBOX }, (_, i) => entry(i))
    await Promise.all(all.map((e) => store.put(keyOf(e), e)))
    const extra = entry(MAX_OUTBOX)
    const refused = await store.put(keyOf(extra), extra).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(LimitError)
    expect((refused as LimitError).limit).toBe('maxEntries')
    // Replacing an entry is no new entry.
    await store.put(keyOf(all[0]!), { ...all[0]!, failed: { code: 'x', message: 'y' } })
    await store.close()
    const again = await openStore({ dir })
    expect((await again.list()).length).toBe(MAX_OUTBOX)
    await expect(again.put(keyOf(extra), extra)).rejects.toBeInstanceOf(LimitError)
    // Capacity follows call order: a delete called before the put makes room for it.
    const pending = [again.delete(keyOf(all[5]!)), again.put(keyOf(extra), extra)]
    await Promise.all(pending)
    expect((await again.list()).length).toBe(MAX_OUTBOX)
  })

  it('takes a smaller maxEntries', async () => {
    const store = await openStore({ dir: tempDir(), maxEntries: 2 })
    await store.put(keyOf(entry(1)), entry(1))
    await store.put(keyOf(entry(2)), entry(2))
    await expect(store.put(keyOf(entry(3)), entry(3))).rejects.toThrow(/outbox full \(2/)
    await expect(FileOutboxStore.open({ dir: tempDir(), maxEntries: 0 })).rejects.toThrow(RangeError)
  })

  it('refuses bad keys and times, and cuts a long refusal message', async () => {
    const store = await openStore({ dir: tempDir() })
    await expect(store.put('', entry(1))).rejects.toThrow(RangeError)
    await expect(store.put('k'.repeat(257), entry(1))).rejects.toThrow(RangeError)
    await expect(store.put('k', { ...entry(1), queuedAt: Number.NaN })).rejects.toThrow(RangeError)
    // A request that would not read back at the next open (a malformed channel name).
    await expect(
      store.put('k', { ...entry(1), request: { ...request(1), channel: 'no spaces' } }),
    ).rejects.toThrow()
    await store.put('k', { ...entry(1), failed: { code: 'c', message: 'é'.repeat(5000) } })
    const [back] = await store.list()
    expect(Buffer.byteLength(back!.failed!.message)).toBeLessThanOrEqual(4096)
    expect(await store.list()).toHaveLength(1)
  })

  it('refuses every call once closed; close is idempotent and waits for pending writes', async () => {
    const dir = tempDir()
    const store = await FileOutboxStore.open({ dir })
    const put = store.put(keyOf(entry(1)), entry(1))
    await store.close()
    await put
    await store.close()
    await expect(store.put(keyOf(entry(2)), entry(2))).rejects.toThrow('outbox is closed')
    await expect(store.delete(keyOf(entry(1)))).rejects.toThrow('outbox is closed')
    await expect(store.list()).rejects.toThrow('outbox is closed')
    const again = await openStore({ dir })
    expect(await again.list()).toHaveLength(1)
  })
})

describe('FileOutboxStore writing', () => {
  it('groups concurrent calls into one write and one fdatasync', async () => {
    const store = await openStore({ dir: tempDir() })
    const all = Array.from({ length: 30 }, (_, i) => entry(i))
    await Promise.all(all.map((e) => store.put(keyOf(e), e)))
    expect(store.writes).toMatchObject({ batches: 1, syncs: 1, records: 30 })
  })

  it('rewrites a journal of mostly superseded records, and reopens to the same entries', async () => {
    const dir = tempDir()
    const opts = { dir, compactMinRecords: 64, compactRatio: 4 }
    const store = await openStore(opts)
    const kept: OutboxEntry[] = []
    // The Replica's life: each write put, then deleted once stamped; a few stay pending.
    for (let i = 0; i < 300; i++) {
      const e = entry(i)
      await store.put(keyOf(e), e)
      if (i % 50 === 0) kept.push(e)
      else await store.delete(keyOf(e))
    }
    expect(store.writes.compactions).toBeGreaterThan(0)
    const usage = store.diskUsage()
    expect(usage.records).toBeLessThan(64 + 2)
    expect(usage.bytes).toBe(statSync(journal(dir)).size)
    expect(shape(await store.list())).toEqual(shape(kept))
    await store.close()
    const again = await openStore(opts)
    expect(shape(await again.list())).toEqual(shape(kept))
  })

  it('removes a rewrite left half done by a crash (the journal beside it is whole)', async () => {
    const dir = tempDir()
    const all = await threeEntries(dir)
    writeFileSync(join(dir, 'outbox.log.new'), Buffer.alloc(100, 1))
    const again = await openStore({ dir })
    expect(existsSync(join(dir, 'outbox.log.new'))).toBe(false)
    expect(shape(await again.list())).toEqual(shape(all))
  })
})

describe('a Replica over a FileOutboxStore', () => {
  it('restarts with its pending writes (same keys, same signed requests)', async () => {
    const dir = tempDir()
    const signer = await Identity.fromSeed(new Uint8Array(32).fill(3))
    const relayKeys = [(await Identity.fromSeed(new Uint8Array(32).fill(4))).publicKey]
    const store = new MemoryStore()
    const outbox = await FileOutboxStore.open({ dir })
    const first = await Replica.open({ store, relayKeys, signer, outbox })
    // No relay: the writes stay pending.
    const w1 = await first.write(CH, 'message', new TextEncoder().encode('written offline'))
    const w2 = await first.write('random', 'message', new TextEncoder().encode('and another'))
    await first.stop()
    await outbox.close() // the process ends

    const reopened = await openStore({ dir })
    const second = await Replica.open({ store, relayKeys, signer, outbox: reopened })
    const writes = second.writes()
    expect(writes.map((w) => w.key)).toEqual([w1.key, w2.key])
    expect(writes.map((w) => w.state)).toEqual(['pending', 'pending'])
    expect(equalBytes(encodeRequest(writes[0]!.request), encodeRequest(w1.request))).toBe(true)
    expect(second.channels).toContain('random')
    await second.stop()
  })
})
