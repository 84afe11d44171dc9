/**
 * Which Redis client the relay scales out with: ioredis 5 vs node-redis 5 (package `redis`),
 * both against one real redis-server 7 (tests/relay/redis-process.ts: a free loopback port; AOF
 * off for the timed parts unless --aof), in the same run.
 *
 * 1. Hot path: per stamped event one EVALSHA of the stamp script (INCR + PEXPIRE NX of the
 *    author's rate key; SET NX PX GET of a binary (author, clientNonce) idempotency key;
 *    SPUBLISH of a 300-byte binary frame to one of 4 shard channels, no subscriber). 1% of the
 *    calls are retries: they hit the idempotency key and must get the first call's binary record
 *    back byte for byte. N calls kept at 10,000 and at 100 in flight, auto-pipelined (ioredis
 *    `enableAutoPipelining: true`; node-redis writes everything queued in a tick at once); at
 *    10,000 also each with a bound on every call (ioredis `commandTimeout`, a timer per command;
 *    node-redis has none for a sent command, so the relay's own sweep, `withDeadline`), set too
 *    long to fire. Calls/s, call -> reply p50/p99.
 * 2. Sharded pub/sub delivery: one publisher connection (SPUBLISH), one subscriber connection
 *    (SSUBSCRIBE on 4 shard channels), 300-byte binary messages (bytes that are not UTF-8)
 *    checked byte for byte on arrival: at a fixed 5,000/s for 1 s, and as fast as it goes with
 *    2,000 messages outstanding. Messages/s delivered, publish -> receive p50/p99.
 * 3. CPU per case: redis-server's (INFO cpu, used_cpu_sys + used_cpu_user) and this Node
 *    process's (process.cpuUsage) seconds per 10,000 calls or messages.
 * 4. Outage (observed once, not timed): a 1 s stall (CLIENT PAUSE ALL), then kill -9 and a
 *    restart 3 s later, for each client with its defaults and with the settings proposed for the
 *    relay (RELAY_* below; node-redis also with a 500 ms `withDeadline`): what becomes of a call
 *    during the stall, one in flight at the kill, one issued while Redis is down and an
 *    SSUBSCRIBE issued while down; whether both connections come back and re-subscribe by
 *    themselves; whether the script (gone with the restart) still runs.
 *
 * The clients alternate order every round; each figure is the median round, each ratio the median
 * of the ratios within a round (the machine's load moves both clients alike).
 *
 *   pnpm bench:redis-clients [--rounds R] [--calls N] [--aof]     (default R=5, N=30000)
 */
import { once } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis as IORedis, type RedisOptions } from 'ioredis'
import { type CommandParser, createClient, defineScript, RESP_TYPES } from 'redis'
import { Deadlines } from '../relay/src/cluster/deadlines.ts'
import { type RedisProcess, startRedis } from '../tests/relay/redis-process.ts'
import { flag, median } from './cli.ts'

const args = process.argv.slice(2)
if (args.includes('--help')) {
  console.log(`usage: pnpm bench:redis-clients [--rounds R] [--calls N] [--aof]

  --rounds  rounds, clients alternating in each (default 5, or env ROUNDS)
  --calls   stamp-script calls per case and round (default 30000, or env CALLS)
  --aof     keep the test harness's appendonly yes + appendfsync always (default: AOF off)

ioredis vs node-redis against one redis-server: the relay's stamp script (EVALSHA: rate key,
idempotency key, SPUBLISH) at 10,000 and 100 in flight; sharded pub/sub delivery at 5,000/s and
at max rate; redis-server and Node CPU per 10k; then kill -9 / restart behaviour. ~1-2 minutes.`)
  process.exit(0)
}
const ROUNDS = Number(flag('--rounds') ?? process.env.ROUNDS ?? 5)
const CALLS = Number(flag('--calls') ?? process.env.CALLS ?? 30_000)
const AOF = args.includes('--aof')
const IN_FLIGHT = [10_000, 100]
const PACED_RATE = 5_000
const PACED_MS = 1_000
const MAX_MESSAGES = 30_000
const WINDOW = 2_000
const AUTHORS = 1_000
const FRAME_BYTES = 300
const STALL_MS = 1_000
const DOWN_MS = 3_000

