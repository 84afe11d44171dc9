/**
 * Issue #13, "Stamps": stamped events/s on ONE relay core with 10 subscribers, relay-added
 * latency, event size, and what the stamp format costs peers catching up.
 *
 *   pnpm bench:stamps                                   # 3 rounds per case (~3 min)
 *   BENCH_ROUNDS=1 BENCH_SECONDS=2 pnpm bench:stamps    # quicker
 *   BENCH_ONLY=throughput pnpm bench:stamps            # one part: throughput, latency, catchup
 *   BENCH_VARIANTS=batched pnpm bench:stamps           # relay variants (name prefixes, below)
 *   BENCH_BEFORE=<checkout> pnpm bench:stamps          # adds that checkout's relay, first ("before")
 *   BENCH_EXTRA=b16:stampBatchMax=16 pnpm bench:stamps # adds a variant: name:limit=value[:...]
 *
 * The relay (uWS shell, the shipped one) runs in its own process pinned to core 0
 * (`taskset -c 0`), the load generator pinned to core 1. Requests are signed before the timed
 * run, so the generator only sends frames and counts deliveries. Relay variants, side by side
 * in each round (`--limit stampBatchMax=...`):
 *  - single: one relay signature per event (`stampBatchMax=1`), and no author signature check
 *    (this issue's first change, alone);
 *  - batched: the default, one signature per batch of the stamps of one event-loop turn.
 * "stamped events per relay CPU second" is what one saturated relay core sustains whoever paced
 * the run: on a shared machine other processes take turns on core 0 too ("relay core busy").
 * Cases:
 *  - throughput: one publisher (a member of "general") keeps BENCH_WINDOW (256) requests in
 *    flight, 10 more members subscribe; stamped events/s (acks), relay CPU seconds per event;
 *  - latency at a fixed rate (200/s and 4,000/s): send -> delivery to another member, p50/p99
 *    (loopback; the relay's share is all of it but a few tens of microseconds);
 *  - event size: mean bytes of the delivered `StampedEvent`s (100-byte bodies);
 *  - catch-up: a fresh ChannelLog verifying 20,000 events in batches of 1,000 (relay checkpoints
 *    off, node:crypto, one core), per-event stamps vs batched stamps of 32 (verified roots
 *    cached), with author signatures (what peers do) and without (the stamp's own cost).
 * Each figure is the median of its rounds; ratios are taken per round.
 */
import {
  ChannelLog,
  DEFAULT_CHECKPOINT_EVERY,
  decodeRelayFrame,
  encodeEvent,
  encodeFrame,
  Identity,
  MemoryStore,
  randomBytes,
  type SignedRequest,
  type StampedEvent,
  signRequest,
  stamp,
  stampBatch,
  Tag,
  toHex,
  type Ulid,
  VerifiedRoots,
} from '@peerchat/engine'
import { nodeCryptoBackend, useNodeCrypto } from '@peerchat/engine/node'
import { fixtureUlid, withCheckpoints } from '@peerchat/engine/testing'
import { median } from './cli.ts'
import { cpuTimesOf, LIFTED_LIMITS, login, runLoad, startRelay, stopRelay } from './relay-harness.ts'
import type { RawClient } from './relay-raw-client.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 10)
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256)
const BODY_BYTES = 100

interface Variant {
  name: string
  /** Extra `--limit name=value` arguments of the relay. */
  limits: string[]
  /** The checkout whose relay runs (default: this one). */
  root?: string
}
const ALL_VARIANTS: Variant[] = [
  { name: 'single', limits: ['stampBatchMax=1'] },
  { name: 'batched', limits: [] },
]
/**
 * `BENCH_BEFORE=<checkout>` adds the relay of another checkout (a copy of the tree before
 * issue #13) as the first variant, "before"; its relay knows no `stampBatchMax`.
 */
const BEFORE: Variant | undefined = process.env.BENCH_BEFORE
  ? { name: 'before', limits: [], root: process.env.BENCH_BEFORE }
  : undefined

type Scenario = { kind: 'throughput' } | { kind: 'latency'; rate: number }

