/** Command line and environment -> virtual client options. Flags win over environment variables. */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { VirtualClientDefaults } from './defaults.ts'
import { relayList } from './relay-url.ts'

export const HELP = `peerchat-vc: a virtual client, the headless peer of last resort of a peerchat community

usage: peerchat-vc --relay URL[,URL...] [options]

options (environment variable in brackets):
  --relay URL[,URL...]  the relay's base URL, http(s):// or ws(s):// [PEERCHAT_RELAY_URL]
                        (default http://127.0.0.1:$PORT, PORT defaulting to 8787); several,
                        comma-separated, for the nodes of one community (same relay key): it
                        logs in to one and fails over to the others
  --relay-key KEY       the relay's public key (base64url) [PEERCHAT_RELAY_PUBLIC_KEY]; the relay's
                        URL/.well-known/peerchat.json must present it (default: trust that JSON,
                        from the first node that answers; every node must present the same key)
  --name NAME           its name in logs and metrics, and with --profile its display name for
                        members [PEERCHAT_VC_NAME] (default vc; 1-64 letters, digits, dots,
                        dashes, underscores)
  --profile             publish NAME as its profile, as people publish their display name:
                        members then see NAME instead of a key [PEERCHAT_VC_PROFILE=1]
                        (pnpm start turns it on)
  --data-dir DIR        key file and store [PEERCHAT_VC_DATA_DIR]
                        (default $PEERCHAT_DATA_DIR/vc-NAME, PEERCHAT_DATA_DIR defaulting to ./.peerchat)
  --window-hours H      rolling window of history held [PEERCHAT_VC_WINDOW_HOURS] (default ${VirtualClientDefaults.windowMs / 3600_000})
  --blob-budget-mb MB   disk kept for blobs (images); least recently used go first
                        [PEERCHAT_VC_BLOB_BUDGET_MB] (default ${VirtualClientDefaults.blobBudgetBytes / 1048576})
  --metrics-port N      serve Prometheus text on /metrics (0 picks a free port) [PEERCHAT_VC_METRICS_PORT]
  --metrics-host HOST   address of the metrics endpoint (default 127.0.0.1)
  --no-webrtc           relay only (no mesh): it can then serve nobody
  --quiet               no log lines
  -h, --help            this text
`

export interface VcConfig {
  /** The relay's base URL, or one per node of the community (failover). */
  relayUrls: string[]
  relayKey: string | undefined
  name: string
  dataDir: string
  windowMs: number
  blobBudgetBytes: number
  metricsPort: number | undefined
  metricsHost: string
  webrtc: boolean
  /** Publish the name as a profile (the display name members see). */
  profile: boolean
  quiet: boolean
  help: boolean
}

export function parseVcConfig(argv: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): VcConfig {
  return parseArgv(argv, env, cwd, false).config
}

export const HOST_HELP = `peerchat-vc-host: several virtual clients in one process (one Node runtime and one
libwebrtc for all of them, each client in a module instance of its own)

usage: peerchat-vc-host --relay URL[,URL...] [options] NAME[=DATA_DIR]...

Each NAME[=DATA_DIR] is one virtual client (default vc1 vc2): NAME is what --name is to
peerchat-vc (its name in logs and metrics, and with --profile its display name for members);
DATA_DIR defaults as --data-dir does. Without operands, PEERCHAT_VC_NAMES (NAME,NAME...)
names them. Options are those of peerchat-vc except --name and --data-dir; one /metrics
endpoint serves every client (label vc="NAME").
`

export interface HostConfig extends Omit<VcConfig, 'name' | 'dataDir'> {
  clients: { name: string; dataDir: string }[]
}

