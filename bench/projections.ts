/**
 * Projections: how fast the ChannelView folds events, and what signing costs a Yjs document.
 *
 *   pnpm bench:projections
 *   VIEW_EVENTS=20000 YJS_EDITS=2000 ROUNDS=1 pnpm bench:projections   # a quicker run
 *
 * 1. ChannelView: 100,000 chat events (messages, replies, edits, reactions, redactions,
 *    profiles) applied in ULID order and shuffled, against a baseline that only decodes the
 *    same bodies. The view trusts the log's verification, so these events carry dummy
 *    signatures (signing 200,000 times would only slow the setup).
 * 2. Signed Yjs: 10,000 text edits, each its own signed and stamped `yjs` event, applied to a
 *    fresh replica through the whole pipeline (verify relay + author signatures, decode,
 *    guard, apply), against plain Yjs applying the same raw updates unsigned; plus the same
 *    pipeline with the worker guard, and a newcomer starting from a snapshot.
 * Memory is the retained heap growth after a forced GC (`--expose-gc`).
 */

import {
  Identity,
  monotonicUlid,
  type StampedEvent,
  seededUniform,
  signRequest,
  stamp,
  type Ulid,
  ulidTime,
  verifyAuthor,
  verifyRelayStamp,
} from '@peerchat/engine'
import {
  ChannelView,
  decodeChatBody,
  encodeEdit,
  encodeMessage,
  encodeProfile,
  encodeReaction,
  encodeRedact,
  Kind,
  Role,
} from '@peerchat/engine/chat'
import { applySnapshot, openDoc, snapshot } from '@peerchat/engine/docs'
import { createWorkerGuard, useNodeCrypto } from '@peerchat/engine/node'
import * as Y from 'yjs'
import { median } from './cli.ts'

useNodeCrypto()
const VIEW_EVENTS = Number(process.env.VIEW_EVENTS ?? 100_000)
const YJS_EDITS = Number(process.env.YJS_EDITS ?? 10_000)
const ROUNDS = Number(process.env.ROUNDS ?? 3)

const gc = (globalThis as { gc?: () => void }).gc
function heapMb(): number {
  gc?.()
  gc?.()
  return process.memoryUsage().heapUsed / 2 ** 20
}
/** Lets finished async frames unwind so the previous case's objects are really garbage. */
async function settledHeapMb(): Promise<number> {
  await new Promise((r) => setImmediate(r))
  return heapMb()
}

/** A seeded PRNG so every run builds the same history. */
const prng = (seed: number): (() => number) => seededUniform(seed >>> 0)

function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now()
  const value = fn()
  return { ms: performance.now() - t0, value }
}
async function timeAsync<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now()
  const value = await fn()
  return { ms: performance.now() - t0, value }
}

const rows: string[][] = []
const row = (...cells: (string | number)[]) => {
  rows.push(cells.map(String))
  console.log(cells.join('  |  '))
}
const perSec = (n: number, ms: number) => Math.round((n / ms) * 1000).toLocaleString('en-US')

// ---------------------------------------------------------------------------------------
// 1. ChannelView
// ---------------------------------------------------------------------------------------
function chatHistory(n: number): StampedEvent[] {
  const rnd = prng(1)
  const authors = Array.from({ length: 50 }, (_, i) => new Uint8Array(32).fill(i + 1))
  const nextId = monotonicUlid(
    (() => {
      let t = 1_700_000_000_000
      return () => (t += 3)
    })(),
  )
  const zero16 = new Uint8Array(16)
  const zero64 = new Uint8Array(64)
  const messages: { id: Ulid; author: number }[] = []
  const events: StampedEvent[] = []
  for (let i = 0; i < n; i++) {
    const a = Math.floor(rnd() * authors.length)
    const r = rnd()
    const target = messages.length
      ? messages[messages.length - 1 - Math.floor(rnd() * Math.min(200, messages.length))]!
      : undefined
    let kind: string = Kind.message
    let body: Uint8Array
    if (!target || r < 0.55) {
      const reply = target && rnd() < 0.1 ? { replyTo: target.id } : {}
      body = encodeMessage({
        text: `message ${i} ${'lorem ipsum '.repeat(1 + (i % 5))}`,
        mentions: [],
        ...reply,
      })
    } else if (r < 0.75) {
      kind = Kind.reaction
      body = encodeReaction({ target: target.id, emoji: ['👍', '❤️', '😂'][i % 3]!, on: rnd() < 0.8 })
    } else if (r < 0.88) {
      kind = Kind.edit
      body = encodeEdit({ target: target.id, text: `edited ${i}` })
    } else if (r < 0.93) {
      kind = Kind.redact
      body = encodeRedact({ target: target.id })
    } else {
      kind = Kind.profile
      body = encodeProfile({ name: `user ${a} v${i}` })
    }
    const id = nextId()
    const author = kind === Kind.edit || kind === Kind.redact ? authors[target!.author]! : authors[a]!
    events.push({
      id,
      ts: ulidTime(id),
      channel: 'general',
      kind,
      author,
      clientNonce: zero16,
      body,
      authorSig: zero64,
      relaySig: zero64,
    })
    if (kind === Kind.message) messages.push({ id, author: a })
  }
  return events
}

