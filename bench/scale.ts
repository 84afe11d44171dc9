/**
 * Scale-out: ONE relay node (no Redis) vs TWO nodes of the same community on Redis
 * (docs/protocol/cluster.md), in the same run, on the same server CPU budget.
 *
 *   pnpm bench:scale                                   # 3 rounds, 4 s per phase (~3 min)
 *   BENCH_ROUNDS=1 BENCH_SECONDS=2 pnpm bench:scale    # quicker
 *   pnpm bench:scale --subscribers 200 --publishers 8 --rate 500
 *
 * Knobs (environment): BENCH_ROUNDS (3), BENCH_SECONDS (4, per phase), BENCH_SUBSCRIBERS (50),
 * BENCH_PUBLISHERS (4), BENCH_RATE (200 msgs/s, the fixed-rate phase), BENCH_WINDOW (256 requests
 * in flight over all publishers), BENCH_FSYNC (everysec: Redis's `appendfsync`, the default of an
 * `appendonly yes` Redis; `always` is what the tests' harness starts with), BENCH_PIN (split:
 * every server process — the relay, or both nodes and Redis — on core 0 with `taskset`, the load
 * generator on core 1; none: let the kernel place them). --subscribers, --publishers and --rate
 * override the environment.
 *
 * Each case starts fresh relay processes (`relay/src/cli.ts`, uWS shell, one shared key file,
 * a data directory each) and, for two nodes, a fresh redis-server (tests/relay/redis-process.ts).
 * Relays run with per-address limits lifted (every bench socket comes from 127.0.0.1, so
 * `socketsPerAddress`, `unauthenticatedPerAddress` and `framesPerSecondPerAddress` would refuse
 * them), per-key event rates set far above the load (1,000,000/s: finite, since Redis's token
 * bucket script takes it as a number), and `checkpointEvery=0` (no checkpoint events: every
 * stamped event is one delivery per subscriber, so the counts are exact).
 *
 * The load generator (a child process, like bench/relay.ts) logs in N subscribers and P
 * publishers, spread evenly over the nodes (client i on node i mod nodes), all joined to
 * "general"; subscribers are raw sockets that only parse frame headers (relay-raw-client.ts).
 * Publishers are members too, so each gets its own event back through the channel as its ack
 * (the relay writes each event to N + P sockets; deliveries count the N subscribers only).
 * Requests are signed before the timed phases (100-byte bodies), so signing costs nothing then.
 *  1. fixed rate: BENCH_RATE msgs/s round-robin over the publishers for BENCH_SECONDS;
 *  2. max rate: the publishers keep BENCH_WINDOW requests in flight (and subscribers at most
 *     BENCH_WINDOW events behind) for BENCH_SECONDS, then everything drains.
 * Latency is send -> delivery to subscriber 0 (node 0) and subscriber 1 (node 1 with two nodes),
 * split by whether the event's publisher is on the SAME node as the subscriber or the OTHER one.
 * Before them, 2 s idle (everyone joined, nothing sent) measure the background CPU.
 * CPU: relays from /proc/<pid>/stat, Redis from `INFO cpu` (used_cpu_user + used_cpu_sys), per
 * 1,000 stamped events; Redis's network bytes from `INFO stats`.
 */
import { type ChildProcess, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeFrame, Identity, randomBytes, signRequest, Tag } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RedisProcess, startRedis } from '../tests/relay/redis-process.ts'
import { startNode } from '../tests/relay/relay-process.ts'
import { flag, median } from './cli.ts'
import { cpuSecondsOf, HOST, inBatches, login, runLoad } from './relay-harness.ts'
import type { RawClient } from './relay-raw-client.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SUBSCRIBERS = Number(flag('--subscribers') ?? process.env.BENCH_SUBSCRIBERS ?? 50)
const PUBLISHERS = Number(flag('--publishers') ?? process.env.BENCH_PUBLISHERS ?? 4)
const RATE = Number(flag('--rate') ?? process.env.BENCH_RATE ?? 200)
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256)
const FSYNC = process.env.BENCH_FSYNC ?? 'everysec'
const PIN = process.env.BENCH_PIN === 'none' ? 'none' : 'split'
/** Requests signed for the max-rate phase, per second of it (more than a core stamps). */
const MAX_RATE_BUDGET = 8000
const WARMUP_PER_PUBLISHER = 20
const IDLE_MS = 2000

