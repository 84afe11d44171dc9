/**
 * Presence at scale (issue #13): what the relay sends when N members join one channel at once —
 * a reconnect storm, every member back within a few seconds — with the presence protocol of
 * another checkout (BEFORE: a PresenceJoin to every member per join, a full snapshot per joiner)
 * against this one (AFTER: one PresenceTick per channel per tick, a snapshot of the head).
 *
 *   git worktree add /tmp/pc-before <commit before #13>   # then give it node_modules (README)
 *   pnpm bench:presence --before /tmp/pc-before
 *   BENCH_SIZES=1000,5000,20000 BENCH_REAL=1000,5000 pnpm bench:presence --before /tmp/pc-before
 *
 * Two ways of driving each relay, for every size:
 *  - in-process: the checkout's `RelayCore` with an IO that only counts (a publish counts
 *    subscribers x bytes, nothing is copied), on a simulated clock: the joins are spread evenly
 *    over `BENCH_STORM_MS` (5 s) and the core is swept every 250 ms as the shells do. This is how
 *    20,000 members are measured: 20,000 real sockets do not fit this machine's 20,000 file
 *    descriptors per process (the load generator holds one per member), nor its 2 cores;
 *  - real sockets (`BENCH_REAL`, default 1,000 and 5,000): the checkout's relay CLI (uWS shell)
 *    in a child process and N raw WebSocket clients here that log in, then all join within
 *    `BENCH_REAL_STORM_MS` (3 s); every frame they receive is counted by tag and size until no
 *    presence frame has come for 2 s.
 * Both count the presence frames (tags 0x44-0x46 before, 0x4c-0x4e after) and their bytes
 * (payload bytes, as the relay's `bytes_out` metric counts them). Without `--before` only this
 * checkout is measured.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { Domain, decodeRelayFrame, encodeFrame, encodeLoginPayload, Identity } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { flag } from './cli.ts'
import { HOST, login, ROOT, startRelay, stopRelay } from './relay-harness.ts'
import type { RawClient } from './relay-raw-client.ts'

useNodeCrypto()

const ORIGIN = 'bench.local'
const sizesOf = (v: string | undefined, d: number[]): number[] =>
  v === undefined ? d : v === '' ? [] : v.split(',').map(Number)
const SIZES = sizesOf(process.env.BENCH_SIZES, [1_000, 5_000, 20_000])
const REAL = sizesOf(process.env.BENCH_REAL, [1_000, 5_000])
const STORM_MS = Number(process.env.BENCH_STORM_MS ?? 5_000)
const REAL_STORM_MS = Number(process.env.BENCH_REAL_STORM_MS ?? 3_000)
const SWEEP_MS = 250
/** Presence frame tags, both protocols: Presence, PresenceJoin, PresenceLeave; Snapshot, Tick, Page. */
const PRESENCE_TAGS = new Set([0x44, 0x45, 0x46, 0x4c, 0x4d, 0x4e])
/** Limits that let one address hold every member (identical for both checkouts). */
const BENCH_LIMITS = {
  socketsPerAddress: 1_000_000,
  unauthenticatedPerAddress: 1_000_000,
  framesPerSecondPerAddress: 1_000_000_000,
  frameBurstPerAddress: 1_000_000_000,
  // BEFORE sends each member up to a few MB at 5,000: keep everyone, so that every frame counts.
  maxBackpressureBytes: 256 * 1024 * 1024,
  checkpointEvery: 0,
}

interface Count {
  frames: number
  bytes: number
  /** All frames and bytes, presence or not (challenges, welcomes, pongs...). */
  allFrames: number
  allBytes: number
  /** The most presence frames one member received in one sweep interval (in-process only). */
  maxPerTick: number
  ms: number
}

const identities: Identity[] = []
async function ids(n: number): Promise<Identity[]> {
  while (identities.length < n) identities.push(await Identity.generate())
  return identities.slice(0, n)
}

// ---- in-process: the checkout's core, counting IO, simulated clock ---------------------------

interface Handle {
  id: number
  challenge: Uint8Array | null
  tickFrames: number
}