const version = (pkg: string) =>
  (
    JSON.parse(readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as {
      version: string
    }
  ).version
const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const load: string[] = [loadavg()[0]!.toFixed(2)]

// ---- the stamp script -------------------------------------------------------------------------

/**
 * KEYS: rate key, idempotency key, shard channel (declared so a cluster client routes the call
 * to the channel's slot; all three share the `{community}` hash tag). ARGV: rate window ms,
 * stamp record, idempotency ttl ms, frame. Returns {count, nil, receivers} for a new stamp or
 * {count, record of the first stamp, -1} for a retry.
 */
const STAMP_LUA = `
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
local prev = redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3], 'GET')
if prev then return {n, prev, -1} end
return {n, false, redis.call('SPUBLISH', KEYS[3], ARGV[4])}
`
const RATE_WINDOW_MS = '10000'
const IDEM_TTL_MS = '600000'
type StampReply = [number, Buffer | null, number]

const NODE_REDIS_STAMP = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: STAMP_LUA,
  parseCommand(
    parser: CommandParser,
    rate: Buffer,
    idem: Buffer,
    channel: string,
    windowMs: string,
    record: Buffer,
    ttlMs: string,
    frame: Buffer,
  ) {
    parser.pushKeys([rate, idem, channel])
    parser.push(windowMs, record, ttlMs, frame)
  },
  transformReply: (reply: unknown) => reply as StampReply,
})

// ---- the two clients behind one shape ---------------------------------------------------------

/** A command connection and a subscriber connection of one client library. */
interface Client {
  readonly name: string
  stamp(rate: Buffer, idem: Buffer, channel: string, record: Buffer, frame: Buffer): Promise<StampReply>
  spublish(channel: string, message: Buffer): Promise<unknown>
  ssubscribe(channels: string[]): Promise<unknown>
  /** Where the subscriber connection's messages go (set per case). */
  onMessage: (channel: string, message: Buffer) => void
  /** 'ready' events of the command / subscriber connection (performance.now()). */
  readonly ready: { cmd: number[]; sub: number[] }
  errors: number
  close(): Promise<void>
}

interface IoStamp {
  peerchatStampBuffer(...args: (string | Buffer)[]): Promise<StampReply>
}

async function openIoredis(name: string, url: string, cmdOpts: RedisOptions, subOpts: RedisOptions) {
  const cmd = new IORedis(url, cmdOpts)
  const sub = new IORedis(url, subOpts)
  cmd.defineCommand('peerchatStamp', { numberOfKeys: 3, lua: STAMP_LUA })
  const stamper = cmd as unknown as IoStamp
  const c: Client = {
    name,
    stamp: (rate, idem, channel, record, frame) =>
      stamper.peerchatStampBuffer(rate, idem, channel, RATE_WINDOW_MS, record, IDEM_TTL_MS, frame),
    spublish: (channel, message) => cmd.spublish(channel, message),
    ssubscribe: (channels) => sub.ssubscribe(...channels),
    onMessage: () => {},
    ready: { cmd: [], sub: [] },
    errors: 0,
    async close() {
      cmd.disconnect()
      sub.disconnect()
    },
  }
  // Buffers in, Buffers out: only 'smessageBuffer' is listened to, so ioredis never decodes.
  sub.on('smessageBuffer', (channel: Buffer, message: Buffer) => c.onMessage(channel.toString(), message))
  for (const [role, r] of [
    ['cmd', cmd],
    ['sub', sub],
  ] as const) {
    r.on('error', () => c.errors++)
    r.on('ready', () => c.ready[role].push(performance.now()))
  }
  await Promise.all([cmd, sub].map((r) => (r.status === 'ready' ? undefined : once(r, 'ready'))))
  return c
}

type NodeRedisOptions = Parameters<typeof createClient>[0]