interface Case {
  label: string
  run: () => Promise<{ ms: number; mem?: number }>
}

/**
 * The machine is shared: cases run interleaved for ROUNDS rounds and each reports its median,
 * so a burst of load from elsewhere skews one round of every case rather than one case.
 * The first case is the baseline of the ratios.
 */
async function runCases(suite: string, events: number, cases: Case[]): Promise<void> {
  const ms: number[][] = cases.map(() => [])
  const mem: number[][] = cases.map(() => [])
  for (let round = 0; round < ROUNDS; round++)
    for (const [i, c] of cases.entries()) {
      const r = await c.run()
      ms[i]!.push(r.ms)
      if (r.mem !== undefined) mem[i]!.push(r.mem)
    }
  const base = median(ms[0]!)
  for (const [i, c] of cases.entries()) {
    const m = median(ms[i]!)
    const heap = mem[i]!.length ? `${median(mem[i]!).toFixed(1)} MiB` : '-'
    row(suite, c.label, perSec(events, m), (base / m).toFixed(2), heap)
  }
}

async function benchView(): Promise<void> {
  console.log(`\n## ChannelView: ${VIEW_EVENTS.toLocaleString('en-US')} events, median of ${ROUNDS} rounds`)
  const events = chatHistory(VIEW_EVENTS)
  const shuffled = [...events]
  const rnd = prng(2)
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
  }
  const roles = () => new Set([Role.moderator])
  await runCases('view', VIEW_EVENTS, [
    {
      label: 'decode bodies only (baseline)',
      run: async () =>
        time(() => {
          let n = 0
          for (const ev of events) if (decodeChatBody(ev.kind, ev.body)) n++
          return n
        }),
    },
    { label: 'apply one by one, ULID order', run: async () => measureView(events, 1, roles) },
    { label: 'apply one by one, shuffled', run: async () => measureView(shuffled, 1, roles) },
    { label: 'apply in batches of 500, shuffled', run: async () => measureView(shuffled, 500, roles) },
  ])
}

/** One case in its own frame, so the previous case's view is garbage before this one starts. */
function measureView(
  input: readonly StampedEvent[],
  batch: number,
  roles: () => Set<string>,
): { ms: number; mem: number } {
  const before = heapMb()
  const view = new ChannelView('general', { roles })
  const r = time(() => {
    for (let i = 0; i < input.length; i += batch)
      view.apply(batch === 1 ? [input[i]!] : input.slice(i, i + batch))
  })
  const mem = heapMb() - before
  if (view.size === 0) throw new Error('empty view')
  return { ms: r.ms, mem }
}

