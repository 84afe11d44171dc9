#!/usr/bin/env -S node --import tsx
/**
 * peerchat-vc-host: `node virtual-client/dist/host.mjs --relay URL vc1=DIR vc2=DIR` runs both
 * virtual clients in this one process (host.ts says why and how). SIGINT/SIGTERM stop them.
 */
import { HOST_HELP, type HostConfig, parseHostConfig } from './config.ts'
import { lineLogger, runHost, verboseFromEnv } from './host.ts'

const VERBOSE_HELP = `
--verbose (or PEERCHAT_VERBOSE=1) logs every event (started, meshed, profile) and keys; by
default a line per client when it is online, and errors. Lines are the relay's format:
TIME EVENT key=value.
`

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const verbose = argv.includes('--verbose') || verboseFromEnv(process.env)
  let config: HostConfig
  try {
    config = parseHostConfig(
      argv.filter((a) => a !== '--verbose'),
      process.env,
    )
  } catch (e) {
    process.stderr.write(`peerchat-vc-host: ${(e as Error).message}\n\n${HOST_HELP}${VERBOSE_HELP}`)
    process.exit(2)
  }
  if (config.help) return void process.stdout.write(`${HOST_HELP}${VERBOSE_HELP}`)
  const log = config.quiet ? () => {} : lineLogger(verbose)
  const host = await runHost(config, log)
  // Machine-readable lines, as peerchat-vc prints them (one per client, the metrics port shared).
  for (const c of host.clients)
    process.stdout.write(
      `peerchat-vc ${c.name} online key ${c.publicKey} metrics ${host.metricsPort ?? '-'}\n`,
    )
  let stopping = false
  const shutdown = () => {
    if (stopping) return // a second Ctrl-C (terminal and supervisor) while stopping
    stopping = true
    host.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}

main().catch((e) => {
  process.stderr.write(`peerchat-vc-host: ${(e as Error).stack ?? e}\n`)
  process.exit(1)
})