async function openNodeRedis(
  name: string,
  url: string,
  cmdOpts: NodeRedisOptions,
  subOpts: NodeRedisOptions,
) {
  const base = createClient({ ...cmdOpts, url, scripts: { peerchatStamp: NODE_REDIS_STAMP } })
  // Replies as Buffers (the idempotency record is binary); integers stay numbers.
  const cmd = base.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
  const sub = createClient({ ...subOpts, url })
  const c: Client = {
    name,
    stamp: (rate, idem, channel, record, frame) =>
      cmd.peerchatStamp(
        rate,
        idem,
        channel,
        RATE_WINDOW_MS,
        record,
        IDEM_TTL_MS,
        frame,
      ) as Promise<StampReply>,
    spublish: (channel, message) => base.sPublish(channel, message),
    // bufferMode = true: the listener gets (message: Buffer, channel: Buffer).
    ssubscribe: (channels) =>
      sub.sSubscribe(channels, (message, channel) => c.onMessage(channel.toString(), message), true),
    onMessage: () => {},
    ready: { cmd: [], sub: [] },
    errors: 0,
    async close() {
      base.destroy()
      sub.destroy()
    },
  }
  for (const [role, r] of [
    ['cmd', base],
    ['sub', sub],
  ] as const) {
    r.on('error', () => c.errors++)
    r.on('ready', () => c.ready[role].push(performance.now()))
  }
  await Promise.all([base.connect(), sub.connect()])
  return c
}

/**
 * What the relay wraps node-redis calls in (its `timeout` command option only bounds the wait to
 * be sent, not the reply): the relay's own `Deadlines`. Replaces `c.stamp` in place.
 */
function withDeadline(c: Client, ms: number): Client {
  const deadlines = new Deadlines(ms)
  const stamp = c.stamp
  c.stamp = (...a) => deadlines.bound(stamp(...a))
  const close = c.close
  c.close = () => {
    deadlines.stop()
    return close()
  }
  return c
}

// ---- fixtures ---------------------------------------------------------------------------------

/** Random bytes with some that are never UTF-8 (0xff, 0xfe, a broken 2-byte sequence). */
function binary(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  b.set([0xff, 0xfe, 0xc3, 0x28, 0x00], Math.min(4, Math.max(0, n - 5)))
  return b
}

const authors = Array.from({ length: AUTHORS }, (_, i) => binary(32, 1_000 + i))
const rateKeys = authors.map((a) => Buffer.concat([Buffer.from('rate:{c1}:'), a]))
/** Call i's idempotency key: its author + a 16-byte clientNonce; every 100th call retries the one before. */
const idemKeys: Buffer[] = []
const records: Buffer[] = []
for (let i = 0; i < CALLS; i++) {
  const nonce = Buffer.alloc(16)
  nonce.writeUInt32BE(i % 100 === 99 ? i - 1 : i, 12)
  idemKeys.push(
    Buffer.concat([Buffer.from('idem:{c1}:'), authors[(i % 100 === 99 ? i - 1 : i) % AUTHORS]!, nonce]),
  )
  const record = binary(40, 7 + i)
  record.writeUInt32BE(i, 0)
  records.push(record)
}
const FRAME = binary(FRAME_BYTES, 42)
const hotChannels = [0, 1, 2, 3].map((i) => `ev:{c1}:${i}`)
/** Each client's own shard channels, so no other subscriber connection does work in its case. */
const subChannels = (c: Client) => [0, 1, 2, 3].map((i) => `sub:{c1}:${c.name}:${i}`)

// ---- measurement ------------------------------------------------------------------------------

interface Sample {
  rate: number
  p50: number
  p99: number
  redisCpu: number
  nodeCpu: number
  bad: number
}

const pct = (sorted: Float64Array, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

async function redisCpuSeconds(admin: IORedis): Promise<number> {
  const info = await admin.info('cpu')
  const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)![1])
  return v('used_cpu_sys') + v('used_cpu_user')
}

/** Runs one case on a flushed Redis: rate, latency percentiles and both CPUs per 10k. */
async function measured(
  admin: IORedis,
  n: number,
  body: () => Promise<{ lat: Float64Array; bad: number }>,
): Promise<Sample> {
  await admin.flushall('SYNC')
  const r0 = await redisCpuSeconds(admin)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const { lat, bad } = await body()
  const ms = performance.now() - t0
  const c = process.cpuUsage(c0)
  const r1 = await redisCpuSeconds(admin)
  lat.sort()
  return {
    rate: (n / ms) * 1000,
    p50: pct(lat, 0.5),
    p99: pct(lat, 0.99),
    redisCpu: ((r1 - r0) / n) * 1e4,
    nodeCpu: ((c.user + c.system) / 1e6 / n) * 1e4,
    bad,
  }
}