// ---------------------------------------------------------------------------------------
// 2. Signed Yjs document
// ---------------------------------------------------------------------------------------
async function signedEdits(
  n: number,
): Promise<{ events: StampedEvent[]; updates: Uint8Array[]; final: Y.Doc; relayKey: Uint8Array }> {
  const relay = await Identity.fromSeed(new Uint8Array(32).fill(9))
  const typist = await Identity.fromSeed(new Uint8Array(32).fill(3))
  const nextId = monotonicUlid()
  const events: StampedEvent[] = []
  const updates: Uint8Array[] = []
  let nonce = 0
  const handle = openDoc(
    'general',
    'notes',
    {
      publish: async (channel, kind, body) => {
        const clientNonce = new Uint8Array(16)
        new DataView(clientNonce.buffer).setUint32(12, ++nonce)
        const ev = await stamp(
          relay,
          nextId(),
          await signRequest(typist, { channel, kind, body, clientNonce }),
        )
        events.push(ev)
        return ev
      },
    },
    { batchMs: 60_000 },
  )
  handle.doc.on('update', (u: Uint8Array) => updates.push(u))
  const text = handle.doc.getText('t')
  const rnd = prng(3)
  for (let i = 0; i < n; i++) {
    if (text.length > 10 && rnd() < 0.2) text.delete(Math.floor(rnd() * (text.length - 3)), 3)
    else text.insert(Math.floor(rnd() * (text.length + 1)), 'abcde'.slice(0, 1 + Math.floor(rnd() * 5)))
    await handle.flush() // one signed event per edit: the worst case for signing overhead
  }
  return { events, updates, final: handle.doc, relayKey: relay.publicKey }
}

async function benchYjs(): Promise<void> {
  console.log(
    `\n## Signed Yjs: ${YJS_EDITS.toLocaleString('en-US')} text edits, one event each, median of ${ROUNDS} rounds`,
  )
  const { events, updates, final, relayKey } = await signedEdits(YJS_EDITS)
  const expected = final.getText('t').toString()
  const host = { publish: async () => undefined }
  const check = (doc: Y.Doc, label: string) => {
    if (doc.getText('t').toString() !== expected) throw new Error(`${label} diverged`)
  }

  const plain = async () => {
    const before = await settledHeapMb()
    const doc = new Y.Doc()
    const r = time(() => {
      for (const u of updates) Y.applyUpdate(doc, u)
    })
    const mem = heapMb() - before
    check(doc, 'plain Yjs')
    return { ms: r.ms, mem }
  }

  const pipeline = async (verify: boolean, guard?: ReturnType<typeof createWorkerGuard>) => {
    const before = await settledHeapMb()
    const replica = openDoc('general', 'notes', host, guard ? { guard } : {})
    const r = await timeAsync(async () => {
      for (let i = 0; i < events.length; i += 100) {
        const batch = events.slice(i, i + 100)
        if (verify) {
          const ok = await Promise.all(
            batch.map(async (e) => (await verifyRelayStamp(e, relayKey)) && (await verifyAuthor(e))),
          )
          if (ok.includes(false)) throw new Error('bad signature')
        }
        const res = await replica.apply(batch)
        if (res.rejected.length) throw new Error(`rejected ${JSON.stringify(res.rejected[0])}`)
      }
    })
    const mem = heapMb() - before
    check(replica.doc, 'signed pipeline')
    return { ms: r.ms, mem }
  }

  // What a peer serves a newcomer: a snapshot of the full document with every id covered.
  const source = openDoc('general', 'notes', host)
  await source.apply(events)
  const snap = await snapshot(source)
  const newcomer = async () => {
    const doc = openDoc('general', 'notes', host)
    const r = await timeAsync(async () => {
      await applySnapshot(doc, snap)
      await doc.apply(events) // everything is covered: skipped by id
    })
    check(doc.doc, 'snapshot newcomer')
    return { ms: r.ms }
  }

  const worker = createWorkerGuard()
  try {
    await runCases('yjs', YJS_EDITS, [
      { label: 'plain Yjs, unsigned (baseline)', run: plain },
      {
        label: 'signed: decode + inline guard + apply (signatures checked by the log)',
        run: () => pipeline(false),
      },
      { label: 'signed: verify 2 sigs + decode + inline guard + apply', run: () => pipeline(true) },
      { label: 'signed: verify 2 sigs + decode + worker guard + apply', run: () => pipeline(true, worker) },
      {
        label: `newcomer: snapshot (${(snap.state.length / 1024).toFixed(0)} KiB) + skip covered events`,
        run: newcomer,
      },
    ])
  } finally {
    worker.close()
  }
}

console.log(
  `node ${process.version}, ${(await import('node:os')).cpus().length} cores, gc ${gc ? 'on' : 'off (run with --expose-gc)'}`,
)
console.log('suite | case | events/s | ratio to baseline | retained heap')
await benchView()
await benchYjs()
