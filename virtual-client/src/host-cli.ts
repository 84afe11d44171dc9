#!/usr/bin/env -S node --import tsx
/**
 * peerchat-vc-host: `node virtual-client/dist/host.mjs --relay URL vc1=DIR vc2=DIR` runs both
 * virtual clients in this one process (host.ts says why and how). SIGINT/SIGTERM stop them.
 */
import { HOST_HELP, type HostConfig, parseHostConfig } from './config.ts'
import { runHost } from './host.ts'

async function main(): Promise<void> {
  let config: HostConfig
  try {
    config = parseHostConfig(process.argv.slice(2), process.env)
  } catch (e) {
    process.stderr.write(`peerchat-vc-host: ${(e as Error).message}\n\n${HOST_HELP}`)
    process.exit(2)
  }
  if (config.help) return void process.stdout.write(HOST_HELP)
  const log = config.quiet
    ? () => {}
    : (event: string, fields: object = {}) =>
        process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), event, ...fields })}\n`)
  const host = await runHost(config, log)
  // Machine-readable lines, as peerchat-vc prints them (one per client, the metrics port shared).
  for (const c of host.clients)
    process.stdout.write(
      `peerchat-vc ${c.name} online key ${c.publicKey} metrics ${host.metricsPort ?? '-'}\n`,
    )
  const shutdown = () => {
    host.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}

main().catch((e) => {
  process.stderr.write(`peerchat-vc-host: ${(e as Error).stack ?? e}\n`)
  process.exit(1)
})
