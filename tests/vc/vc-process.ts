/**
 * Starts virtual clients as child processes and reads their metrics: one client per process
 * (the CLI, `pnpm vc`'s entry) or several in one (the host that `pnpm start` runs).
 */
import type { ChildProcess } from 'node:child_process'
import { startNode } from '../relay/relay-process.ts'

/** The virtual client's metrics, by name without the `peerchat_vc_` prefix (virtual-client/src/metrics.ts). */
export type VcMetrics = Record<
  | 'events_held'
  | 'channels'
  | 'mesh_peers'
  | 'served_events_total'
  | 'served_bytes_total'
  | 'from_peers_total'
  | 'from_relay_total'
  | 'disk_bytes'
  | 'blobs_held'
  | 'blob_bytes'
  | 'blob_bytes_served_total'
  | 'blob_bytes_received_total'
  | 'rss_bytes'
  | 'heap_used_bytes',
  number
>

export interface VcProcess {
  child: ChildProcess
  name: string
  key: string
  metricsPort: number
  output: () => string
  /** The counters of its /metrics endpoint, by metric name without the `peerchat_vc_` prefix. */
  metrics(): Promise<VcMetrics>
  stop(): Promise<void>
}

/** `node` arguments before the CLI's own: the TypeScript source through tsx unless told otherwise. */
const FROM_SOURCE = ['--import', 'tsx', 'virtual-client/src/cli.ts']

export function spawnVc(
  args: string[],
  env: Record<string, string> = {},
  command: string[] = FROM_SOURCE,
): Promise<VcProcess> {
  return spawnClients(command, args, env, 1).then((h) => h.clients[0]!)
}

export interface VcHostProcess {
  child: ChildProcess
  /** One handle per virtual client; each reads its own samples of the shared /metrics. */
  clients: VcProcess[]
  output: () => string
  stop(): Promise<void>
}

/** The bundled host (virtual-client/dist/host.mjs, built by `ensureBundles`) running `clients` NAME=DIR. */
export const HOST_BUNDLE = ['virtual-client/dist/host.mjs']

/** Starts several virtual clients in one process (peerchat-vc-host) with NAME=DIR operands in `args`. */
export function spawnVcHost(
  args: string[],
  count: number,
  env: Record<string, string> = {},
  command: string[] = HOST_BUNDLE,
): Promise<VcHostProcess> {
  return spawnClients(command, args, env, count)
}

async function spawnClients(
  command: string[],
  args: string[],
  env: Record<string, string>,
  count: number,
): Promise<VcHostProcess> {
  const started = await startNode([...command, '--metrics-port', '0', '--quiet', ...args], env, {
    what: 'virtual client process',
    timeoutMs: 30_000,
    ready: (out) => {
      const online = [...out.matchAll(/peerchat-vc (\S+) online key (\S+) metrics (\d+)/g)]
      return online.length < count ? undefined : online
    },
  })
  const { child, output } = started
  const stop = async () => void (await started.stop())
  const clients = started.value.map(
    (m): VcProcess => ({
      child,
      name: m[1]!,
      key: m[2]!,
      metricsPort: Number(m[3]),
      output,
      metrics: () => readMetrics(Number(m[3]), m[1]!),
      stop,
    }),
  )
  return { child, clients, output, stop }
}

/** The samples labelled vc="name" of a /metrics endpoint, by name without the `peerchat_vc_` prefix. */
async function readMetrics(port: number, name: string): Promise<VcMetrics> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const values: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const mm = /^peerchat_vc_(\w+)\{vc="([^"]*)"\} (\S+)$/.exec(line)
    if (mm && mm[2] === name) values[mm[1]!] = Number(mm[3])
  }
  return values as VcMetrics
}