const RELAY_LIMITS = [
  'unauthenticatedPerAddress=100000',
  'socketsPerAddress=100000', // every bench socket comes from 127.0.0.1
  'framesPerSecondPerAddress=Infinity',
  'eventsPerSecondPerKey=1000000',
  'eventBurstPerKey=1000000',
  'maxBackpressureBytes=16777216',
  'authDeadlineMs=60000',
  'checkpointEvery=0',
].flatMap((l) => ['--limit', l])

type CaseName = 'one' | 'two'

interface LoadSpec {
  ports: number[]
  relayPids: number[]
  redisPort: number | null
}

/** What one case measured (null: does not apply, e.g. the other node of a lone relay). */
type Result = Record<string, number | null>

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ---- small helpers (both processes) -----------------------------------------------------------

/** One Redis command over a fresh connection; the reply's text (a status, an integer or a bulk string). */
function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, HOST)
    let buf = Buffer.alloc(0)
    s.once('error', reject)
    s.on('connect', () =>
      s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`),
    )
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      const eol = buf.indexOf('\r\n')
      if (eol < 0) return
      const head = buf.subarray(0, eol).toString()
      let reply: string
      if (head[0] === '$') {
        const len = Number(head.slice(1))
        if (buf.length < eol + 2 + len + 2) return
        reply = buf.subarray(eol + 2, eol + 2 + len).toString()
      } else reply = head.slice(1)
      s.destroy()
      if (head[0] === '-') reject(new Error(`redis: ${reply}`))
      else resolve(reply)
    })
  })
}

async function redisStats(port: number): Promise<{ cpu: number; netIn: number; netOut: number }> {
  const info = await redisCommand(port, 'INFO', 'cpu', 'stats')
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN)
  return {
    cpu: field('used_cpu_user') + field('used_cpu_sys'),
    netIn: field('total_net_input_bytes'),
    netOut: field('total_net_output_bytes'),
  }
}

function quantiles(xs: number[]): { p50: number | null; p99: number | null } {
  if (!xs.length) return { p50: null, p99: null }
  const s = [...xs].sort((a, b) => a - b)
  const q = (x: number) => s[Math.min(s.length - 1, Math.floor(x * s.length))]!
  return { p50: q(0.5), p99: q(0.99) }
}

// ---- load generator (child process) -----------------------------------------------------------

/** Joins "general" and waits until the relay answered (a ping after the join). */
async function joinAll(clients: RawClient[]): Promise<void> {
  // Subscribers share one counts array: one pong per client on whichever array it counts into.
  const target = new Map<Uint32Array, number>()
  for (const c of clients) target.set(c.counts, (target.get(c.counts) ?? c.counts[Tag.pong]!) + 1)
  for (const c of clients) {
    c.send(encodeFrame({ type: 'join', channel: 'general' }))
    c.send(encodeFrame({ type: 'ping', n: 1 }))
  }
  for (const [counts, n] of target) while (counts[Tag.pong]! < n) await sleep(20)
}

/** The clientNonce of an event frame (version, tag, id:16, then the authored part), as a map key. */
function nonceKeyOfEvent(p: Uint8Array): string {
  let off = 2 + 16 + 1 // frame header, id, authored version
  off += 1 + p[off]! // channel (short: one length byte)
  off += 1 + p[off]! // kind
  off += 32 // author
  return Buffer.from(p.buffer, p.byteOffset + off, 16).toString('latin1')
}

async function loadMain(arg: string): Promise<void> {
  useNodeCrypto()
  const spec = JSON.parse(arg) as LoadSpec
  const nodes = spec.ports.length
  const portOf = (i: number) => spec.ports[i % nodes]!
  const counts = new Uint32Array(256)
  const subIds = await inBatches(SUBSCRIBERS, 100, () => Identity.generate())
  const subs = await inBatches(SUBSCRIBERS, 50, (i) => login(portOf(i), subIds[i]!, counts))
  await joinAll(subs)
  const authors = await inBatches(PUBLISHERS, 100, () => Identity.generate())
  const pubs = await inBatches(PUBLISHERS, 50, (j) => login(portOf(j), authors[j]!))
  await joinAll(pubs)

  // Sign everything now: warm-up, then the fixed-rate phase, then the max-rate phase, each
  // round-robin over the publishers (frame k of a phase comes from publisher k mod P).
  const fixedN = Math.ceil(RATE * SECONDS)
  const maxN = MAX_RATE_BUDGET * SECONDS
  const body = randomBytes(100)
  const sign = async (j: number) => {
    const nonce = randomBytes(16)
    const request = await signRequest(authors[j]!, {
      channel: 'general',
      kind: 'message',
      clientNonce: nonce,
      body,
    })
    return { frame: encodeFrame({ type: 'publish', request }), key: Buffer.from(nonce).toString('latin1') }
  }
  const warm = await inBatches(WARMUP_PER_PUBLISHER * PUBLISHERS, 1000, (k) => sign(k % PUBLISHERS))
  const timed = await inBatches(fixedN + maxN, 1000, (k) => sign((k < fixedN ? k : k - fixedN) % PUBLISHERS))
  const pubOf = (k: number) => (k < fixedN ? k : k - fixedN) % PUBLISHERS
  const indexOf = new Map(timed.map((t, k) => [t.key, k]))
  const sentAt = new Float64Array(timed.length).fill(Number.NaN)

  // Watchers: subscriber 0 (node 0) and, with two nodes, subscriber 1 (node 1).
  const samples = {
    fixed: { same: [] as number[], other: [] as number[] },
    max: { same: [] as number[], other: [] as number[] },
  }
  let watchedEvents = 0
  let watchedBytes = 0
  const watchers = nodes > 1 ? [0, 1] : [0]
  for (const w of watchers) {
    const node = w % nodes
    subs[w]!.onPayload = (p) => {
      if (p[1] !== Tag.event) return
      const now = performance.now()
      watchedEvents++
      watchedBytes += p.length + (p.length < 126 ? 2 : p.length < 65536 ? 4 : 10) // + WebSocket header
      const k = indexOf.get(nonceKeyOfEvent(p))
      if (k === undefined || Number.isNaN(sentAt[k]!)) return
      const where = pubOf(k) % nodes === node ? 'same' : 'other'
      samples[k < fixedN ? 'fixed' : 'max'][where].push(now - sentAt[k]!)
    }
  }

  const delivered = () => counts[Tag.event]!
  /** Events every publisher has seen (each sees every event of the channel, its own included). */
  const stamped = () => Math.min(...pubs.map((p) => p.counts[Tag.event]!))
  const relayCpu = () => spec.relayPids.reduce((t, pid) => t + cpuSecondsOf(pid), 0)
  const redis = () => (spec.redisPort ? redisStats(spec.redisPort) : Promise.resolve(null))
  const waitFor = async (what: () => boolean, ms: number) => {
    const stop = performance.now() + ms
    while (!what() && performance.now() < stop) await sleep(10)
    return what()
  }

  // Warm-up (JIT, Redis scripts loaded, the other node subscribed): every event everywhere.
  const d0 = delivered()
  for (const [k, w] of warm.entries()) pubs[k % PUBLISHERS]!.send(w.frame)
  if (!(await waitFor(() => delivered() - d0 >= warm.length * SUBSCRIBERS, 15_000)))
    throw new Error(
      `warm-up: ${delivered() - d0} of ${warm.length * SUBSCRIBERS} deliveries (cross-node fan-out?)`,
    )
  // Idle (everyone joined, nothing sent): the background cost of heartbeats, presence ticks, timers.
  await sleep(300)
  const i0 = { cpu: relayCpu(), redis: await redis(), t: performance.now() }
  await sleep(IDLE_MS)
  const idleSeconds = (performance.now() - i0.t) / 1000
  const i1 = { cpu: relayCpu(), redis: await redis() }

  // 1. Fixed rate.
  const f0 = { d: delivered(), s: stamped(), cpu: relayCpu(), redis: await redis() }
  const tf0 = performance.now()
  for (let k = 0; k < fixedN; k++) {
    const due = tf0 + (k * 1000) / RATE
    while (performance.now() < due) await sleep(Math.max(0, due - performance.now()))
    sentAt[k] = performance.now()
    pubs[pubOf(k)]!.send(timed[k]!.frame)
  }
  await waitFor(() => delivered() - f0.d >= fixedN * SUBSCRIBERS, 10_000)
  const fixedSeconds = (performance.now() - tf0) / 1000
  const f1 = { s: stamped(), cpu: relayCpu(), redis: await redis() }
  const fixedStamped = f1.s - f0.s

  // 2. Max rate: keep the window full, never letting subscribers fall more than WINDOW behind.
  await sleep(300)
  const m0 = { d: delivered(), s: stamped(), e: pubs.reduce((t, p) => t + p.counts[Tag.error]!, 0) }
  let sent = 0
  const redis0 = await redis()
  const cpu0 = relayCpu()
  const load0 = process.cpuUsage()
  const t0 = performance.now()
  const deadline = t0 + SECONDS * 1000
  const pump = () => {
    const acked = stamped() - m0.s
    const got = delivered() - m0.d
    while (
      sent < maxN &&
      performance.now() < deadline &&
      sent - acked < WINDOW &&
      sent * SUBSCRIBERS - got < WINDOW * SUBSCRIBERS
    ) {
      const k = fixedN + sent++
      sentAt[k] = performance.now()
      pubs[pubOf(k)]!.send(timed[k]!.frame)
    }
  }
  for (const c of [...pubs, ...subs]) c.onChunk = pump
  pump()
  while (performance.now() < deadline) await sleep(50)
  for (const c of [...pubs, ...subs]) c.onChunk = null
  const ranOut = sent >= maxN
  // Drain: every stamped event to every subscriber (or give up after 10 s).
  let lastS = -1
  let lastD = -1
  let tS = performance.now()
  let tD = performance.now()
  const stop = performance.now() + 10_000
  while (performance.now() < stop) {
    const s = stamped() - m0.s
    const d = delivered() - m0.d
    if (s !== lastS) [lastS, tS] = [s, performance.now()]
    if (d !== lastD) [lastD, tD] = [d, performance.now()]
    if (s >= sent && d >= sent * SUBSCRIBERS) break
    await sleep(10)
  }
  const maxCpu = relayCpu() - cpu0
  const redis1 = await redis()
  const loadUsage = process.cpuUsage(load0)
  const wall = (tD - t0) / 1000
  const errors = pubs.reduce((t, p) => t + p.counts[Tag.error]!, 0) - m0.e
  for (const c of [...subs, ...pubs]) c.close()

  const per1k = (cpu: number, events: number) => (cpu / events) * 1000
  const fq = { same: quantiles(samples.fixed.same), other: quantiles(samples.fixed.other) }
  const mq = { same: quantiles(samples.max.same), other: quantiles(samples.max.other) }
  const redisMaxCpu = redis0 && redis1 ? redis1.cpu - redis0.cpu : null
  const result: Result = {
    stampedPerSec: lastS / ((tS - t0) / 1000),
    deliveriesPerSec: lastD / wall,
    deliveriesPerRelayCpuSecond: lastD / maxCpu,
    relayCpuPer1kMax: per1k(maxCpu, lastS),
    redisCpuPer1kMax: redisMaxCpu === null ? null : per1k(redisMaxCpu, lastS),
    relayIdleCpuMsPerSec: ((i1.cpu - i0.cpu) / idleSeconds) * 1000,
    redisIdleCpuMsPerSec: i0.redis && i1.redis ? ((i1.redis.cpu - i0.redis.cpu) / idleSeconds) * 1000 : null,
    relayCpuPer1kFixed: per1k(f1.cpu - f0.cpu, fixedStamped),
    redisCpuPer1kFixed: f0.redis && f1.redis ? per1k(f1.redis.cpu - f0.redis.cpu, fixedStamped) : null,
    serverCoreBusy: (maxCpu + (redisMaxCpu ?? 0)) / wall,
    loadCoreBusy: (loadUsage.user + loadUsage.system) / 1e6 / wall,
    fixedSameP50: fq.same.p50,
    fixedSameP99: fq.same.p99,
    fixedOtherP50: fq.other.p50,
    fixedOtherP99: fq.other.p99,
    maxSameP50: mq.same.p50,
    maxSameP99: mq.same.p99,
    maxOtherP50: mq.other.p50,
    maxOtherP99: mq.other.p99,
    bytesPerDelivery: watchedBytes / watchedEvents,
    redisInBytesPerEvent: redis0 && redis1 ? (redis1.netIn - redis0.netIn) / lastS : null,
    redisOutBytesPerEvent: redis0 && redis1 ? (redis1.netOut - redis0.netOut) / lastS : null,
    fixedSeconds,
    fixedStamped,
    fixedSamples: samples.fixed.same.length + samples.fixed.other.length,
    sent,
    stamped: lastS,
    delivered: lastD,
    expectedDeliveries: sent * SUBSCRIBERS,
    errors,
    ranOut: ranOut ? 1 : 0,
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  process.exit(0)
}

// ---- orchestrator -----------------------------------------------------------------------------

/** Pins every thread of a process to `core` (a no-op with BENCH_PIN=none). */
function pin(pid: number, core: number): void {
  if (PIN === 'split')
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' })
}

interface Node {
  child: ChildProcess
  port: number
  stop: () => Promise<void>
}

async function startNodeProcess(keyFile: string, dataDir: string, redisUrl: string | null): Promise<Node> {
  const argv = [
    '--import',
    'tsx',
    'relay/src/cli.ts',
    '--port',
    '0',
    '--quiet',
    '--key-file',
    keyFile,
    '--data-dir',
    dataDir,
    ...(redisUrl ? ['--redis', redisUrl] : []),
    ...RELAY_LIMITS,
  ]
  const { child, value, stop } = await startNode(
    argv,
    { PEERCHAT_RELAY_KEY: '', PEERCHAT_REDIS_URL: '' },
    {
      what: 'relay',
      timeoutMs: 30_000,
      ready: (out) => /listening on ws:\/\/[^:]+:(\d+)/.exec(out) ?? undefined,
    },
  )
  pin(child.pid!, 0)
  return {
    child,
    port: Number(value[1]),
    async stop() {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await stop()
      clearTimeout(timer)
    },
  }
}

async function runCase(name: CaseName, keyFile: string): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'peerchat-scale-'))
  let redis: RedisProcess | null = null
  const relays: Node[] = []
  try {
    if (name === 'two') {
      redis = await startRedis()
      await redisCommand(redis.port, 'CONFIG', 'SET', 'appendfsync', FSYNC)
      pin(Number(/process_id:(\d+)/.exec(await redisCommand(redis.port, 'INFO', 'server'))![1]), 0)
    }
    const count = name === 'two' ? 2 : 1
    // Started together; each is kept as soon as it listens, so a failed start stops the others.
    const starts = Array.from({ length: count }, (_, i) =>
      startNodeProcess(keyFile, join(dir, `node${i}`), redis?.url ?? null).then((r) => {
        relays[i] = r
        return r
      }),
    )
    await Promise.allSettled(starts)
    await Promise.all(starts)
    const spec: LoadSpec = {
      ports: relays.map((r) => r.port),
      relayPids: relays.map((r) => r.child.pid!),
      redisPort: redis?.port ?? null,
    }
    // The load generator reads its knobs from the environment: hand it the flags' values too.
    const env = {
      ...process.env,
      BENCH_SUBSCRIBERS: String(SUBSCRIBERS),
      BENCH_PUBLISHERS: String(PUBLISHERS),
      BENCH_RATE: String(RATE),
    }
    const args = ['bench/scale.ts', 'load', JSON.stringify(spec)]
    return await runLoad<Result>({ core: PIN === 'split' ? 1 : undefined, env, args })
  } finally {
    await Promise.all(relays.filter(Boolean).map((r) => r.stop()))
    await redis?.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined || !Number.isFinite(n)
    ? '—'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

async function main(): Promise<void> {
  useNodeCrypto()
  const started = Date.now()
  const loadBefore = loadavg()[0]!
  const keyDir = mkdtempSync(join(tmpdir(), 'peerchat-scale-key-'))
  const keyFile = join(keyDir, 'relay.key')
  writeFileSync(keyFile, `${(await Identity.generate()).export()}\n`, { mode: 0o600 })
  process.stderr.write(
    `scale: ${ROUNDS} rounds, ${SECONDS} s per phase, ${SUBSCRIBERS} subscribers, ${PUBLISHERS} publishers, ` +
      `${RATE} msgs/s fixed, window ${WINDOW}, appendfsync ${FSYNC}, pin ${PIN}, ${cpus().length} cores, ` +
      `load average ${loadBefore.toFixed(2)}\n`,
  )
  const runs: Array<Record<CaseName, Result>> = []
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so a burst of outside load does not always hit the same case.
      const order: CaseName[] = round % 2 ? ['two', 'one'] : ['one', 'two']
      const r = {} as Record<CaseName, Result>
      for (const name of order) {
        r[name] = await runCase(name, keyFile)
        process.stderr.write(`round ${round + 1} ${name}: ${JSON.stringify(r[name])}\n`)
      }
      runs.push(r)
    }
  } finally {
    rmSync(keyDir, { recursive: true, force: true })
  }

  const rows: string[] = []
  const row = (label: string, key: string, digits: number, ratio = true) => {
    const pick = (c: CaseName) => {
      const xs = runs.map((r) => r[c][key]).filter((x): x is number => typeof x === 'number')
      return xs.length ? median(xs) : null
    }
    const ratios = runs
      .map((r) => (r.two[key] ?? Number.NaN) / (r.one[key] ?? Number.NaN))
      .filter((x) => Number.isFinite(x))
    // The median of the per-round ratios, then each round's (the machine's load moves them).
    const each = ratios.length > 1 ? ` (${ratios.map((x) => fmt(x, 2)).join(', ')})` : ''
    const q = ratio && ratios.length ? `${fmt(median(ratios), 2)}x${each}` : ''
    rows.push(`| ${label} | ${fmt(pick('one'), digits)} | ${fmt(pick('two'), digits)} | ${q} |`)
  }
  row('max rate: stamped events/s', 'stampedPerSec', 0)
  row(`max rate: deliveries/s (${SUBSCRIBERS} subscribers)`, 'deliveriesPerSec', 0)
  row('max rate: deliveries per relay CPU second (nodes summed)', 'deliveriesPerRelayCpuSecond', 0)
  row('max rate: relay CPU s per 1,000 stamped events (nodes summed)', 'relayCpuPer1kMax', 3)
  row('max rate: Redis CPU s per 1,000 stamped events', 'redisCpuPer1kMax', 3, false)
  row(`${RATE}/s: relay CPU s per 1,000 stamped events (nodes summed)`, 'relayCpuPer1kFixed', 3)
  row(`${RATE}/s: Redis CPU s per 1,000 stamped events`, 'redisCpuPer1kFixed', 3, false)
  row(`${RATE}/s: latency p50 ms, subscriber on the same node`, 'fixedSameP50', 2)
  row(`${RATE}/s: latency p99 ms, same node`, 'fixedSameP99', 2)
  row(`${RATE}/s: latency p50 ms, subscriber on the other node`, 'fixedOtherP50', 2, false)
  row(`${RATE}/s: latency p99 ms, other node`, 'fixedOtherP99', 2, false)
  row('max rate: latency p50 ms, same node', 'maxSameP50', 1)
  row('max rate: latency p99 ms, same node', 'maxSameP99', 1)
  row('max rate: latency p50 ms, other node', 'maxOtherP50', 1, false)
  row('max rate: latency p99 ms, other node', 'maxOtherP99', 1, false)
  row('idle: relay CPU ms per second (nodes summed)', 'relayIdleCpuMsPerSec', 1)
  row('idle: Redis CPU ms per second', 'redisIdleCpuMsPerSec', 1, false)
  row('bytes per delivery (WebSocket frame of one event)', 'bytesPerDelivery', 0)
  row('Redis bytes in per stamped event', 'redisInBytesPerEvent', 0, false)
  row('Redis bytes out per stamped event', 'redisOutBytesPerEvent', 0, false)
  row('max rate: server core busy (relays + Redis CPU / wall)', 'serverCoreBusy', 2)
  row('max rate: load generator core busy', 'loadCoreBusy', 2)
  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  process.stdout.write(
    `\n| case (median of ${ROUNDS} rounds) | one node | two nodes + Redis | two / one (rounds) |\n| --- | ---: | ---: | ---: |\n${rows.join('\n')}\n`,
  )
  process.stdout.write(`
${minutes} min, load average ${loadBefore.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores.
How to read this on ${cpus().length} cores: ${
    PIN === 'split'
      ? `the lone relay, and the two nodes + Redis, get the same ONE core (core 0);
the load generator has the other.`
      : `(BENCH_PIN=none) the two nodes, Redis and the load generator share every core.`
  } So the two-node case measures the cluster's OVERHEAD — a Redis round
trip before each stamp is acknowledged, every event decoded and published again by the other
node, Redis's own CPU — not scaling. With a core (or machine) per node, throughput grows with
the nodes until Redis or stamping saturates: "deliveries per relay CPU second" is the per-node
capacity, "Redis CPU s per 1,000 stamped events" what each event costs the shared Redis (per
node subscribed, whatever the number of members). Max-rate latency is queueing behind the
${WINDOW} requests in flight (about window / stamped events/s); the ${RATE}/s rows are the relay-added latency.
`)
}

if (process.argv[2] === 'load') await loadMain(process.argv[3]!)
else await main()
