/**
 * Several virtual clients in one process: what `peerchat-vc-host` (host-cli.ts, bundled to
 * dist/host.mjs) runs for scripts/start.mjs and the Docker image.
 *
 * Why one process: most of a virtual client's memory is the runtime, not its history — a
 * bare Node is ~40 MB resident and libwebrtc another ~25 MB (bench/README.md, ## memory).
 * Why not worker threads, as y-webrtc's one-room-per-realm rule suggests: `@roamhq/wrtc`
 * aborts the whole process when used from a worker (V8 "HandleScope ... without proper
 * locking", reproduced with Node 20.20 and wrtc 0.10). So each client runs in the main
 * thread from its own copy of the modules: `dist/vc-instance.mjs` (instance.ts) imported
 * once per client under a distinct URL.
 *
 * A client that fails to start, or any uncaught error, ends the process with a non-zero
 * code; the supervisor restarts it, and each FileStore's replay recovers its data.
 */
import { existsSync } from 'node:fs'
import type { Server } from 'node:http'
import type { HostConfig } from './config.ts'
import type { startInstance } from './instance.ts'
import { renderAllMetrics, serveMetrics } from './metrics.ts'
import type { VirtualClient } from './virtual-client.ts'

/** The per-client bundle, beside this file's bundle (dist/host.mjs) or under ../dist from src/. */
export const INSTANCE_BUNDLE = new URL('../dist/vc-instance.mjs', import.meta.url)
/** Yjs's "already imported" marker: each instance has its own Yjs on purpose (no doc crosses). */
const YJS_MARKER = '__ $YJS$ __'

/** A virtual client's log: an event name and fields (virtual-client.ts's `log` option). */
export type VcLog = (event: string, fields?: object) => void

/** Events printed without --verbose: one line per client when it is online, and errors. */
const DEFAULT_EVENTS = new Set(['vc.online', 'vc.error'])

/**
 * The log of peerchat-vc and peerchat-vc-host, in the relay's format (relay/src/log.ts):
 * `TIME EVENT key=value ...`. Without `verbose` only DEFAULT_EVENTS, and without keys.
 */
export function lineLogger(verbose: boolean, write = (line: string) => process.stdout.write(line)): VcLog {
  return (event, fields = {}) => {
    if (!verbose && !DEFAULT_EVENTS.has(event)) return
    let line = `${new Date().toISOString()} ${event}`
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined || (!verbose && k === 'key')) continue
      const text =
        typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)
      line += ` ${k}=${text === '' || /[\s"=]/.test(text) ? JSON.stringify(text) : text}`
    }
    write(`${line}\n`)
  }
}

/** `--verbose` or PEERCHAT_VERBOSE=1 (or true/yes). */
export const verboseFromEnv = (env: NodeJS.ProcessEnv): boolean =>
  /^(1|true|yes)$/i.test(env.PEERCHAT_VERBOSE ?? '')

/**
 * Yjs warns on stderr when a second copy initialises ("Yjs was already imported"). Here each
 * client has its own copy on purpose (YJS_MARKER), and the bundle initialises Yjs lazily, so
 * deleting the marker before each import does not always prevent the warning: drop that one
 * message, keep every other.
 */
function muteDuplicateYjsWarning(): void {
  const error = console.error
  if ((error as { peerchatMuted?: boolean }).peerchatMuted) return
  const muted = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Yjs was already imported')) return
    error.apply(console, args)
  }
  console.error = Object.assign(muted, { peerchatMuted: true })
}

/** Loads a fresh module instance of the virtual client bundle. */
export async function loadInstance(tag: string): Promise<typeof startInstance> {
  if (!existsSync(INSTANCE_BUNDLE))
    throw new Error(`${INSTANCE_BUNDLE.pathname} is missing: run \`node scripts/start.mjs --bundle-only\``)
  delete (globalThis as Record<string, unknown>)[YJS_MARKER]
  const mod = (await import(`${INSTANCE_BUNDLE.href}?client=${encodeURIComponent(tag)}`)) as {
    startInstance: typeof startInstance
  }
  return mod.startInstance
}

export async function runHost(config: HostConfig, log: VcLog) {
  muteDuplicateYjsWarning()
  const clients: VirtualClient[] = []
  let server: Server | undefined
  const stop = async () => {
    server?.close()
    await Promise.all(clients.map((c) => c.stop()))
  }
  try {
    for (const c of config.clients) {
      const start = await loadInstance(c.name)
      clients.push(
        await start({
          relayUrl: config.relayUrls,
          ...(config.relayKey ? { relayKey: config.relayKey } : {}),
          dataDir: c.dataDir,
          windowMs: config.windowMs,
          blobBudgetBytes: config.blobBudgetBytes,
          name: c.name,
          webrtc: config.webrtc,
          profile: config.profile,
          log,
        }),
      )
    }
    let metricsPort: number | undefined
    if (config.metricsPort !== undefined) {
      const render = async () =>
        renderAllMetrics(
          await Promise.all(clients.map(async (c) => ({ name: c.name, counters: await c.counters() }))),
        )
      const m = await serveMetrics(render, config.metricsPort, config.metricsHost)
      server = m.server
      metricsPort = m.port
    }
    return { clients, metricsPort, stop }
  } catch (e) {
    await stop()
    throw e
  }
}
