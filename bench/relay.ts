/**
 * The relay on uWebSockets.js against the same core on `ws` (the baseline), side by side.
 *
 *   pnpm bench:relay                       # full run: 3 rounds (~8 min on a busy machine)
 *   BENCH_ROUNDS=1 BENCH_SECONDS=2 BENCH_IDLE=2000 pnpm bench:relay   # quicker
 *   BENCH_ONLY=idle pnpm bench:relay      # one case (name prefix: fan-out, latency, idle)
 *
 * The relay runs in its own process pinned to core 0 (`taskset -c 0`), the load generator in
 * another pinned to core 1. Cases, for each shell:
 *  - fan-out with 100 and 1,000 subscribers: one publisher, a member of the channel like every
 *    client (BENCH_AUTHOR=outsider: not a member, acked by a direct frame), keeps up to 256
 *    (BENCH_WINDOW) requests in flight (and at most 256 undelivered events per subscriber);
 *    stamped msgs/s and deliveries/s (the relay's checkpoint events, 1 per 256, count too);
 *  - latency at a fixed 200 msgs/s with 100 subscribers: send -> delivery to another member;
 *  - RSS per idle authenticated connection: relay RSS growth over N (10,000) logged-in sockets.
 * Subscribers are raw sockets that only parse frame headers (see relay-raw-client.ts).
 */
