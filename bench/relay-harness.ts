/**
 * What the relay benchmarks share: a relay CLI in a child process (optionally pinned to a core
 * with `taskset`), a load generator child that prints `RESULT <json>`, and raw clients that log in.
 */
import { type ChildProcess, execSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Domain, decodeRelayFrame, encodeFrame, encodeLoginPayload, type Identity } from '@peerchat/engine'
import { RawClient } from './relay-raw-client.ts'

/** The repository's root, where `tsx` and the bench scripts resolve. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Every bench relay listens, and every bench client connects, here. */
export const HOST = '127.0.0.1'

/**
 * A raw client logged in to the relay at `port` as `id` (answering its challenge), its payload
 * handler cleared; `counts` may be shared by many clients (see RawClient.open).
 */
export async function login(port: number, id: Identity, counts?: Uint32Array): Promise<RawClient> {
  const c = await RawClient.open(HOST, port, '/relay', counts)
  await new Promise<void>((resolve, reject) => {
    c.onPayload = (p) => {
      const f = decodeRelayFrame(p)
      if (f.type === 'challenge') {
        const clientTime = Date.now()
        const payload = encodeLoginPayload({
          relayKey: f.relayKey,
          nonce: f.nonce,
          origin: `${HOST}:${port}`,
          clientTime,
        })
        id.sign(Domain.login, payload).then((sig) =>
          c.send(encodeFrame({ type: 'login', publicKey: id.publicKey, clientTime, sig, invite: null })),
        )
      } else if (f.type === 'welcome') resolve()
      else if (f.type === 'error') reject(new Error(`${f.code}: ${f.message}`))
    }
  })
  c.onPayload = null
  return c
}

const CLOCK_TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100

/** CPU seconds a process has used so far in user and in system (kernel) mode, from /proc/<pid>/stat. */
export function cpuTimesOf(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS } // fields 14, 15
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSecondsOf(pid: number): number {
  const { user, system } = cpuTimesOf(pid)
  return user + system
}

/** `--limit` values that let one address (127.0.0.1) and one key load the relay as hard as it goes. */
export const LIFTED_LIMITS = [
  'unauthenticatedPerAddress=100000',
  'socketsPerAddress=100000',
  'framesPerSecondPerAddress=Infinity',
  'eventsPerSecondPerKey=Infinity',
  'maxBackpressureBytes=16777216',
  'authDeadlineMs=60000',
]

/** `make(0) ... make(n - 1)`, at most `batch` of them in flight at once. */
export async function inBatches<T>(n: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = []
  for (let i = 0; i < n; i += batch)
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => make(i + j)))))
  return out
}

export interface RelayOptions {
  /** Arguments of `relay/src/cli.ts` (`--port 0` and the rest). */
  args: string[]
  /** The checkout whose relay runs (default: this one). */
  root?: string
  /** The core to pin the relay to with `taskset -c` (default: not pinned). */
  core?: number
  /** `pipe`: the relay's stderr is kept for the error message instead of shown (default `inherit`). */
  stderr?: 'inherit' | 'pipe'
  /** Rejects if the relay has not said "listening" by then (default: waits). */
  timeoutMs?: number
}

/**
 * Starts the relay CLI with a fresh key (PEERCHAT_RELAY_KEY emptied); resolves with its port once
 * it prints "listening on ws://HOST:PORT". BENCH_RELAY_NODE_FLAGS are its node flags, e.g.
 * BENCH_RELAY_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the relay.
 */
export function startRelay(o: RelayOptions): Promise<{ child: ChildProcess; port: number }> {
  const root = o.root ?? ROOT
  const argv = [
    process.execPath,
    ...(process.env.BENCH_RELAY_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
    '--import',
    'tsx',
    resolve(root, 'relay/src/cli.ts'),
    ...o.args,
  ]
  const stdio: ['ignore', 'pipe', 'inherit' | 'pipe'] = ['ignore', 'pipe', o.stderr ?? 'inherit']
  const options = { cwd: root, env: { ...process.env, PEERCHAT_RELAY_KEY: '' }, stdio }
  const child =
    o.core === undefined
      ? spawn(argv[0]!, argv.slice(1), options)
      : spawn('taskset', ['-c', String(o.core), ...argv], options)
  let out = ''
  child.stderr?.on('data', (d) => (out += d))
  return new Promise((ok, fail) => {
    const timer =
      o.timeoutMs && setTimeout(() => fail(new Error(`relay did not start:\n${out}`)), o.timeoutMs)
    child.on('exit', (code) => fail(new Error(`relay exited ${code}: ${out}`)))
    child.stdout!.on('data', (d) => {
      out += d
      const m = /listening on ws:\/\/[^:]+:(\d+)/.exec(out)
      if (!m) return
      if (timer) clearTimeout(timer)
      ok({ child, port: Number(m[1]) })
    })
  })
}

/** SIGTERM first (a --cpu-prof relay writes its profile on a clean exit), SIGKILL after 5 s. */
export async function stopRelay(child: ChildProcess): Promise<void> {
  child.removeAllListeners('exit')
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

export interface LoadOptions {
  /** The script and its arguments, run by node with tsx from the repository's root. */
  args: string[]
  /** The core to pin it to with `taskset -c` (default: not pinned). */
  core?: number
  /** Its whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv
  /** Names it in the error when it prints no result (default "load generator"). */
  what?: string
}

/** Runs a bench child (a load generator) to its exit; resolves with the JSON of its `RESULT ` line. */
export async function runLoad<T = Record<string, number>>(o: LoadOptions): Promise<T> {
  const argv = [process.execPath, '--import', 'tsx', ...o.args]
  const options = {
    cwd: ROOT,
    env: o.env,
    stdio: ['ignore', 'pipe', 'inherit'] as ['ignore', 'pipe', 'inherit'],
  }
  const child =
    o.core === undefined
      ? spawn(argv[0]!, argv.slice(1), options)
      : spawn('taskset', ['-c', String(o.core), ...argv], options)
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  await new Promise((r) => child.on('exit', r))
  const m = /RESULT (.*)/.exec(out)
  if (!m) throw new Error(`${o.what ?? 'load generator'} failed: ${out}`)
  return JSON.parse(m[1]!)
}