// ---- load generator (child process on core 1) ------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Logs in and joins "general"; resolves once the relay has answered a ping after the join. */
async function member(port: number, counts?: Uint32Array, id?: Identity): Promise<RawClient> {
  const c = await login(port, id ?? (await Identity.generate()), counts)
  // `counts` may be shared: this client's own pong is watched for.
  const joined = new Promise<void>((resolve) => {
    c.onPayload = (p) => {
      if (p[1] === Tag.pong) resolve()
    }
  })
  c.send(encodeFrame({ type: 'join', channel: 'general' }))
  c.send(encodeFrame({ type: 'ping', n: 1 }))
  await joined
  c.onPayload = null
  return c
}

async function presign(author: Identity, n: number): Promise<Uint8Array[]> {
  const body = randomBytes(BODY_BYTES)
  const frames: Uint8Array[] = []
  for (let i = 0; i < n; i += 1000) {
    const reqs = await Promise.all(
      Array.from({ length: Math.min(1000, n - i) }, () =>
        signRequest(author, { channel: 'general', kind: 'message', clientNonce: randomBytes(16), body }),
      ),
    )
    for (const request of reqs) frames.push(encodeFrame({ type: 'publish', request }))
  }
  return frames
}

/** Size of the StampedEvent inside a relay `event` frame (version and tag bytes, then the event). */
const EVENT_FRAME_HEADER = 2

async function throughput(port: number, relayPid: number) {
  const counts = new Uint32Array(256)
  const subs: RawClient[] = []
  for (let i = 0; i < SUBSCRIBERS; i++) subs.push(await member(port, counts))
  const author = await Identity.generate()
  const frames = await presign(author, 30_000 * SECONDS)
  const pub = await member(port, undefined, author)
  // The publisher's own events reach it through the topic: its acks. Their sizes are sampled.
  let eventBytes = 0
  let eventsSeen = 0
  pub.onPayload = (p) => {
    if (p[1] !== Tag.event) return
    eventBytes += p.length - EVENT_FRAME_HEADER
    eventsSeen++
  }
  let sent = 0
  const t0 = performance.now()
  const cpu0 = cpuTimesOf(relayPid)
  const load0 = process.cpuUsage()
  const deadline = t0 + SECONDS * 1000
  // Keep the window full, and never let the subscribers fall more than WINDOW events behind.
  const pump = () => {
    const acked = pub.counts[Tag.event]!
    const delivered = counts[Tag.event]!
    while (
      sent < frames.length &&
      performance.now() < deadline &&
      sent - acked < WINDOW &&
      sent * SUBSCRIBERS - delivered < WINDOW * SUBSCRIBERS
    )
      pub.send(frames[sent++]!)
  }
  pub.onChunk = pump
  for (const s of subs) s.onChunk = pump
  pump()
  while (performance.now() < deadline) await sleep(50)
  pub.onChunk = null
  for (const s of subs) s.onChunk = null
  // Drain: every stamped event reaches every subscriber (or give up after 10 s).
  const stop = performance.now() + 10_000
  let tAck = performance.now()
  let lastAcked = -1
  while (performance.now() < stop) {
    const a = pub.counts[Tag.event]!
    if (a !== lastAcked) {
      lastAcked = a
      tAck = performance.now()
    }
    // >=: the relay's checkpoint events (one per 256 stamps) reach every member too.
    if (a >= sent && counts[Tag.event]! >= sent * SUBSCRIBERS) break
    await sleep(10)
  }
  const cpu1 = cpuTimesOf(relayPid)
  const load = process.cpuUsage(load0)
  const relayUser = cpu1.user - cpu0.user
  const relaySystem = cpu1.system - cpu0.system
  const relayCpu = relayUser + relaySystem
  const errors = pub.counts[Tag.error]!
  const delivered = counts[Tag.event]!
  for (const s of [...subs, pub]) s.close()
  return {
    stampedPerSec: lastAcked / ((tAck - t0) / 1000),
    relayCpuShare: relayCpu / ((tAck - t0) / 1000),
    /** What one saturated relay core sustains, whoever paced this run. */
    stampedPerRelayCpuSecond: lastAcked / relayCpu,
    /** The load generator's core: near 1, it (not the relay) paces the run. */
    loadCpuShare: (load.user + load.system) / 1e6 / ((tAck - t0) / 1000),
    /** The kernel's part of the relay's CPU time (socket reads and writes). */
    relaySystemShare: relaySystem / relayCpu,
    deliveredPerSubscriber: delivered / SUBSCRIBERS,
    eventBytes: eventBytes / eventsSeen,
    sent,
    acked: lastAcked,
    errors,
  }
}