import { readFileSync } from 'node:fs'
import {
  decodeRelayFrame,
  encodeFrame,
  Identity,
  randomBytes,
  type SignedRequest,
  signRequest,
  Tag,
  toHex,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { median } from './cli.ts'
import {
  cpuSecondsOf,
  inBatches,
  LIFTED_LIMITS,
  login,
  runLoad,
  startRelay,
  stopRelay,
} from './relay-harness.ts'
import type { RawClient } from './relay-raw-client.ts'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const IDLE_CONNECTIONS = Number(process.env.BENCH_IDLE ?? 10_000)
/** The fan-out publisher: a member of the channel (default) or an outsider that gets direct acks. */
const AUTHOR = process.env.BENCH_AUTHOR === 'outsider' ? 'outsider' : 'member'

type Shell = 'uws' | 'ws'
type Scenario =
  | { kind: 'fanout'; subscribers: number }
  | { kind: 'latency'; subscribers: number; rate: number }
  | { kind: 'idle'; connections: number }

// ---- load generator (child process on core 1) ------------------------------------------

/** N logged-in subscribers joined to "general", counting into one shared `counts` array. */
async function joinedSubscribers(
  port: number,
  n: number,
): Promise<{ subs: RawClient[]; counts: Uint32Array }> {
  const counts = new Uint32Array(256)
  const subs = await inBatches(n, 100, async () => login(port, await Identity.generate(), counts))
  for (const s of subs) {
    s.send(encodeFrame({ type: 'join', channel: 'general' }))
    s.send(encodeFrame({ type: 'ping', n: 1 }))
  }
  while (counts[Tag.pong]! < n) await sleep(20)
  return { subs, counts }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function presign(author: Identity, n: number): Promise<Uint8Array[]> {
  const body = randomBytes(100)
  const reqs = await inBatches(n, 1000, () =>
    signRequest(author, { channel: 'general', kind: 'message', clientNonce: randomBytes(16), body }),
  )
  return reqs.map((request: SignedRequest) => encodeFrame({ type: 'publish', request }))
}

async function fanout(port: number, subscribers: number, relayPid: number) {
  const { subs, counts } = await joinedSubscribers(port, subscribers)
  const author = await Identity.generate()
  const frames = await presign(author, 8000 * SECONDS)
  const pub = await login(port, author)
  // A member (the default, like every chat client) gets its own event through the topic as its
  // ack; an outsider gets a direct ack frame per event.
  if (AUTHOR === 'member') {
    pub.send(encodeFrame({ type: 'join', channel: 'general' }))
    pub.send(encodeFrame({ type: 'ping', n: 1 }))
    while (pub.counts[Tag.pong]! < 1) await sleep(10)
  }
  const WINDOW = Number(process.env.BENCH_WINDOW ?? 256)
  let sent = 0
  let t0 = 0
  let cpu0 = 0
  let load0 = process.cpuUsage()
  const started = () => {
    if (t0) return
    t0 = performance.now()
    cpu0 = cpuSecondsOf(relayPid)
    load0 = process.cpuUsage()
  }
  const deadline = () => t0 + SECONDS * 1000
  // Keep the window full, but never let subscribers fall more than WINDOW events behind.
  const pump = () => {
    started()
    const acked = pub.counts[Tag.event]!
    const delivered = counts[Tag.event]!
    while (
      sent < frames.length &&
      performance.now() < deadline() &&
      sent - acked < WINDOW &&
      sent * subscribers - delivered < WINDOW * subscribers
    )
      pub.send(frames[sent++]!)
  }
  // Re-fill as soon as acks or deliveries are parsed (no polling loop to steal the core).
  // Counting subscriber reads shows how many events the relay packs into one socket write.
  let reads = 0
  const onRead = () => {
    reads++
    pump()
  }
  pub.onChunk = pump
  for (const s of subs) s.onChunk = onRead
  pump()
  while (performance.now() < deadline()) await sleep(50)
  pub.onChunk = null
  for (const s of subs) s.onChunk = () => reads++
  // Drain: wait for every stamped event to reach every subscriber (or give up after 10 s).
  const stop = performance.now() + 10_000
  let lastAcked = -1
  let lastDelivered = -1
  let tAck = performance.now()
  let tDelivered = performance.now()
  while (performance.now() < stop) {
    const a = pub.counts[Tag.event]!
    const d = counts[Tag.event]!
    if (a !== lastAcked) {
      lastAcked = a
      tAck = performance.now()
    }
    if (d !== lastDelivered) {
      lastDelivered = d
      tDelivered = performance.now()
    }
    // >=: the relay's checkpoint events (one per 256 stamps) reach every member too.
    if (a >= sent && d >= sent * subscribers) break
    await sleep(10)
  }
  const relayCpu = cpuSecondsOf(relayPid) - cpu0
  const loadUsage = process.cpuUsage(load0)
  const loadCpu = (loadUsage.user + loadUsage.system) / 1e6
  const errors = pub.counts[Tag.error]!
  for (const s of [...subs, pub]) s.close()
  return {
    // What one saturated relay core sustains, whoever the bottleneck of this run was.
    deliveriesPerRelayCpuSecond: lastDelivered / relayCpu,
    relayCpuShare: relayCpu / ((tDelivered - t0) / 1000),
    // The load generator's core: near 1, it (not the relay) paces how many requests wait per read.
    loadCpuShare: loadCpu / ((tDelivered - t0) / 1000),
    stampedPerSec: lastAcked / ((tAck - t0) / 1000),
    deliveriesPerSec: lastDelivered / ((tDelivered - t0) / 1000),
    eventsPerSubscriberRead: lastDelivered / reads,
    sent,
    acked: lastAcked,
    delivered: lastDelivered,
    expectedDeliveries: sent * subscribers,
    errors,
  }
}

async function latency(port: number, subscribers: number, rate: number) {
  const { subs } = await joinedSubscribers(port, subscribers)
  const author = await Identity.generate()
  const n = rate * SECONDS
  const frames = await presign(author, n)
  const nonceOf = (frame: Uint8Array) => toHex(decodeRelayFrameNonce(frame))
  const sentAt = new Map<string, number>()
  const samples: number[] = []
  const watcher = subs[subs.length - 1]!
  watcher.onPayload = (p) => {
    if (p[1] !== Tag.event) return
    const f = decodeRelayFrame(p)
    if (f.type !== 'event') return
    const t = sentAt.get(toHex(f.event.clientNonce))
    if (t !== undefined) samples.push(performance.now() - t)
  }
  const pub = await login(port, author)
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate
    while (performance.now() < due) await sleep(Math.max(0, due - performance.now()))
    sentAt.set(nonceOf(frames[i]!), performance.now())
    pub.send(frames[i]!)
  }
  const stop = performance.now() + 5000
  while (samples.length < n && performance.now() < stop) await sleep(10)
  for (const s of [...subs, pub]) s.close()
  samples.sort((a, b) => a - b)
  const q = (x: number) => samples[Math.min(samples.length - 1, Math.floor(x * samples.length))]!
  return { p50Ms: q(0.5), p99Ms: q(0.99), samples: samples.length, sent: n }
}

/** The clientNonce inside an encoded publish frame (version, tag, then the request). */
function decodeRelayFrameNonce(frame: Uint8Array): Uint8Array {
  const f = decodeFrameLoose(frame)
  return f
}
function decodeFrameLoose(frame: Uint8Array): Uint8Array {
  // publish = 1 0x02 ver channel(varstr) kind(varstr) author(32) nonce(16) ...
  let off = 3
  off += 1 + frame[off]!
  off += 1 + frame[off]!
  off += 32
  return frame.subarray(off, off + 16)
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024
}

async function idle(port: number, connections: number, relayPid: number) {
  await sleep(1000)
  const before = rssOf(relayPid)
  const ids = await inBatches(connections, 1000, () => Identity.generate())
  const clients = await inBatches(connections, 200, (i) => login(port, ids[i]!))
  await sleep(2000)
  const after = rssOf(relayPid)
  for (const c of clients) c.close()
  return {
    connections: clients.length,
    rssBeforeMB: before / 2 ** 20,
    rssAfterMB: after / 2 ** 20,
    bytesPerConnection: (after - before) / clients.length,
  }
}

async function loadMain(arg: string): Promise<void> {
  useNodeCrypto()
  const { port, scenario, relayPid } = JSON.parse(arg) as {
    port: number
    scenario: Scenario
    relayPid: number
  }
  let result: unknown
  if (scenario.kind === 'fanout') result = await fanout(port, scenario.subscribers, relayPid)
  else if (scenario.kind === 'latency') result = await latency(port, scenario.subscribers, scenario.rate)
  else result = await idle(port, scenario.connections, relayPid)
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  process.exit(0)
}

// ---- orchestrator ------------------------------------------------------------------------

/** The relay, limits lifted, pinned to core 0 (BENCH_RELAY_NODE_FLAGS: see startRelay). */
function startShell(shell: Shell) {
  return startRelay({
    core: 0,
    args: ['--shell', shell, '--port', '0', '--quiet', ...LIFTED_LIMITS.flatMap((l) => ['--limit', l])],
  })
}

async function runCase(shell: Shell, scenario: Scenario): Promise<Record<string, number>> {
  const relay = await startShell(shell)
  try {
    const spec = { port: relay.port, scenario, relayPid: relay.child.pid }
    return await runLoad({ core: 1, args: ['bench/relay.ts', 'load', JSON.stringify(spec)] })
  } finally {
    await stopRelay(relay.child)
  }
}

async function main(): Promise<void> {
  const scenarios: Array<[string, Scenario]> = [
    ['fan-out 100', { kind: 'fanout', subscribers: 100 }],
    ['fan-out 1000', { kind: 'fanout', subscribers: 1000 }],
    ['latency 200/s, 100 subs', { kind: 'latency', subscribers: 100, rate: 200 }],
    [`idle ${IDLE_CONNECTIONS}`, { kind: 'idle', connections: IDLE_CONNECTIONS }],
  ]
  // BENCH_ONLY=idle (or fan-out, latency) runs the cases whose name starts with it.
  const only = process.env.BENCH_ONLY
  const selected = only ? scenarios.filter(([name]) => name.startsWith(only)) : scenarios
  const rows: string[] = []
  const fmt = (n: number, d = 0) =>
    n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
  // The machine is shared: shells alternate in rounds, and each figure is the median round,
  // with the ratio taken per round (so a burst of outside load skews one round, not one shell).
  const shells = (process.env.BENCH_SHELLS ?? 'ws,uws').split(',') as Shell[]
  type Round = Record<Shell, Record<string, number>>
  const row = (label: string, key: string, digits: number, runs: Round[]) => {
    const ws = median(runs.map((r) => r.ws[key]!))
    const uws = median(runs.map((r) => r.uws[key]!))
    const ratio = median(runs.map((r) => r.uws[key]! / r.ws[key]!))
    rows.push(`| ${label} | ${fmt(ws, digits)} | ${fmt(uws, digits)} | ${fmt(ratio, 2)}x |`)
  }
  for (const [name, scenario] of selected) {
    const runs: Round[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const results: Round = { ws: {}, uws: {} }
      for (const shell of shells) {
        results[shell] = await runCase(shell, scenario)
        process.stderr.write(`${name} round ${round + 1} ${shell}: ${JSON.stringify(results[shell])}\n`)
      }
      runs.push(results)
    }
    if (shells.length < 2) continue
    if (scenario.kind === 'fanout') {
      row(`${name}: stamped msgs/s`, 'stampedPerSec', 0, runs)
      row(`${name}: deliveries/s`, 'deliveriesPerSec', 0, runs)
      row(`${name}: deliveries per relay CPU second`, 'deliveriesPerRelayCpuSecond', 0, runs)
      row(`${name}: relay core busy (share)`, 'relayCpuShare', 2, runs)
      row(`${name}: load generator core busy (share)`, 'loadCpuShare', 2, runs)
      row(`${name}: events per subscriber read`, 'eventsPerSubscriberRead', 2, runs)
    } else if (scenario.kind === 'latency') {
      row(`${name}: p50 ms`, 'p50Ms', 2, runs)
      row(`${name}: p99 ms`, 'p99Ms', 2, runs)
    } else {
      row(`${name}: RSS bytes per idle authenticated connection`, 'bytesPerConnection', 0, runs)
    }
  }
  process.stdout.write(
    `\n| case | ws (baseline) | uWS | uWS / ws |\n| --- | --- | --- | --- |\n${rows.join('\n')}\n`,
  )
}

if (process.argv[2] === 'load') await loadMain(process.argv[3]!)
else await main()
