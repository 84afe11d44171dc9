#!/usr/bin/env -S node --import tsx
/**
 * peerchat-vc: `pnpm vc --relay http://127.0.0.1:8787` from the workspace root.
 * Several virtual clients run as separate processes (see README: y-webrtc allows one room
 * per JS realm, and @roamhq/wrtc is not usable from worker threads here).
 */
import { useNodeCrypto } from '@peerchat/engine/node'
import { HELP, parseVcConfig, type VcConfig } from './config.ts'
import { renderMetrics, serveMetrics } from './metrics.ts'
import { VirtualClient } from './virtual-client.ts'

async function main(): Promise<void> {
  let config: VcConfig
  try {
    config = parseVcConfig(process.argv.slice(2), process.env)
  } catch (e) {
    process.stderr.write(`peerchat-vc: ${(e as Error).message}\n\n${HELP}`)
    process.exit(2)
  }
  if (config.help) return void process.stdout.write(HELP)
  useNodeCrypto()
  const log = config.quiet
    ? () => {}
    : (event: string, fields: Record<string, unknown> = {}) =>
        process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), event, ...fields })}\n`)
  const vc = await VirtualClient.start({
    relayUrl: config.relayUrl,
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
  const shutdown = () => {
    server?.close()
    vc.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}

main().catch((e) => {
  process.stderr.write(`peerchat-vc: ${(e as Error).stack ?? e}\n`)
  process.exit(1)
})
