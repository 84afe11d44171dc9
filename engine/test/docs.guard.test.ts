/**
 * Hostile Yjs updates: oversized, empty, malformed, crafted (yjs #687's sample, absurd
 * clocks and delete ranges, struct floods, sub-documents) and random mutations of valid
 * updates are refused by the pure pass and by the worker guard, without hanging the test
 * thread; a worker that misses its deadline is replaced and the guard keeps working.
 */
import fc from 'fast-check'
import * as encoding from 'lib0/encoding'
import { afterAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeYjs } from '../src/chat/bodies.ts'
import { Kind } from '../src/chat/kinds.ts'
import { DocHandle } from '../src/docs/doc-handle.ts'
import {
  DEFAULT_UPDATE_LIMITS,
  inlineGuard,
  SNAPSHOT_UPDATE_LIMITS,
  validateUpdate,
} from '../src/docs/guard.ts'
import { type GuardRequest, serveGuardRequests } from '../src/docs/thread-guard.ts'
import { createWebWorkerGuard, type WebWorkerLike } from '../src/docs/web-worker-guard.ts'
import { createWorkerGuard } from '../src/node/index.ts'
import { CHANNEL, cast, stamper } from './projection-fixtures.ts'

const craft = (write: (e: encoding.Encoder) => void): Uint8Array => {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}
const u = (e: encoding.Encoder, ...ns: number[]) => {
  for (const n of ns) encoding.writeVarUint(e, n)
}

/** One client's struct section header: count, client, first clock. */
const hostile: Record<string, { bytes: Uint8Array; reason: string }> = {
  empty: { bytes: new Uint8Array(0), reason: 'empty' },
  oversized: { bytes: new Uint8Array(DEFAULT_UPDATE_LIMITS.maxBytes + 1), reason: 'too-large' },
  garbage: { bytes: Uint8Array.from(atob('garbagedoc'), (c) => c.charCodeAt(0)), reason: 'malformed' },
  'yjs#687 V2 sample read as V1': {
    bytes: Uint8Array.from('00010000000001000100010200001602000001fdffffffff7f0000'.match(/../g)!, (h) =>
      Number.parseInt(h, 16),
    ),
    reason: 'no-op',
  },
  'GC run of 2^50': {
    bytes: craft((e) => {
      u(e, 1, 1, 1, 0)
      encoding.writeUint8(e, 0)
      u(e, 2 ** 50, 0)
    }),
    reason: 'clock-out-of-range',
  },
  'delete range of 2^45': { bytes: craft((e) => u(e, 0, 1, 5, 1, 0, 2 ** 45)), reason: 'clock-out-of-range' },
  'struct count of 2^31': {
    bytes: craft((e) => {
      u(e, 1, 2 ** 31, 1, 0)
      encoding.writeUint8(e, 0)
      u(e, 1)
    }),
    reason: 'malformed',
  },
  'struct flood': {
    bytes: craft((e) => {
      const n = DEFAULT_UPDATE_LIMITS.maxStructs + 1
      u(e, 1, n, 1, 0)
      for (let i = 0; i < n; i++) {
        encoding.writeUint8(e, 0)
        u(e, 1)
      }
      u(e, 0)
    }),
    reason: 'too-many-structs',
  },
  'delete-range flood': {
    // 130 clients x 127 one-byte ranges: over the count cap while under the byte cap.
    bytes: craft((e) => {
      u(e, 0, 130)
      for (let client = 0; client < 130; client++) {
        u(e, client, 127)
        for (let clock = 0; clock < 127; clock++) u(e, clock, 1)
      }
    }),
    reason: 'too-many-deletes',
  },
  subdocument: {
    bytes: (() => {
      const d = new Y.Doc()
      d.getMap('m').set('sub', new Y.Doc())
      return Y.encodeStateAsUpdate(d)
    })(),
    reason: 'subdocument',
  },
  truncated: {
    bytes: (() => {
      const d = new Y.Doc()
      d.getText('t').insert(0, 'hello world')
      const full = Y.encodeStateAsUpdate(d)
      return full.subarray(0, full.length - 4)
    })(),
    reason: 'malformed',
  },
}