/** CALLS stamp-script calls, `inFlight` at a time; checks every reply. */
async function hotPath(c: Client, inFlight: number, calls = CALLS) {
  const lat = new Float64Array(calls)
  let next = 0
  let retries = 0
  let bad = 0
  const worker = async () => {
    while (next < calls) {
      const i = next++
      const a = performance.now()
      const [count, prev, receivers] = await c.stamp(
        rateKeys[i % AUTHORS]!,
        idemKeys[i]!,
        hotChannels[i & 3]!,
        records[i]!,
        FRAME,
      )
      lat[i] = performance.now() - a
      if (prev !== null) {
        retries++
        if (!Buffer.isBuffer(prev) || !prev.equals(records[i - 1]!) || i % 100 !== 99) bad++
      } else if (receivers !== 0 || typeof count !== 'number' || count < 1) bad++
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, calls) }, worker))
  const expected = Array.from({ length: calls }, (_, i) => i % 100 === 99).filter(Boolean).length
  if (retries !== expected) bad += Math.abs(retries - expected)
  return { lat, bad }
}

/** `count` messages over the 4 shard channels, paced at `rate`/s or (undefined) WINDOW outstanding. */
async function delivery(c: Client, count: number, rate: number | undefined) {
  const channels = subChannels(c)
  const sentAt = new Float64Array(count)
  const lat = new Float64Array(count)
  let sent = 0
  let received = 0
  let bad = 0
  let done = () => {}
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  const send = () => {
    const seq = sent++
    const m = Buffer.allocUnsafe(FRAME_BYTES)
    FRAME.copy(m)
    m.writeUInt32LE(seq, 0)
    sentAt[seq] = performance.now()
    c.spublish(channels[seq & 3]!, m).catch(() => bad++)
  }
  const pump = () => {
    while (sent < count && sent - received < WINDOW) send()
  }
  c.onMessage = (_channel, message) => {
    const now = performance.now()
    if (!Buffer.isBuffer(message) || message.length !== FRAME_BYTES) {
      bad++
      return
    }
    if (message.compare(FRAME, 4, FRAME_BYTES, 4, FRAME_BYTES) !== 0) bad++
    const seq = message.readUInt32LE(0)
    lat[seq] = now - sentAt[seq]!
    if (++received === count) done()
    else if (rate === undefined) pump()
  }
  if (rate === undefined) pump()
  else {
    const t0 = performance.now()
    while (sent < count) {
      const due = Math.min(count, Math.ceil(((performance.now() - t0) * rate) / 1000))
      while (sent < due) send()
      await sleep(1)
    }
  }
  await Promise.race([finished, sleep(30_000)])
  c.onMessage = () => {}
  if (received < count) bad += count - received
  return { lat: lat.subarray(0, received), bad }
}

// ---- 1-3: timed cases -------------------------------------------------------------------------

const redis = await startRedis()
// A crash must not leave the server behind (stop's kill is synchronous).
process.on('exit', () => {
  void redis.stop(true)
  rmSync(redis.dir, { recursive: true, force: true })
})
const admin = new IORedis(redis.url)
admin.on('error', () => {})
if (!AOF) await admin.config('SET', 'appendonly', 'no')
const serverInfo = await admin.info('server')
const redisVersion = /redis_version:(\S+)/.exec(serverInfo)![1]

const io = await openIoredis('ioredis', redis.url, { enableAutoPipelining: true }, {})
const ioTimeout = await openIoredis(
  'ioredis + commandTimeout 10 s',
  redis.url,
  { enableAutoPipelining: true, commandTimeout: 10_000 },
  {},
)
const nr = await openNodeRedis('node-redis', redis.url, {}, {})
const nrDeadline = withDeadline(
  await openNodeRedis('node-redis + 10 s deadline sweep', redis.url, {}, {}),
  10_000,
)
const clients = [io, nr]
const guarded = [ioTimeout, nrDeadline]
for (const c of [...clients, ...guarded]) await c.ssubscribe(subChannels(c))