/** The clientNonce inside an encoded publish frame: version, tag, then the request. */
function nonceOfPublish(frame: Uint8Array): string {
  let off = 3 // frame version, tag, event version
  off += 1 + frame[off]! // channel
  off += 1 + frame[off]! // kind
  off += 32 // author
  return toHex(frame.subarray(off, off + 16))
}

async function latency(port: number, rate: number) {
  const subs: RawClient[] = []
  for (let i = 0; i < SUBSCRIBERS; i++) subs.push(await member(port))
  const author = await Identity.generate()
  const n = Math.round(rate * SECONDS)
  const frames = await presign(author, n)
  const sentAt = new Map<string, number>()
  const samples: number[] = []
  subs[subs.length - 1]!.onPayload = (p) => {
    if (p[1] !== Tag.event) return
    const f = decodeRelayFrame(p)
    if (f.type !== 'event') return
    const t = sentAt.get(toHex(f.event.clientNonce))
    if (t !== undefined) samples.push(performance.now() - t)
  }
  const pub = await login(port, author)
  const t0 = performance.now()
  // Sends are paced in 1 ms slots: at 4,000/s four go out together, as a busy channel's would.
  for (let i = 0; i < n; ) {
    const due = t0 + (i * 1000) / rate
    const now = performance.now()
    if (now < due) {
      await sleep(Math.max(0, due - now))
      continue
    }
    while (i < n && t0 + (i * 1000) / rate <= performance.now()) {
      sentAt.set(nonceOfPublish(frames[i]!), performance.now())
      pub.send(frames[i++]!)
    }
  }
  const stop = performance.now() + 5000
  while (samples.length < n && performance.now() < stop) await sleep(10)
  for (const s of [...subs, pub]) s.close()
  samples.sort((a, b) => a - b)
  const q = (x: number) => samples[Math.min(samples.length - 1, Math.floor(x * samples.length))]!
  return { p50Ms: q(0.5), p99Ms: q(0.99), samples: samples.length, sent: n }
}

async function loadMain(arg: string): Promise<void> {
  useNodeCrypto()
  const { port, scenario, relayPid } = JSON.parse(arg) as {
    port: number
    scenario: Scenario
    relayPid: number
  }
  const result =
    scenario.kind === 'throughput' ? await throughput(port, relayPid) : await latency(port, scenario.rate)
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  process.exit(0)
}

// ---- orchestrator ------------------------------------------------------------------------

async function runCase(variant: Variant, scenario: Scenario): Promise<Record<string, number>> {
  // The uWS shell (the shipped one), limits lifted, pinned to core 0 (see startRelay).
  const relay = await startRelay({
    root: variant.root,
    core: 0,
    args: [
      '--shell',
      'uws',
      '--port',
      '0',
      '--quiet',
      ...[...LIFTED_LIMITS, ...variant.limits].flatMap((l) => ['--limit', l]),
    ],
  })
  try {
    const spec = { port: relay.port, scenario, relayPid: relay.child.pid }
    return await runLoad({ core: 1, args: ['bench/stamps.ts', 'load', JSON.stringify(spec)] })
  } finally {
    await stopRelay(relay.child)
  }
}

const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })

type Row = [label: string, key: string, digits: number]