function validUpdate(text: string): Uint8Array {
  const d = new Y.Doc()
  d.getText('t').insert(0, text)
  d.getText('t').delete(0, Math.min(2, text.length))
  d.getMap('m').set('k', text)
  return Y.encodeStateAsUpdate(d)
}

const guard = createWorkerGuard({ deadlineMs: 5_000 })
afterAll(() => guard.close())

describe('validateUpdate (pure pass)', () => {
  for (const [name, { bytes, reason }] of Object.entries(hostile))
    it(`refuses ${name} as ${reason}`, () => {
      expect(validateUpdate(bytes)).toEqual({ ok: false, reason })
    })

  it('accepts ordinary updates and honours each limit', () => {
    const ok = validUpdate('hello')
    expect(validateUpdate(ok)).toEqual({ ok: true })
    expect(validateUpdate(ok, { ...DEFAULT_UPDATE_LIMITS, maxBytes: ok.length - 1 })).toEqual({
      ok: false,
      reason: 'too-large',
    })
    expect(validateUpdate(ok, { ...DEFAULT_UPDATE_LIMITS, maxStructs: 1 })).toEqual({
      ok: false,
      reason: 'too-many-structs',
    })
    expect(validateUpdate(ok, { ...DEFAULT_UPDATE_LIMITS, maxClock: 3 })).toEqual({
      ok: false,
      reason: 'clock-out-of-range',
    })
    expect(validateUpdate(ok, { ...DEFAULT_UPDATE_LIMITS, maxDeleteRanges: 0 })).toEqual({
      ok: false,
      reason: 'too-many-deletes',
    })
  })
})