// Warm-up: loads the script on each connection, JIT.
for (const c of [...clients, ...guarded]) {
  await admin.flushall('SYNC')
  await hotPath(c, 1_000, 5_000)
  await delivery(c, 2_000, undefined)
}

const samples = new Map<string, Sample[]>()
const add = (key: string, s: Sample) => {
  const list = samples.get(key) ?? []
  list.push(s)
  samples.set(key, list)
}
const t0 = performance.now()
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? [nr, io] : [io, nr]
  for (const inFlight of IN_FLIGHT)
    for (const c of inFlight === IN_FLIGHT[0]
      ? [...order, ...(r % 2 ? [...guarded].reverse() : guarded)]
      : order)
      add(`hot|${inFlight}|${c.name}`, await measured(admin, CALLS, () => hotPath(c, inFlight)))
  for (const c of order) {
    const n = (PACED_RATE * PACED_MS) / 1000
    add(`paced|${c.name}`, await measured(admin, n, () => delivery(c, n, PACED_RATE)))
  }
  for (const c of order)
    add(`max|${c.name}`, await measured(admin, MAX_MESSAGES, () => delivery(c, MAX_MESSAGES, undefined)))
  load.push(loadavg()[0]!.toFixed(2))
  console.log(`round ${r + 1}/${ROUNDS} done (${fmt((performance.now() - t0) / 1000, 1)} s)`)
}
for (const c of [...clients, ...guarded]) await c.close()

const med = (key: string) => {
  const list = samples.get(key)!
  const m = (f: (s: Sample) => number) => median(list.map(f))
  return {
    rate: m((s) => s.rate),
    p50: m((s) => s.p50),
    p99: m((s) => s.p99),
    redisCpu: m((s) => s.redisCpu),
    nodeCpu: m((s) => s.nodeCpu),
    bad: list.reduce((t, s) => t + s.bad, 0),
  }
}
/** calls/s of `key` over calls/s of `baseKey` in the same round: the median of those ratios. */
const paired = (key: string, baseKey: string) => {
  const a = samples.get(key)!
  const b = samples.get(baseKey)!
  return median(a.map((s, i) => s.rate / b[i]!.rate))
}
const checked = (bad: number) => (bad ? `**${fmt(bad)} bad**` : 'ok')
const tables: string[] = []
{
  const rows: string[] = []
  for (const inFlight of IN_FLIGHT) {
    const names =
      inFlight === IN_FLIGHT[0]
        ? ['ioredis', 'node-redis', ...guarded.map((c) => c.name)]
        : ['ioredis', 'node-redis']
    for (const name of names) {
      const s = med(`hot|${inFlight}|${name}`)
      rows.push(
        `| ${name} | ${fmt(inFlight)} | ${fmt(s.rate)} | ${paired(`hot|${inFlight}|${name}`, `hot|${inFlight}|ioredis`).toFixed(2)}x | ${fmt(s.p50, 1)} | ${fmt(s.p99, 1)} | ${s.redisCpu.toFixed(3)} | ${s.nodeCpu.toFixed(3)} | ${checked(s.bad)} |`,
      )
    }
  }
  tables.push(
    [
      `## hot path: EVALSHA stamp script (INCR + PEXPIRE, SET NX PX GET, SPUBLISH ${FRAME_BYTES} B), ${fmt(CALLS)} calls (median of ${ROUNDS} rounds)`,
      '| client | in flight | calls/s | vs ioredis | p50 ms | p99 ms | redis CPU s / 10k | node CPU s / 10k | replies checked |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...rows,
    ].join('\n'),
  )
}
{
  const rows: string[] = []
  for (const [key, label] of [
    ['paced', `${fmt(PACED_RATE)}/s for ${PACED_MS / 1000} s`],
    ['max', `max (${fmt(MAX_MESSAGES)}, ${fmt(WINDOW)} outstanding)`],
  ] as const) {
    for (const name of ['ioredis', 'node-redis']) {
      const s = med(`${key}|${name}`)
      rows.push(
        `| ${name} | ${label} | ${fmt(s.rate)} | ${paired(`${key}|${name}`, `${key}|ioredis`).toFixed(2)}x | ${fmt(s.p50, 2)} | ${fmt(s.p99, 2)} | ${s.redisCpu.toFixed(3)} | ${s.nodeCpu.toFixed(3)} | ${checked(s.bad)} |`,
      )
    }
  }
  tables.push(
    [
      `## sharded pub/sub: SPUBLISH -> SSUBSCRIBE (4 shard channels), ${FRAME_BYTES}-byte binary messages (median of ${ROUNDS} rounds)`,
      '| client | rate | delivered msg/s | vs ioredis | p50 ms | p99 ms | redis CPU s / 10k | node CPU s / 10k | bytes checked |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...rows,
    ].join('\n'),
  )
}

