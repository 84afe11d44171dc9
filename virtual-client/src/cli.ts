#!/usr/bin/env -S node --import tsx
/**
 * peerchat-vc: `pnpm vc --relay http://127.0.0.1:8787` from the workspace root.
 * Several virtual clients run as separate processes (see README: y-webrtc allows one room
 * per JS realm, and @roamhq/wrtc is not usable from worker threads here).
 */
import { useNodeCrypto } from '@peerchat/engine/node'
import { HELP, parseVcConfig, type VcConfig } from './config.ts'
import { lineLogger, verboseFromEnv } from './host.ts'
import { renderMetrics, serveMetrics } from './metrics.ts'
import { VirtualClient } from './virtual-client.ts'

/** --verbose, handled here (the other options are config.ts's). */
const VERBOSE_HELP = `  --verbose             every event (started, meshed, profile) and keys [PEERCHAT_VERBOSE=1]
                        (default: a line when online, and errors)
`
const help = HELP.replace(/^ {2}--quiet /m, `${VERBOSE_HELP}  --quiet `)

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const verbose = argv.includes('--verbose') || verboseFromEnv(process.env)
  let config: VcConfig
  try {
    config = parseVcConfig(
      argv.filter((a) => a !== '--verbose'),
      process.env,
    )
  } catch (e) {
    process.stderr.write(`peerchat-vc: ${(e as Error).message}\n\n${help}`)
    process.exit(2)
  }
  if (config.help) return void process.stdout.write(help)
  useNodeCrypto()
  // The relay's log format (relay/src/log.ts): `TIME EVENT key=value ...`.
  const log = config.quiet ? () => {} : lineLogger(verbose)
  const vc = await VirtualClient.start({
    relayUrl: config.relayUrls,
    ...(config.relayKey ? { relayKey: config.relayKey } : {}),
    dataDir: config.dataDir,
    windowMs: config.windowMs,
    blobBudgetBytes: config.blobBudgetBytes,
    name: config.name,
    webrtc: config.webrtc,
    profile: config.profile,
    log,
  })
  let metricsPort: number | undefined
  let server: import('node:http').Server | undefined
  if (config.metricsPort !== undefined) {
    const m = await serveMetrics(
      async () => renderMetrics(await vc.counters(), vc.name),
      config.metricsPort,
      config.metricsHost,
    )
    server = m.server
    metricsPort = m.port
  }
  // Machine-readable line for scripts and tests.
  process.stdout.write(
    `peerchat-vc ${vc.name} online key ${vc.publicKey} metrics ${metricsPort === undefined ? '-' : metricsPort}\n`,
  )
  let stopping = false
  const shutdown = () => {
    if (stopping) return // a second Ctrl-C (terminal and supervisor) while stopping
    stopping = true
    server?.close()
    vc.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}

main().catch((e) => {
  process.stderr.write(`peerchat-vc: ${(e as Error).stack ?? e}\n`)
  process.exit(1)
})