describe('worker guard', () => {
  for (const [name, { bytes, reason }] of Object.entries(hostile))
    it(`refuses ${name} off-thread`, async () => {
      expect(await guard.check(bytes)).toEqual({ ok: false, reason })
    })

  it('never hangs on random mutations of valid updates; agrees with the inline guard; what it accepts applies (200 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.array(
          fc.record({
            at: fc.nat(),
            byte: fc.integer({ min: 0, max: 255 }),
            op: fc.constantFrom('set', 'ins', 'del'),
          }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        async (text, edits) => {
          const bytes = Array.from(validUpdate(text))
          for (const { at, byte, op } of edits) {
            const i = at % (bytes.length + 1)
            if (op === 'set' && i < bytes.length) bytes[i] = byte
            else if (op === 'ins') bytes.splice(i, 0, byte)
            else bytes.splice(i, 1)
          }
          const update = Uint8Array.from(bytes)
          const verdict = await guard.check(update)
          expect(verdict.ok ? 'ok' : verdict.reason).not.toBe('timeout')
          expect(await inlineGuard.check(update)).toEqual(verdict) // every guard agrees
          if (verdict.ok) Y.applyUpdate(new Y.Doc(), update) // must not throw once approved
        },
      ),
      { numRuns: 200 },
    )
  })

  it('structure-aware fuzz: crafted V1 updates never hang; what passes applies cleanly (200 runs)', async () => {
    const varuint = fc.oneof(
      { weight: 6, arbitrary: fc.nat(8) },
      { weight: 3, arbitrary: fc.nat(300) },
      { weight: 1, arbitrary: fc.constantFrom(2 ** 31, 2 ** 40, 2 ** 53 - 1) },
    )
    // Mostly well-formed templates (GC, skip, deleted or string items in a root type, items
    // with origins), sometimes random info bytes and fields.
    const str = fc.string({ maxLength: 4 })
    const root = fc.constantFrom('t', 'm')
    const struct = fc.oneof(
      { weight: 3, arbitrary: fc.record({ info: fc.constantFrom(0, 10), fields: fc.tuple(varuint) }) },
      {
        weight: 3,
        arbitrary: fc.record({ info: fc.constant(1), fields: fc.tuple(fc.constant(1), root, varuint) }),
      },
      {
        weight: 3,
        arbitrary: fc.record({ info: fc.constant(4), fields: fc.tuple(fc.constant(1), root, str) }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          info: fc.constantFrom(0x84, 0x44),
          fields: fc.tuple(fc.nat(5), varuint, str),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          info: fc.constant(0xc4),
          fields: fc.tuple(fc.nat(5), varuint, fc.nat(5), varuint, str),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          info: fc.integer({ min: 0, max: 255 }),
          fields: fc.array(fc.oneof(varuint, str), { maxLength: 5 }),
        }),
      },
    )
    // Usually the struct count matches the structs written; sometimes it lies.
    const client = fc
      .record({
        lie: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: varuint }),
        client: fc.nat(5),
        clock: varuint,
        structs: fc.array(struct, { minLength: 1, maxLength: 4 }),
      })
      .map((c) => ({ ...c, count: c.lie ?? c.structs.length }))
    const ds = fc.array(
      fc.record({ client: fc.nat(5), ranges: fc.array(fc.tuple(varuint, varuint), { maxLength: 3 }) }),
      { maxLength: 2 },
    )
    await fc.assert(
      fc.asyncProperty(fc.array(client, { minLength: 1, maxLength: 3 }), ds, async (clients, deletes) => {
        const update = craft((e) => {
          u(e, clients.length)
          for (const c of clients) {
            u(e, c.count, c.client, c.clock)
            for (const s of c.structs) {
              encoding.writeUint8(e, s.info)
              for (const f of s.fields) typeof f === 'number' ? u(e, f) : encoding.writeVarString(e, f)
            }
          }
          u(e, deletes.length)
          for (const d of deletes) {
            u(e, d.client, d.ranges.length)
            for (const [clock, len] of d.ranges) u(e, clock, len)
          }
        })
        const verdict = await guard.check(update)
        expect(verdict.ok ? 'ok' : verdict.reason).not.toBe('timeout')
        expect(await inlineGuard.check(update)).toEqual(verdict) // every guard agrees
        if (verdict.ok) Y.applyUpdate(new Y.Doc(), update)
      }),
      { numRuns: 200 },
    )
  })

  it('kills a worker that misses its deadline, refuses that update and keeps serving', async () => {
    const impatient = createWorkerGuard({ deadlineMs: 1 })
    try {
      const big = new Y.Doc()
      for (let i = 0; i < 2000; i++) big.getText('t').insert(0, `line ${i}\n`)
      const state = Y.encodeStateAsUpdate(big)
      const verdicts = await Promise.all([
        impatient.check(state, SNAPSHOT_UPDATE_LIMITS),
        impatient.check(validUpdate('after')),
      ])
      expect(verdicts[0]).toEqual({ ok: false, reason: 'timeout' })
      // The queued update went to a fresh worker; with a 1 ms deadline it may also time out
      // while the worker boots, so only require an answer, then check a patient guard agrees.
      expect(verdicts[1]).toBeDefined()
      expect(await guard.check(state, SNAPSHOT_UPDATE_LIMITS)).toEqual({ ok: true })
    } finally {
      impatient.close()
    }
  })

  it('a worker that exhausts its heap cap dies alone; the update is refused and the guard recovers', async () => {
    const small = createWorkerGuard({ heapMb: 16, deadlineMs: 30_000 })
    try {
      // A legitimate-looking state whose integration needs far more than 16 MiB of heap.
      const big = new Y.Doc({ gc: false })
      const arr = big.getArray<number>('a')
      for (let i = 0; i < 300_000; i++) arr.insert(i % 7 === 0 ? 0 : arr.length, [i])
      const state = Y.encodeStateAsUpdate(big)
      expect(state.length).toBeLessThan(SNAPSHOT_UPDATE_LIMITS.maxBytes)
      expect(await small.check(state, SNAPSHOT_UPDATE_LIMITS)).toEqual({ ok: false, reason: 'worker-died' })
      expect(await small.check(validUpdate('still here'))).toEqual({ ok: true })
    } finally {
      small.close()
    }
  })

  it('close() is idempotent and refuses later checks', async () => {
    const g = createWorkerGuard()
    g.close()
    g.close()
    expect(await g.check(validUpdate('x'))).toEqual({ ok: false, reason: 'closed' })
  })
})

