/** DocHandle and snapshots, rule by rule: batching, origins, limits, retries, snapshots. */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { BodyLimits, decodeYjs } from '../src/chat/bodies.ts'
import { Kind } from '../src/chat/kinds.ts'
import { createWriter, finish, writeU8, writeVarString, writeVarUint } from '../src/codec.ts'
import { DEFAULT_BATCH_MS, type DocHost, openDoc } from '../src/docs/doc-handle.ts'
import type { GuardVerdict, UpdateGuard } from '../src/docs/guard.ts'
import {
  applySnapshot,
  decodeSnapshot,
  encodeSnapshot,
  MAX_SNAPSHOT_IDS,
  snapshot,
} from '../src/docs/snapshot.ts'
import { LimitError } from '../src/errors.ts'
import type { StampedEvent } from '../src/event.ts'
import type { Identity } from '../src/identity/keys.ts'
import { publicKeyToText } from '../src/identity/keys.ts'
import { CHANNEL, cast, stamper } from './projection-fixtures.ts'

let alice: Identity
let bob: Identity
let stampAs: ReturnType<typeof stamper>

beforeAll(async () => {
  const c = await cast(2)
  ;[alice, bob] = c.users as [Identity, Identity]
  stampAs = stamper(c.relay)
})
afterEach(() => {
  vi.useRealTimers()
})

/** A host that stamps as `who` and records what it published. */
function recordingHost(who: Identity): DocHost & { log: StampedEvent[] } {
  const log: StampedEvent[] = []
  return {
    log,
    publish: async (channel, kind, body) => {
      const ev = await stampAs(who, kind, body, channel)
      log.push(ev)
      return ev
    },
  }
}