async function relayCases(variants: Variant[], only: string | undefined): Promise<string[]> {
  const cases: Array<[string, Scenario, Row[]]> = [
    [
      'throughput',
      { kind: 'throughput' },
      [
        ['stamped events/s', 'stampedPerSec', 0],
        ['stamped events per relay CPU second', 'stampedPerRelayCpuSecond', 0],
        ['relay core busy (share)', 'relayCpuShare', 2],
        ['relay CPU in the kernel (share)', 'relaySystemShare', 2],
        ['load generator core busy (share)', 'loadCpuShare', 2],
        ['event bytes (100-byte body)', 'eventBytes', 1],
      ],
    ],
    [
      'latency 200/s',
      { kind: 'latency', rate: 200 },
      [
        ['p50 ms', 'p50Ms', 2],
        ['p99 ms', 'p99Ms', 2],
      ],
    ],
    [
      'latency 4000/s',
      { kind: 'latency', rate: 4000 },
      [
        ['p50 ms', 'p50Ms', 2],
        ['p99 ms', 'p99Ms', 2],
      ],
    ],
  ]
  const lines: string[] = []
  for (const [name, scenario, rows] of cases) {
    if (only && !name.startsWith(only)) continue
    const runs: Record<string, Record<string, number>>[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const results: Record<string, Record<string, number>> = {}
      for (const v of variants) {
        results[v.name] = await runCase(v, scenario)
        process.stderr.write(`${name} round ${round + 1} ${v.name}: ${JSON.stringify(results[v.name])}\n`)
      }
      runs.push(results)
    }
    const [base, ...rest] = variants
    for (const [label, key, digits] of rows) {
      const cells = variants.map((v) => fmt(median(runs.map((r) => r[v.name]![key]!)), digits))
      const ratios = rest.map(
        (v) => `${fmt(median(runs.map((r) => r[v.name]![key]! / r[base!.name]![key]!)), 2)}x`,
      )
      lines.push(`| ${name}: ${label} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`)
    }
  }
  const header = `| case | ${variants.map((v) => v.name).join(' | ')} | ${variants
    .slice(1)
    .map((v) => `${v.name} / ${variants[0]!.name}`)
    .join(' | ')} |`
  return [header, `| --- |${' ---: |'.repeat(variants.length * 2 - 1)}`, ...lines]
}

// ---- peers' catch-up verification (child process on core 1) -------------------------------

/** Events a catch-up verifies, and the relay's batch size under load (`stampBatchMax`). */
const CATCHUP_EVENTS = Number(process.env.BENCH_CATCHUP_EVENTS ?? 20_000)
const CATCHUP_BATCH = Number(process.env.BENCH_CATCHUP_BATCH ?? 32)
/** Events per `ChannelLog.add`, as the sync outbox packs them. */
const CATCHUP_CHUNK = 1000

interface CatchupMode {
  name: string
  batched: boolean
  verifyAuthors: boolean
  /** With the relay's checkpoints (one per 256 stamps), which spare the covered stamps' checks. */
  checkpoints?: boolean
  /** The per-event mode it is compared with. */
  baseline: string
}
const PER_EVENT = 'per-event stamps, relay + author sigs'
const PER_EVENT_RELAY = 'per-event stamps, relay sig only (verifyAuthors: false)'
const CATCHUP_MODES: CatchupMode[] = [
  { name: PER_EVENT, batched: false, verifyAuthors: true, baseline: PER_EVENT },
  {
    name: `batched stamps (${CATCHUP_BATCH} a root), root + author sigs`,
    batched: true,
    verifyAuthors: true,
    baseline: PER_EVENT,
  },
  {
    name: 'per-event stamps + relay checkpoints (1 per 256), author sigs',
    batched: false,
    verifyAuthors: true,
    checkpoints: true,
    baseline: PER_EVENT,
  },
  { name: PER_EVENT_RELAY, batched: false, verifyAuthors: false, baseline: PER_EVENT_RELAY },
  {
    name: `batched stamps (${CATCHUP_BATCH} a root), root sig + path only (verifyAuthors: false)`,
    batched: true,
    verifyAuthors: false,
    baseline: PER_EVENT_RELAY,
  },
]