describe('web worker guard (with a fake Worker standing in for the browser)', () => {
  /** Runs the real worker side in-process; `hang` swallows requests, `broken` fails to load. */
  class FakeWorker implements WebWorkerLike {
    static started = 0
    private onMessage: ((e: { data: unknown }) => void) | undefined
    private onError: (() => void) | undefined
    private handler: ((req: GuardRequest) => void) | undefined
    terminated = false
    constructor(private readonly mode: 'ok' | 'hang' | 'broken') {
      FakeWorker.started++
      queueMicrotask(() => {
        if (mode === 'broken') return this.onError?.()
        serveGuardRequests(
          (h) => {
            this.handler = h
          },
          (res) => queueMicrotask(() => this.onMessage?.({ data: res })),
        )
      })
    }
    postMessage(message: unknown): void {
      if (this.mode === 'hang' || this.terminated) return
      queueMicrotask(() => this.handler?.(message as GuardRequest))
    }
    terminate(): void {
      this.terminated = true
    }
    addEventListener(type: string, listener: (e: { data: unknown }) => void): void {
      if (type === 'message') this.onMessage = listener
      else this.onError = () => listener({ data: undefined })
    }
  }

  it('answers in order, refuses hostile updates, replaces a worker that hangs', async () => {
    const modes: ('ok' | 'hang' | 'broken')[] = ['hang', 'ok']
    const g = createWebWorkerGuard({
      deadlineMs: 50,
      createWorker: () => new FakeWorker(modes.shift() ?? 'ok'),
    })
    try {
      const before = FakeWorker.started
      const [hung, next] = await Promise.all([g.check(validUpdate('a')), g.check(hostile.subdocument!.bytes)])
      expect(hung).toEqual({ ok: false, reason: 'timeout' })
      expect(next).toEqual({ ok: false, reason: 'subdocument' })
      expect(await g.check(validUpdate('b'))).toEqual({ ok: true })
      expect(FakeWorker.started - before).toBe(2)
    } finally {
      g.close()
    }
  })

  it('reports a worker that cannot start', async () => {
    const g = createWebWorkerGuard({ createWorker: () => new FakeWorker('broken') })
    expect(await g.check(validUpdate('c'))).toEqual({ ok: false, reason: 'worker-unavailable' })
    g.close()
  })
})

describe('DocHandle with a hostile peer', () => {
  it('rejects hostile yjs events, keeps applying good ones', async () => {
    const { relay, users } = await cast(2)
    const stampAs = stamper(relay)
    const handle = new DocHandle(CHANNEL, 'notes', { publish: async () => {} }, { guard })
    const bad = await stampAs(
      users[1]!,
      Kind.yjs,
      encodeYjs({ doc: 'notes', update: hostile['GC run of 2^50']!.bytes }),
    )
    const malformedBody = await stampAs(users[1]!, Kind.yjs, Uint8Array.of(1, 200))
    const good = await stampAs(users[0]!, Kind.yjs, encodeYjs({ doc: 'notes', update: validUpdate('fine') }))
    const other = await stampAs(
      users[0]!,
      Kind.yjs,
      encodeYjs({ doc: 'other', update: validUpdate('elsewhere') }),
    )
    const r = await handle.apply([bad, malformedBody, good, other])
    expect(r.applied).toEqual([good.id])
    expect(r.rejected).toEqual([
      { id: malformedBody.id, reason: 'malformed-body' },
      { id: bad.id, reason: 'clock-out-of-range' },
    ])
    expect(handle.doc.getMap('m').get('k')).toBe('fine')
    expect(handle.covered()).toEqual([good.id])
  })
})
