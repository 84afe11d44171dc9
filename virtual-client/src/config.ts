/** Command line and environment -> virtual client options. Flags win over environment variables. */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { VirtualClientDefaults } from './virtual-client.ts'

export const HELP = `peerchat-vc: a virtual client, the headless peer of last resort of a peerchat community

usage: peerchat-vc --relay URL [options]

options (environment variable in brackets):
  --relay URL           the relay's base URL, http(s):// or ws(s):// [PEERCHAT_RELAY_URL]
                        (default http://127.0.0.1:$PORT, PORT defaulting to 8787)
  --relay-key KEY       the relay's public key (base64url) [PEERCHAT_RELAY_PUBLIC_KEY]; the relay's
                        URL/.well-known/peerchat.json must present it (default: trust that JSON)
  --name NAME           name in logs and metrics [PEERCHAT_VC_NAME] (default vc)
  --data-dir DIR        key file and store [PEERCHAT_VC_DATA_DIR]
                        (default $PEERCHAT_DATA_DIR/vc-NAME, PEERCHAT_DATA_DIR defaulting to ./.peerchat)
  --window-hours H      rolling window of history held [PEERCHAT_VC_WINDOW_HOURS] (default ${VirtualClientDefaults.windowMs / 3600_000})
  --metrics-port N      serve Prometheus text on /metrics (0 picks a free port) [PEERCHAT_VC_METRICS_PORT]
  --metrics-host HOST   address of the metrics endpoint (default 127.0.0.1)
  --no-webrtc           relay only (no mesh): it can then serve nobody
  --quiet               no log lines
  -h, --help            this text
`

export interface VcConfig {
  relayUrl: string
  relayKey: string | undefined
  name: string
  dataDir: string
  windowMs: number
  metricsPort: number | undefined
  metricsHost: string
  webrtc: boolean
  quiet: boolean
  help: boolean
}

export function parseVcConfig(argv: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): VcConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      relay: { type: 'string' },
      'relay-key': { type: 'string' },
      name: { type: 'string' },
      'data-dir': { type: 'string' },
      'window-hours': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      'no-webrtc': { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const name = values.name ?? env.PEERCHAT_VC_NAME ?? 'vc'
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new RangeError(`invalid --name ${name}`)
  const hours = Number(values['window-hours'] ?? env.PEERCHAT_VC_WINDOW_HOURS ?? 24)
  if (!(hours > 0) || hours > 24 * 365) throw new RangeError('--window-hours must be > 0 and at most a year')
  const metricsText = values['metrics-port'] ?? env.PEERCHAT_VC_METRICS_PORT
  const metricsPort = metricsText === undefined ? undefined : Number(metricsText)
  if (metricsPort !== undefined && (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535))
    throw new RangeError('--metrics-port must be 0..65535')
  const dataRoot = resolve(cwd, env.PEERCHAT_DATA_DIR ?? '.peerchat')
  return {
    relayUrl: values.relay ?? env.PEERCHAT_RELAY_URL ?? `http://127.0.0.1:${env.PORT ?? 8787}`,
    relayKey: values['relay-key'] ?? env.PEERCHAT_RELAY_PUBLIC_KEY,
    name,
    dataDir: resolve(cwd, values['data-dir'] ?? env.PEERCHAT_VC_DATA_DIR ?? `${dataRoot}/vc-${name}`),
    windowMs: hours * 3600_000,
    metricsPort,
    metricsHost: values['metrics-host'] ?? '127.0.0.1',
    webrtc: !values['no-webrtc'],
    quiet: values.quiet ?? false,
    help: values.help ?? false,
  }
}
