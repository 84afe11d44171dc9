/** Starts the virtual client CLI (`pnpm vc`'s entry) as a child process and reads its metrics. */
import { type ChildProcess, spawn } from 'node:child_process'
import { ROOT } from '../relay/relay-process.ts'

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
  const child = spawn(process.execPath, [...command, '--metrics-port', '0', '--quiet', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`virtual client did not start:\n${out}`)), 30_000)
    child.on('exit', (code) => reject(new Error(`virtual client exited ${code}:\n${out}`)))
    child.stdout!.on('data', () => {
      const m = /peerchat-vc (\S+) online key (\S+) metrics (\d+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      const metricsPort = Number(m[3])
      resolve({
        child,
        name: m[1]!,
        key: m[2]!,
        metricsPort,
        output: () => out,
        async metrics() {
          const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
          const values: Record<string, number> = {}
          for (const line of text.split('\n')) {
            const mm = /^peerchat_vc_(\w+)\{[^}]*\} (\S+)$/.exec(line)
            if (mm) values[mm[1]!] = Number(mm[2])
          }
          return values as VcMetrics
        },
        stop: () =>
          new Promise((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r()
            child.once('exit', () => r())
            child.kill('SIGTERM')
          }),
      })
    })
  })
}