// ---- 4: outage --------------------------------------------------------------------------------

interface Outcome {
  state: 'pending' | 'ok' | 'error'
  ms: number
  what: string
}
/** What became of `p`, `ms` after it was issued. */
function track(p: Promise<unknown>): Outcome {
  const a = performance.now()
  const o: Outcome = { state: 'pending', ms: 0, what: '' }
  p.then(
    () => Object.assign(o, { state: 'ok', ms: performance.now() - a }),
    (e: Error) =>
      Object.assign(o, {
        state: 'error',
        ms: performance.now() - a,
        what: `${e.constructor.name}: ${e.message.split('.')[0]}`,
      }),
  )
  return o
}
const show = (o: Outcome, after = '') =>
  o.state === 'pending'
    ? `still pending${after}`
    : o.state === 'ok'
      ? `resolved after ${fmt(o.ms)} ms`
      : `rejected after ${fmt(o.ms)} ms: ${o.what}`

const backoff = (n: number) => Math.min(n * 50, 1_000)
const RELAY_IOREDIS_CMD: RedisOptions = {
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 500,
  retryStrategy: backoff,
}
const RELAY_IOREDIS_SUB: RedisOptions = {
  autoResubscribe: true,
  maxRetriesPerRequest: null,
  retryStrategy: backoff,
}
/** Plus `withDeadline(client, 500)`: node-redis has no timeout for a call already sent. */
const RELAY_NODE_REDIS_CMD: NodeRedisOptions = {
  disableOfflineQueue: true,
  socket: { reconnectStrategy: backoff },
}
const RELAY_NODE_REDIS_SUB: NodeRedisOptions = { socket: { reconnectStrategy: backoff } }