class CountingIo {
  readonly topics = new Map<string, Set<Handle>>()
  counting = false
  readonly c: Count = { frames: 0, bytes: 0, allFrames: 0, allBytes: 0, maxPerTick: 0, ms: 0 }
  private count(bytes: Uint8Array, receivers: number, who: Iterable<Handle>): void {
    if (bytes[1] === 0x41) for (const h of who) h.challenge = decodeChallenge(bytes)
    if (!this.counting) return
    this.c.allFrames += receivers
    this.c.allBytes += receivers * bytes.length
    if (!PRESENCE_TAGS.has(bytes[1]!)) return
    this.c.frames += receivers
    this.c.bytes += receivers * bytes.length
    for (const h of who) h.tickFrames++
  }
  send(h: Handle, bytes: Uint8Array): boolean {
    this.count(bytes, 1, [h])
    return true
  }
  subscribe(h: Handle, topic: string): void {
    const s = this.topics.get(topic)
    if (s) s.add(h)
    else this.topics.set(topic, new Set([h]))
  }
  unsubscribe(h: Handle, topic: string): void {
    this.topics.get(topic)?.delete(h)
  }
  publish(topic: string, bytes: Uint8Array): void {
    const s = this.topics.get(topic) ?? new Set<Handle>()
    this.count(bytes, s.size, s)
  }
  subscribers(topic: string): number {
    return this.topics.get(topic)?.size ?? 0
  }
  close(): void {}
  bufferedAmount(): number {
    return 0
  }
}

function decodeChallenge(bytes: Uint8Array): Uint8Array {
  const f = decodeRelayFrame(bytes)
  return f.type === 'challenge' ? f.nonce : new Uint8Array(0)
}

// biome-ignore lint/suspicious/noExplicitAny: each checkout's core is loaded at run time
type AnyCore = any

async function inProcess(checkout: string, n: number): Promise<Count> {
  const { RelayCore } = await import(resolve(checkout, 'relay/src/core/relay-core.ts'))
  const { createContext } = await import(resolve(checkout, 'relay/src/core/context.ts'))
  const relay = await Identity.generate()
  let t = 1_700_000_000_000
  const ctx = createContext({ relay, limits: BENCH_LIMITS, channels: ['general'], now: () => t })
  const io = new CountingIo()
  const core: AnyCore = new RelayCore(ctx, io)
  const people = await ids(n)
  const conns: { conn: AnyCore; h: Handle }[] = []
  for (let i = 0; i < n; i++) {
    const h: Handle = { id: i, challenge: null, tickFrames: 0 }
    const conn = core.newConn(HOST, ORIGIN)
    core.open(conn, h)
    const id = people[i]!
    const payload = encodeLoginPayload({
      relayKey: relay.publicKey,
      nonce: h.challenge!,
      origin: ORIGIN,
      clientTime: t,
    })
    const sig = await id.sign(Domain.login, payload)
    await core.message(
      conn,
      encodeFrame({ type: 'login', publicKey: id.publicKey, clientTime: t, sig, invite: null }),
    )
    conns.push({ conn, h })
  }
  io.counting = true
  const join = encodeFrame({ type: 'join', channel: 'general' })
  const start = performance.now()
  let next = t + SWEEP_MS
  const sweepTo = (until: number) => {
    while (next <= until) {
      t = next
      core.sweep()
      for (const { h } of conns) {
        io.c.maxPerTick = Math.max(io.c.maxPerTick, h.tickFrames)
        h.tickFrames = 0
      }
      next += SWEEP_MS
    }
  }
  const t0 = t
  for (let i = 0; i < n; i++) {
    sweepTo(t0 + (i * STORM_MS) / n)
    t = Math.max(t, t0 + (i * STORM_MS) / n)
    await core.message(conns[i]!.conn, join)
  }
  sweepTo(t0 + STORM_MS + 4 * SWEEP_MS)
  io.c.ms = performance.now() - start
  io.counting = false
  core.closeAll()
  ctx.metrics?.stop?.()
  return io.c
}

