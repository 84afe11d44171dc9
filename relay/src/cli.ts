/**
 * peerchat-relay: `pnpm relay --host 127.0.0.1 --port N` from the workspace root.
 * Logs short `TIME EVENT key=value` lines (log.ts); a line per connection, and the relay's
 * key, only with --verbose / PEERCHAT_VERBOSE=1.
 */
import {
  encodeSigned,
  publicKeyFromText,
  publicKeyToText,
  randomBytes,
  signInvite,
  toBase64url,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { claimLine, defaultAppUrl, HELP, parseConfig } from './config.ts'
import { startRelay } from './index.ts'
import { loadRelayKey } from './keyfile.ts'
import { consoleLogger, operatorLogger, silentLogger, verboseFromEnv } from './log.ts'

/** --verbose, handled here (the other options are config.ts's). */
const VERBOSE_HELP = `  --verbose                a line per connection, and the relay's key [PEERCHAT_VERBOSE=1]
                           (default: listening, errors and warnings only)
`
const help = HELP.replace(/^ {2}--quiet /m, `${VERBOSE_HELP}  --quiet `)

async function main(): Promise<void> {
  useNodeCrypto()
  const argv = process.argv.slice(2)
  const verbose = argv.includes('--verbose') || verboseFromEnv(process.env)
  let config: ReturnType<typeof parseConfig>
  try {
    config = parseConfig(
      argv.filter((a) => a !== '--verbose'),
      process.env,
    )
  } catch (e) {
    process.stderr.write(`peerchat-relay: ${(e as Error).message}\n\n${help}`)
    process.exit(2)
  }
  if (config.help) {
    process.stdout.write(help)
    return
  }
  const { identity, source } = await loadRelayKey(config.keyFile, config.secretKey)
  if (config.command === 'invite') {
    // The relay key signs nothing here: an invite is signed by an admin key given in PEERCHAT_ADMIN_SECRET.
    const adminText = process.env.PEERCHAT_ADMIN_SECRET
    if (!adminText)
      throw new Error('set PEERCHAT_ADMIN_SECRET to the admin secret key text to sign an invite')
    const { Identity } = await import('@peerchat/engine')
    const admin = await Identity.import(adminText)
    const invite = await signInvite(admin, {
      relayKey: identity.publicKey,
      invitee: config.invite.invitee ? publicKeyFromText(config.invite.invitee) : new Uint8Array(32),
      inviteId: randomBytes(16),
      expires: Date.now() + config.invite.expiresHours * 3600_000,
    })
    process.stdout.write(`${toBase64url(encodeSigned(invite))}\n`)
    return
  }
  const log = config.quiet ? silentLogger : verbose ? consoleLogger : operatorLogger
  log('relay.key', {
    source,
    relayKey: publicKeyToText(identity.publicKey),
    file: source === 'secret' ? '-' : config.keyFile,
  })
  // A port another process holds fails at once (shell's ListenError, exit 1); a restart after a
  // crash binds over the old connections in TIME_WAIT (listen.ts), so nothing to wait for.
  const relay = await startRelay({
    shell: config.shell,
    relay: identity,
    host: config.host,
    port: config.port,
    limits: config.limits,
    policy: config.policy,
    channels: config.channels,
    communityRoom: config.communityRoom,
    allowedOrigins: config.allowedOrigins,
    trustedProxies: config.trustedProxies,
    staticDir: config.staticDir,
    iceServers: config.iceServers,
    nodeUrls: config.nodeUrls,
    dataDir: config.dataDir,
    redisUrl: config.redisUrl,
    log,
  })
  // The one thing a new operator must see, and the only place the claim code is ever shown
  // (before the listening line: a script that waits for that one has it already).
  const code = relay.claimCode
  if (code)
    process.stdout.write(
      `${claimLine(config.appUrl ?? defaultAppUrl(relay.host, relay.port), toBase64url(code))}\n`,
    )
  // Machine-readable line for scripts and tests that start the relay on port 0.
  process.stdout.write(
    `peerchat-relay listening on ${relay.url} key ${publicKeyToText(identity.publicKey)}\n`,
  )
  // Ctrl-C reaches the relay twice under `pnpm start` (from the terminal and from the
  // supervisor): every signal after the first is ignored rather than killing mid-stop.
  let stopping = false
  const shutdown = () => {
    if (stopping) return
    stopping = true
    relay.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
}

main().catch((e) => {
  process.stderr.write(`peerchat-relay: ${(e as Error).message}\n`)
  process.exit(1)
})