async function catchupMain(): Promise<void> {
  useNodeCrypto()
  const relay = await Identity.generate()
  const authors = await Promise.all(Array.from({ length: 8 }, () => Identity.generate()))
  // One id a millisecond, so a checkpoint (stamped at its window's last id + 1) fits in between.
  const start = Date.now() - CATCHUP_EVENTS
  const body = randomBytes(BODY_BYTES)
  const items: { id: Ulid; req: SignedRequest }[] = []
  for (let i = 0; i < CATCHUP_EVENTS; i += 1000) {
    const reqs = await Promise.all(
      Array.from({ length: Math.min(1000, CATCHUP_EVENTS - i) }, (_, k) =>
        signRequest(authors[(i + k) % authors.length]!, {
          channel: 'general',
          kind: 'message',
          clientNonce: randomBytes(16),
          body,
        }),
      ),
    )
    for (const req of reqs) items.push({ id: fixtureUlid(start + items.length, items.length), req })
  }
  // The same requests and ids, stamped one by one and in the relay's batches.
  const single = await Promise.all(items.map(({ id, req }) => stamp(relay, id, req)))
  const batched: StampedEvent[] = []
  for (let i = 0; i < items.length; i += CATCHUP_BATCH)
    batched.push(...(await stampBatch(relay, items.slice(i, i + CATCHUP_BATCH))))
  const checkpointed = await withCheckpoints(single, relay, DEFAULT_CHECKPOINT_EVERY)
  const bytesOf = (events: StampedEvent[]) =>
    events.reduce((n, e) => n + encodeEvent(e).length, 0) / events.length
  const sizes = { single: bytesOf(single), batched: bytesOf(batched) }
  const rates: Record<string, number[]> = {}
  for (let round = 0; round < ROUNDS; round++)
    for (const mode of CATCHUP_MODES) {
      const log = new ChannelLog({
        channel: 'general',
        store: new MemoryStore(),
        relayKeys: [relay.publicKey],
        verifyAuthors: mode.verifyAuthors,
        checkpoints: mode.checkpoints ?? false,
        backend: nodeCryptoBackend,
        roots: new VerifiedRoots(),
      })
      const events = mode.batched ? batched : mode.checkpoints ? checkpointed : single
      const t0 = performance.now()
      for (let i = 0; i < events.length; i += CATCHUP_CHUNK) {
        const r = await log.add(events.slice(i, i + CATCHUP_CHUNK))
        if (r.rejected.length > 0) throw new Error(`rejected: ${JSON.stringify(r.rejected[0])}`)
      }
      rates[mode.name] = [...(rates[mode.name] ?? []), events.length / ((performance.now() - t0) / 1000)]
    }
  process.stdout.write(`RESULT ${JSON.stringify({ sizes, rates })}\n`)
  process.exit(0)
}

async function catchupCase(): Promise<string[]> {
  const { sizes, rates } = await runLoad<{
    sizes: Record<string, number>
    rates: Record<string, number[]>
  }>({ core: 1, args: ['bench/stamps.ts', 'catchup'], what: 'catch-up bench' })
  const lines = [
    `| catch-up (${fmt(CATCHUP_EVENTS)} events, one core, node:crypto) | verified events/s | vs per-event stamps |`,
    '| --- | ---: | ---: |',
  ]
  for (const mode of CATCHUP_MODES) {
    const r = rates[mode.name]!
    const ratio = median(r.map((x, i) => x / rates[mode.baseline]![i]!))
    lines.push(`| ${mode.name} | ${fmt(median(r))} | ${fmt(ratio, 2)}x |`)
  }
  lines.push(
    '',
    `event bytes (${BODY_BYTES}-byte body): per-event stamp ${fmt(sizes.single!, 1)}, batched (${CATCHUP_BATCH}) ${fmt(sizes.batched!, 1)} (${fmt(sizes.batched! / sizes.single!, 2)}x)`,
  )
  return lines
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY
  const wanted = process.env.BENCH_VARIANTS?.split(',').filter(Boolean)
  // BENCH_EXTRA="b16:stampBatchMax=16,b256:stampBatchMax=256" adds relay variants of its own.
  const extra = (process.env.BENCH_EXTRA?.split(',').filter(Boolean) ?? []).map((spec): Variant => {
    const [name, ...limits] = spec.split(':')
    return { name: name!, limits }
  })
  const variants = [
    ...(BEFORE ? [BEFORE] : []),
    ...(wanted ? ALL_VARIANTS.filter((v) => wanted.some((w) => v.name.startsWith(w))) : ALL_VARIANTS),
    ...extra,
  ]
  const out: string[] = []
  if (!only?.startsWith('catchup')) out.push(...(await relayCases(variants, only)), '')
  if (!only || only.startsWith('catchup')) out.push(...(await catchupCase()))
  process.stdout.write(`\n${out.join('\n')}\n`)
}

if (process.argv[2] === 'load') await loadMain(process.argv[3]!)
else if (process.argv[2] === 'catchup') await catchupMain()
else await main()