describe('DocHandle', () => {
  it(`batches local transactions for ${DEFAULT_BATCH_MS} ms into one merged, signed event`, async () => {
    vi.useFakeTimers()
    const host = recordingHost(alice)
    const h = openDoc(CHANNEL, 'notes', host)
    h.doc.getText('t').insert(0, 'hello')
    h.doc.getText('t').insert(5, ' world')
    h.doc.getMap('m').set('title', 'greeting')
    expect(host.log).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(DEFAULT_BATCH_MS - 1)
    expect(host.log).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(1)
    await h.flush()
    expect(host.log).toHaveLength(1)
    const ev = host.log[0]!
    expect(ev.kind).toBe(Kind.yjs)
    const replica = new Y.Doc()
    Y.applyUpdate(replica, decodeYjs(ev.body).update)
    expect(replica.getText('t').toString()).toBe('hello world')
    expect(h.history()).toEqual([{ id: ev.id, ts: ev.ts, author: publicKeyToText(alice.publicKey) }])
    await h.close()
  })

  it('with leading, publishes a change after a quiet window at once and collects the burst behind it', async () => {
    vi.useFakeTimers()
    const host = recordingHost(alice)
    const calls: number[] = [] // fake time of each publish call (stamping itself is real crypto)
    const timed: DocHost = {
      publish: (channel, kind, body) => {
        calls.push(Date.now())
        return host.publish(channel, kind, body)
      },
    }
    const t0 = Date.now()
    const h = openDoc(CHANNEL, 'notes', timed, { batchMs: 80, leading: true })
    const text = h.doc.getText('t')
    text.insert(0, 'a')
    await vi.advanceTimersByTimeAsync(0)
    expect(calls).toEqual([t0]) // the first keystroke: no wait
    text.insert(1, 'b')
    await vi.advanceTimersByTimeAsync(30)
    text.insert(2, 'c')
    await vi.advanceTimersByTimeAsync(49)
    expect(calls).toHaveLength(1) // within the window: collected
    await vi.advanceTimersByTimeAsync(1)
    expect(calls).toEqual([t0, t0 + 80]) // b and c in one event, one window after a
    await vi.advanceTimersByTimeAsync(500) // quiet again
    text.insert(3, 'd')
    await vi.advanceTimersByTimeAsync(0)
    expect(calls).toEqual([t0, t0 + 80, t0 + 580])
    vi.useRealTimers()
    await h.close()
    const replica = new Y.Doc()
    expect(host.log).toHaveLength(3)
    for (const ev of host.log) Y.applyUpdate(replica, decodeYjs(ev.body).update)
    expect(replica.getText('t').toString()).toBe('abcd')
  })

  it('refuses an event its authorize says no to before the update touches the document', async () => {
    const host = recordingHost(bob)
    const w = openDoc(CHANNEL, 'notes', host, { batchMs: 10_000 })
    w.doc.getText('t').insert(0, 'not yours to write')
    await w.flush()
    const asked: StampedEvent[] = []
    const reader = openDoc(CHANNEL, 'notes', recordingHost(alice), {
      authorize: (ev) => {
        asked.push(ev)
        return publicKeyToText(ev.author) !== publicKeyToText(bob.publicKey)
      },
    })
    const result = await reader.apply(host.log)
    expect(result).toEqual({ applied: [], rejected: [{ id: host.log[0]!.id, reason: 'not-permitted' }] })
    expect(asked).toHaveLength(1)
    expect(reader.doc.getText('t').toString()).toBe('')
    expect(reader.history()).toEqual([])
    // Final: delivered again, it is not asked about again.
    expect(await reader.apply(host.log)).toEqual({ applied: [], rejected: [] })
    for (const h of [w, reader]) await h.close()
  })

  it('does not re-publish remote updates (origin tracking) and records their authors', async () => {
    const a = recordingHost(alice)
    const b = recordingHost(bob)
    const ha = openDoc(CHANNEL, 'notes', a, { batchMs: 10_000 })
    const hb = openDoc(CHANNEL, 'notes', b, { batchMs: 10_000 })
    ha.doc.getText('t').insert(0, 'from alice')
    await ha.flush()
    expect((await hb.apply(a.log)).applied).toEqual([a.log[0]!.id])
    await hb.flush()
    expect(b.log).toHaveLength(0)
    expect(hb.doc.getText('t').toString()).toBe('from alice')
    expect(hb.history()[0]!.author).toBe(publicKeyToText(alice.publicKey))
    // Its own echo from the log is skipped.
    expect((await ha.apply(a.log)).applied).toEqual([])
    await ha.close()
    await hb.close()
  })

  it("records its own change once when the relay's echo arrives before publish resolves", async () => {
    const inner = recordingHost(alice)
    let handle: ReturnType<typeof openDoc> | undefined
    const host: DocHost = {
      publish: async (c, k, b) => {
        const ev = await inner.publish(c, k, b)
        if (ev) await handle!.apply([ev]) // the fan-out beats the publish acknowledgement
        return ev
      },
    }
    handle = openDoc(CHANNEL, 'notes', host, { batchMs: 10_000 })
    handle.doc.getText('t').insert(0, 'echo')
    await handle.flush()
    expect(handle.history().map((c) => c.id)).toEqual([inner.log[0]!.id])
    expect(handle.covered()).toEqual([inner.log[0]!.id])
    await handle.close()
  })

  it('refuses a local change too large for one event with a LimitError', async () => {
    const h = openDoc(CHANNEL, 'notes', recordingHost(alice), { batchMs: 10_000 })
    h.doc.getText('t').insert(0, 'x'.repeat(BodyLimits.yjsUpdate + 1))
    await expect(h.flush()).rejects.toBeInstanceOf(LimitError)
    await h.close()
  })

  it('splits many pending transactions into events that each fit', async () => {
    const host = recordingHost(alice)
    const h = openDoc(CHANNEL, 'notes', host, { batchMs: 10_000 })
    const chunk = 'y'.repeat(BodyLimits.yjsUpdate / 4)
    for (let i = 0; i < 6; i++) h.doc.getText('t').insert(0, chunk)
    await h.flush()
    expect(host.log.length).toBeGreaterThan(1)
    const replica = new Y.Doc()
    for (const ev of host.log) Y.applyUpdate(replica, decodeYjs(ev.body).update)
    expect(replica.getText('t').length).toBe(chunk.length * 6)
    await h.close()
  })

  it('keeps a batch whose publication failed and sends it on the next flush', async () => {
    const inner = recordingHost(alice)
    let fail = true
    const host: DocHost = {
      publish: (c, k, b) => (fail ? Promise.reject(new Error('offline')) : inner.publish(c, k, b)),
    }
    const h = openDoc(CHANNEL, 'notes', host, { batchMs: 10_000 })
    h.doc.getText('t').insert(0, 'persist me')
    await expect(h.flush()).rejects.toThrow('offline')
    fail = false
    await h.flush()
    expect(inner.log).toHaveLength(1)
    await h.close()
  })

  it('close() flushes, detaches and is idempotent; no timer is left behind', async () => {
    vi.useFakeTimers()
    const host = recordingHost(alice)
    const h = openDoc(CHANNEL, 'notes', host)
    h.doc.getText('t').insert(0, 'bye')
    await h.close()
    await h.close()
    expect(host.log).toHaveLength(1)
    expect(vi.getTimerCount()).toBe(0)
    h.doc.getText('t').insert(0, 'after close')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('retries an update refused for a machine-dependent reason, never one refused for its bytes', async () => {
    const writer = recordingHost(alice)
    const w = openDoc(CHANNEL, 'notes', writer, { batchMs: 10_000 })
    w.doc.getText('t').insert(0, 'late')
    await w.flush()
    const verdicts: GuardVerdict[] = [{ ok: false, reason: 'timeout' }, { ok: true }]
    const flaky: UpdateGuard = { check: async () => verdicts.shift() ?? { ok: true }, close() {} }
    const h = openDoc(CHANNEL, 'notes', recordingHost(bob), { guard: flaky })
    expect((await h.apply(writer.log)).rejected).toEqual([{ id: writer.log[0]!.id, reason: 'timeout' }])
    expect((await h.apply(writer.log)).applied).toEqual([writer.log[0]!.id])
    expect(h.doc.getText('t').toString()).toBe('late')
    const strict: UpdateGuard = { check: async () => ({ ok: false, reason: 'too-many-structs' }), close() {} }
    const s = openDoc(CHANNEL, 'notes', recordingHost(bob), { guard: strict })
    expect((await s.apply(writer.log)).rejected).toHaveLength(1)
    expect(await s.apply(writer.log)).toEqual({ applied: [], rejected: [] })
    await Promise.all([w.close(), h.close(), s.close()])
  })

  it('rejects invalid document names', () => {
    expect(() => openDoc(CHANNEL, 'Bad Name', recordingHost(alice))).toThrow(RangeError)
  })
})

describe('snapshots', () => {
  it('a newcomer applies one snapshot then later events, and gets the same document', async () => {
    const host = recordingHost(alice)
    const h = openDoc(CHANNEL, 'notes', host, { batchMs: 10_000 })
    for (let i = 0; i < 50; i++) {
      h.doc.getText('t').insert(0, `${i} `)
      await h.flush()
    }
    const snap = decodeSnapshot(encodeSnapshot(await snapshot(h)))
    expect(snap.covered).toHaveLength(50)
    h.doc.getText('t').insert(0, 'later ')
    await h.flush()

    const newcomer = openDoc(CHANNEL, 'notes', recordingHost(bob), { batchMs: 10_000 })
    expect(await applySnapshot(newcomer, snap)).toEqual({ ok: true })
    const r = await newcomer.apply(host.log) // the whole log: only the uncovered event applies
    expect(r.applied).toEqual([host.log.at(-1)!.id])
    expect(newcomer.doc.getText('t').toString()).toBe(h.doc.getText('t').toString())
    expect(Y.encodeStateVector(newcomer.doc)).toEqual(Y.encodeStateVector(h.doc))
    await h.close()
    await newcomer.close()
  })

  it('refuses a snapshot of another document, and an empty one still covers its ids', async () => {
    const h = openDoc(CHANNEL, 'notes', recordingHost(alice))
    const empty = await snapshot(openDoc(CHANNEL, 'notes', recordingHost(bob)))
    expect(await applySnapshot(h, { ...empty, doc: 'other' })).toEqual({
      ok: false,
      reason: 'wrong-document',
    })
    const id = (await stampAs(bob, Kind.yjs, Uint8Array.of(1))).id
    expect(await applySnapshot(h, { ...empty, covered: [id] })).toEqual({ ok: true })
    expect(h.covered()).toEqual([id])
    await h.close()
  })

  it('refuses a hostile snapshot: the guard verdict is returned, the document untouched, its covered ids not skipped', async () => {
    const host = recordingHost(alice)
    const h = openDoc(CHANNEL, 'notes', host, { batchMs: 10_000 })
    for (const word of ['one ', 'two ', 'three ']) {
      h.doc.getText('t').insert(0, word)
      await h.flush()
    }
    // A well-formed update the guard refuses (a sub-document), claiming to cover the real events.
    const bad = new Y.Doc()
    bad.getText('t').insert(0, 'forged ')
    bad.getMap('m').set('sub', new Y.Doc())
    const hostile = {
      channel: CHANNEL,
      doc: 'notes',
      covered: host.log.map((e) => e.id),
      state: Y.encodeStateAsUpdate(bad),
    }
    const newcomer = openDoc(CHANNEL, 'notes', recordingHost(bob), { batchMs: 10_000 })
    const before = Y.encodeStateAsUpdate(newcomer.doc)
    expect(await applySnapshot(newcomer, hostile)).toEqual({ ok: false, reason: 'subdocument' })
    expect(Y.encodeStateAsUpdate(newcomer.doc)).toEqual(before)
    expect(newcomer.covered()).toEqual([])
    // The events it claimed to cover still apply when the log delivers them.
    const r = await newcomer.apply(host.log)
    expect(r.applied).toEqual(host.log.map((e) => e.id))
    expect(newcomer.doc.getText('t').toString()).toBe('three two one ')
    await h.close()
    await newcomer.close()
  })

  it('decodes only canonical, bounded snapshots', async () => {
    const bytes = (count: number, ids: Uint8Array[] = []) => {
      const w = createWriter()
      writeU8(w, 1)
      writeVarString(w, CHANNEL)
      writeVarString(w, 'notes')
      writeVarUint(w, count)
      for (const id of ids) for (const b of id) writeU8(w, b)
      writeVarUint(w, 0)
      return finish(w)
    }
    expect(() => decodeSnapshot(bytes(MAX_SNAPSHOT_IDS + 1))).toThrow(/exceeds limit/)
    const id = new Uint8Array(16).fill(1)
    expect(() => decodeSnapshot(bytes(2, [id, id]))).toThrow(/ascending/)
    expect(decodeSnapshot(bytes(1, [id])).covered).toHaveLength(1)
  })
})