/** peerchat-vc-host: peerchat-vc's flags (minus --name/--data-dir) and NAME[=DATA_DIR] operands. */
export function parseHostConfig(argv: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): HostConfig {
  const { config, positionals } = parseArgv(argv, env, cwd, true)
  const { name: _name, dataDir: _dataDir, ...rest } = config
  const operands = positionals.length > 0 ? positionals : namesFromEnv(env)
  const clients = operands.map((op) => {
    const at = op.indexOf('=')
    const name = at < 0 ? op : op.slice(0, at)
    checkName(name)
    return { name, dataDir: at < 0 ? defaultDataDir(name, env, cwd) : resolve(cwd, op.slice(at + 1)) }
  })
  const names = new Set(clients.map((c) => c.name))
  const dirs = new Set(clients.map((c) => c.dataDir))
  if (names.size < clients.length || dirs.size < clients.length)
    throw new RangeError('every virtual client needs its own name and data dir')
  return { ...rest, clients }
}

/** PEERCHAT_VC_NAMES: comma-separated names (default vc1,vc2). */
export function namesFromEnv(env: NodeJS.ProcessEnv): string[] {
  const names = (env.PEERCHAT_VC_NAMES ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '')
  return names.length > 0 ? names : ['vc1', 'vc2']
}

const checkName = (name: string): void => {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new RangeError(`invalid name ${name}`)
}
const defaultDataDir = (name: string, env: NodeJS.ProcessEnv, cwd: string): string =>
  resolve(cwd, env.PEERCHAT_DATA_DIR ?? '.peerchat', `vc-${name}`)

function parseArgv(
  argv: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  host: boolean,
): { config: VcConfig; positionals: string[] } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: host,
    options: {
      relay: { type: 'string' },
      'relay-key': { type: 'string' },
      ...(host ? {} : { name: { type: 'string' }, 'data-dir': { type: 'string' } }),
      'window-hours': { type: 'string' },
      'blob-budget-mb': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      'no-webrtc': { type: 'boolean' },
      profile: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const named = values as typeof values & { name?: string; 'data-dir'?: string }
  const name = named.name ?? env.PEERCHAT_VC_NAME ?? 'vc'
  if (!host) checkName(name)
  const hours = Number(values['window-hours'] ?? env.PEERCHAT_VC_WINDOW_HOURS ?? 24)
  if (!(hours > 0) || hours > 24 * 365) throw new RangeError('--window-hours must be > 0 and at most a year')
  const budgetText = values['blob-budget-mb'] ?? env.PEERCHAT_VC_BLOB_BUDGET_MB
  const budgetMb =
    budgetText === undefined ? VirtualClientDefaults.blobBudgetBytes / 1048576 : Number(budgetText)
  if (!Number.isInteger(budgetMb) || budgetMb < 0 || budgetMb > 1024 * 1024)
    throw new RangeError('--blob-budget-mb must be an integer 0..1048576')
  const metricsText = values['metrics-port'] ?? env.PEERCHAT_VC_METRICS_PORT
  const metricsPort = metricsText === undefined ? undefined : Number(metricsText)
  if (metricsPort !== undefined && (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535))
    throw new RangeError('--metrics-port must be 0..65535')
  const dataDir = named['data-dir'] ?? env.PEERCHAT_VC_DATA_DIR
  const config: VcConfig = {
    relayUrls: relayList(values.relay ?? env.PEERCHAT_RELAY_URL ?? `http://127.0.0.1:${env.PORT ?? 8787}`),
    relayKey: values['relay-key'] ?? env.PEERCHAT_RELAY_PUBLIC_KEY,
    name,
    dataDir: dataDir === undefined ? defaultDataDir(name, env, cwd) : resolve(cwd, dataDir),
    windowMs: hours * 3600_000,
    blobBudgetBytes: budgetMb * 1048576,
    metricsPort,
    metricsHost: values['metrics-host'] ?? '127.0.0.1',
    webrtc: !values['no-webrtc'],
    profile: values.profile ?? env.PEERCHAT_VC_PROFILE === '1',
    quiet: values.quiet ?? false,
    help: values.help ?? false,
  }
  return { config, positionals }
}