async function outage(server: RedisProcess) {
  const variants = [
    await openIoredis('ioredis, defaults', server.url, { enableAutoPipelining: true }, {}),
    await openIoredis('ioredis, relay settings', server.url, RELAY_IOREDIS_CMD, RELAY_IOREDIS_SUB),
    await openNodeRedis('node-redis, defaults', server.url, {}, {}),
    withDeadline(
      await openNodeRedis(
        'node-redis, relay settings',
        server.url,
        RELAY_NODE_REDIS_CMD,
        RELAY_NODE_REDIS_SUB,
      ),
      500,
    ),
  ]
  const got = new Map<string, Set<string>>()
  const probe = Buffer.concat([FRAME, Buffer.from([0xff])])
  for (const [i, v] of variants.entries()) {
    got.set(v.name, new Set())
    v.onMessage = (channel, message) => {
      if (Buffer.isBuffer(message) && message.equals(probe)) got.get(v.name)!.add(channel)
    }
    await v.ssubscribe([`old:{c1}:${i}`])
  }
  const call = (v: Client, i: number) =>
    track(v.stamp(rateKeys[0]!, idemKeys[i]!, hotChannels[0]!, records[i]!, FRAME))
  const rows = new Map<string, string[]>(variants.map((v) => [v.name, []]))
  const note = (v: Client, s: string) => rows.get(v.name)!.push(s)

  // A stalled Redis: it reads but answers nothing.
  await admin.client('PAUSE', String(60_000), 'ALL')
  const stalled = variants.map((v, i) => call(v, 10 + i))
  await sleep(STALL_MS - 100)
  const inFlight = variants.map((v, i) => call(v, 20 + i))
  await sleep(100)
  for (const [i, v] of variants.entries()) note(v, show(stalled[i]!, ` after ${fmt(STALL_MS)} ms`))
  const errorsBefore = variants.map((v) => v.errors)

  await server.stop(true)
  const killedAt = performance.now()
  await sleep(300)
  const whileDown = variants.map((v, i) => call(v, 30 + i))
  const subWhileDown = variants.map((v, i) => track(v.ssubscribe([`new:{c1}:${i}`])))
  await sleep(DOWN_MS - 300)
  for (const [i, v] of variants.entries()) {
    note(v, show(inFlight[i]!, ` at the restart (${fmt(DOWN_MS)} ms down)`))
    note(v, show(whileDown[i]!, ` at the restart (${fmt(DOWN_MS - 300)} ms)`))
    note(v, show(subWhileDown[i]!, ' at the restart'))
    note(v, `${v.errors - errorsBefore[i]!} in ${fmt(DOWN_MS)} ms`)
  }
  const marks = variants.map((v) => ({ cmd: v.ready.cmd.length, sub: v.ready.sub.length }))
  await server.restart()
  const restartedAt = performance.now()
  const back = (v: Client, i: number) =>
    v.ready.cmd.length > marks[i]!.cmd && v.ready.sub.length > marks[i]!.sub
  for (let t = 0; t < 100 && !variants.every(back); t++) await sleep(100)
  await sleep(500)
  for (const [i, v] of variants.entries()) {
    const after = (xs: number[], mark: number) =>
      xs.length > mark ? `${fmt(xs[mark]! - restartedAt)} ms` : 'not within 10 s'
    note(v, `${after(v.ready.cmd, marks[i]!.cmd)} / ${after(v.ready.sub, marks[i]!.sub)}`)
  }
  for (const i of variants.keys()) {
    await admin.spublish(`old:{c1}:${i}`, probe)
    await admin.spublish(`new:{c1}:${i}`, probe)
  }
  const afterRestart = variants.map((v, i) => call(v, 40 + i))
  await sleep(1_000)
  for (const [i, v] of variants.entries()) {
    const g = got.get(v.name)!
    note(v, g.has(`old:{c1}:${i}`) ? 'yes' : 'no')
    note(v, g.has(`new:{c1}:${i}`) ? 'yes' : 'no')
    note(v, show(afterRestart[i]!))
    note(v, show(stalled[i]!))
    note(v, show(inFlight[i]!))
    note(v, show(whileDown[i]!))
  }
  console.log(`killed at +0, restarted at +${fmt(restartedAt - killedAt)} ms`)
  const labels = [
    `stamp call during a ${fmt(STALL_MS)} ms stall (CLIENT PAUSE ALL)`,
    'stamp call in flight at kill -9',
    'stamp call issued while down',
    'SSUBSCRIBE issued while down',
    "'error' events while down",
    'ready again after the restart (cmd / sub)',
    'old shard subscription delivers again',
    'SSUBSCRIBE from while down is active',
    'stamp call after reconnect (script cache was lost)',
    'stalled call, finally',
    'in-flight call, finally',
    'call issued while down, finally',
  ]
  tables.push(
    [
      `## outage: ${fmt(STALL_MS)} ms stall, then kill -9, restart after ${fmt(DOWN_MS)} ms (observed once)`,
      `| | ${variants.map((v) => v.name).join(' | ')} |`,
      `| --- | ${variants.map(() => '---').join(' | ')} |`,
      ...labels.map((l, k) => `| ${l} | ${variants.map((v) => rows.get(v.name)![k]).join(' | ')} |`),
    ].join('\n'),
  )
  for (const v of variants) await v.close()
}
await outage(redis)

console.log(
  `\nnode ${process.version}, ${cpus().length} cores, redis-server ${redisVersion} (AOF ${AOF ? 'on, appendfsync always' : 'off'}), ioredis ${version('ioredis')}, redis (node-redis) ${version('redis')}, ${new Date().toISOString().slice(0, 16)} UTC`,
)
console.log(`load average (1 min) at the start and after each round: ${load.join(', ')}\n`)
console.log(tables.join('\n\n'))
admin.disconnect()
await redis.dispose()
process.exit(0)
