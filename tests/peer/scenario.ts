/**
 * What the multi-process peer scenarios share: a relay process with limits opened up for
 * bursts of test traffic, the arguments every peer process starts with, its counters, and
 * polling until a condition holds. Each scenario keeps only its own story.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'

/** Limits raised so one test process may post thousands of events and open many sockets. */
export const BURST_LIMITS: Readonly<Record<string, number>> = {
  eventsPerSecondPerKey: 1_000_000,
  eventBurstPerKey: 1_000_000,
  framesPerSecondPerAddress: 1_000_000,
  frameBurstPerAddress: 1_000_000,
  signalsPerSecondPerKey: 100_000,
  signalBurstPerKey: 100_000,
  unauthenticatedPerAddress: 1000,
}

export interface ScenarioRelayOptions {
  /** Limits on top of `BURST_LIMITS` (relay/src/limits.ts names). */
  limits?: Record<string, number>
  /**
   * `ws` when the test restarts the relay on the same port: this uWS build cannot re-bind a
   * port while the killed relay's sockets sit in TIME_WAIT.
   */
  shell?: 'uws' | 'ws'
  /** Fixed port (a restart). */
  port?: number
  /** Reuse a data dir (a restart keeps its key); a fresh temp dir otherwise. */
  dataDir?: string
  env?: Record<string, string>
}

export interface ScenarioRelay extends RelayProcess {
  dataDir: string
}

/** Starts a quiet relay process on loopback. */
export async function startRelay(o: ScenarioRelayOptions = {}): Promise<ScenarioRelay> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'peerchat-'))
  const limits = Object.entries({ ...BURST_LIMITS, ...o.limits }).flatMap(([k, v]) => [
    '--limit',
    `${k}=${v}`,
  ])
  const args = ['--data-dir', dataDir, '--quiet', ...limits]
  if (o.shell) args.push('--shell', o.shell)
  if (o.port !== undefined) args.push('--port', String(o.port))
  return { ...(await spawnRelay(args, o.env)), dataDir }
}

/** The `start` arguments of a peer process (tests/peer/peer-process.ts) on this relay. */
export function peerArgs(relay: RelayProcess, extra: Record<string, unknown> = {}) {
  return {
    relayUrl: relay.url,
    relayKey: relay.relayKey,
    channels: ['general'],
    room: 'community',
    kind: 'client',
    webrtc: true,
    ...extra,
  }
}

/** One counter of the relay's Prometheus `/metrics` (NaN when absent). */
export async function relayMetric(relay: RelayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${relay.url.replace('ws:', 'http:')}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return Number(line?.slice(name.length + 1))
}

/** Every byte the relay moved (in, out and forwarded): what attachment tests check stays small. */
export async function relayTraffic(relay: RelayProcess): Promise<number> {
  const names = ['bytes_in_total', 'bytes_out_total', 'forwarded_bytes_total']
  const values = await Promise.all(names.map((n) => relayMetric(relay, `peerchat_relay_${n}`)))
  return values.reduce((a, b) => a + b, 0)
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A wait longer than this is printed: a CI log then shows where a slow run spent its time. */
const SLOW_WAIT_MS = 5_000

/** Polls `cond` every 100 ms; throws naming `what` after `ms`. */
export async function until(
  cond: () => Promise<boolean> | boolean,
  what: string,
  ms = 60_000,
): Promise<void> {
  const start = Date.now()
  while (!(await cond())) {
    if (Date.now() > start + ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
  const took = Date.now() - start
  if (took > SLOW_WAIT_MS) console.warn(`slow: waited ${(took / 1000).toFixed(1)} s for ${what}`)
}