// ---- real sockets: the checkout's relay CLI, raw clients here --------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function realSockets(checkout: string, n: number): Promise<Count> {
  const limits = Object.entries(BENCH_LIMITS).flatMap(([k, v]) => ['--limit', `${k}=${v}`])
  const { child, port } = await startRelay({
    root: checkout,
    args: ['--host', HOST, '--port', '0', ...limits],
    stderr: 'pipe',
    timeoutMs: 30_000,
  })
  try {
    const people = await ids(n)
    const clients: RawClient[] = []
    for (let i = 0; i < n; i += 200)
      clients.push(...(await Promise.all(people.slice(i, i + 200).map((id) => login(port, id)))))
    const c: Count = { frames: 0, bytes: 0, allFrames: 0, allBytes: 0, maxPerTick: 0, ms: 0 }
    let last = performance.now()
    for (const client of clients)
      client.onPayload = (p) => {
        c.allFrames++
        c.allBytes += p.length
        if (!PRESENCE_TAGS.has(p[1]!)) return
        c.frames++
        c.bytes += p.length
        last = performance.now()
      }
    const join = encodeFrame({ type: 'join', channel: 'general' })
    const start = performance.now()
    const batch = Math.max(1, Math.ceil(n / (REAL_STORM_MS / 50)))
    for (let i = 0; i < n; i += batch) {
      for (const client of clients.slice(i, i + batch)) client.send(join)
      await sleep(50)
    }
    last = performance.now()
    while (performance.now() - last < 2_000) await sleep(100)
    c.ms = last - start
    for (const client of clients) client.close()
    return c
  } finally {
    await stopRelay(child)
  }
}

// ---- table ---------------------------------------------------------------------------------

const mb = (b: number) => (b / 1e6).toFixed(b < 1e7 ? 2 : 1)
const num = (x: number) => x.toLocaleString('en-US')
const ratio = (a: number, b: number) => (b === 0 ? '-' : `${(a / b).toFixed(a / b < 10 ? 1 : 0)}x`)

async function main(): Promise<void> {
  const before = flag('--before')
  if (before && !existsSync(resolve(before, 'relay/src/core/relay-core.ts')))
    throw new Error(`--before ${before}: no relay/src/core/relay-core.ts there`)
  const runs: { name: string; checkout: string }[] = [
    ...(before ? [{ name: 'before', checkout: resolve(before) }] : []),
    { name: 'after', checkout: ROOT },
  ]
  const rows: string[][] = []
  const header = [
    'members',
    'driver',
    ...runs.flatMap((r) => [`${r.name} frames`, `${r.name} MB`, `${r.name} s`]),
  ]
  if (before) header.push('frames ratio', 'bytes ratio')
  const cases = [
    ...SIZES.map((n) => ({ n, driver: 'in-process' as const })),
    ...REAL.map((n) => ({ n, driver: 'real sockets' as const })),
  ]
  for (const { n, driver } of cases) {
    const counts: Count[] = []
    for (const r of runs) {
      process.stderr.write(`${r.name} ${driver} ${n} ... `)
      const c = driver === 'in-process' ? await inProcess(r.checkout, n) : await realSockets(r.checkout, n)
      process.stderr.write(
        `${num(c.frames)} presence frames, ${mb(c.bytes)} MB (all frames ${num(c.allFrames)}), ` +
          `${driver === 'in-process' ? `max ${c.maxPerTick} presence frames per member per sweep, ` : ''}${(c.ms / 1000).toFixed(1)} s\n`,
      )
      counts.push(c)
    }
    const row = [
      num(n),
      driver,
      ...counts.flatMap((c) => [num(c.frames), mb(c.bytes), (c.ms / 1000).toFixed(1)]),
    ]
    if (before)
      row.push(ratio(counts[0]!.frames, counts[1]!.frames), ratio(counts[0]!.bytes, counts[1]!.bytes))
    rows.push(row)
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`
  console.log(line(header))
  console.log(`|${widths.map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`)
  for (const r of rows) console.log(line(r))
  console.log(
    `\nin-process: joins spread over ${STORM_MS} ms of simulated time, swept every ${SWEEP_MS} ms; "s" is the core's` +
      ` CPU time for the storm. real sockets: joins over ${REAL_STORM_MS} ms; "s" is first join to last presence frame.`,
  )
}

await main()
process.exit(0)
