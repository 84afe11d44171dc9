/**
 * Command line and environment -> relay options. Flags win over environment variables,
 * which win over defaults. See `peerchat-relay --help`.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { isValidChannel, isValidPublicKey, publicKeyFromText } from '@peerchat/engine'
import { ADMIN_CHANNEL } from '@peerchat/engine/chat'
import type { PolicyOptions, Who } from './core/policy.ts'
import type { Shell } from './index.ts'
import { DEFAULT_LIMITS, type RelayLimits } from './limits.ts'

export const HELP = `peerchat-relay: the authenticated, stateless relay of a peerchat community

usage: peerchat-relay [options]
       peerchat-relay invite [--expires-hours N] [--invitee KEY]
           (legacy) prints an admin-signed invite credential for this relay (its key from --key-file /
           PEERCHAT_RELAY_KEY), signed with the admin secret key text in PEERCHAT_ADMIN_SECRET; invite
           links made in the web app replace it

Running a community: the owner, roles, bans, timeouts, channel settings, invites and whether
the community is open are signed events of the 'admin' channel, kept in DATA_DIR/admin.log.
While the community has no owner, the relay prints at start one line
  claim link (makes the first person to open it the owner): APP_URL/#claim=CODE
with a new code at every start: open it first (keep it to yourself); the rest is done in the app.

options (environment variable in brackets):
  --host HOST              address to listen on [PEERCHAT_HOST] (default 127.0.0.1)
  --port N                 port [PEERCHAT_PORT or PORT] (default 8787; 0 picks a free one)
  --data-dir DIR           state directory [PEERCHAT_DATA_DIR] (default ./.peerchat)
  --key-file FILE          relay key file, created 0600 on first run [PEERCHAT_RELAY_KEY_FILE]
                           (default DATA_DIR/relay.key); or give the key text as a secret in
                           [PEERCHAT_RELAY_KEY]
  --app-url URL            the web app's address in the claim link [PEERCHAT_APP_URL] (default
                           http://HOST:PORT, localhost for a loopback or any-address HOST)
  --admin=KEY              (legacy) key with every session privilege, that may log in to an
                           invite-only community and sign invite credentials (base64url: write it
                           with '=', a key may start with '-'), repeatable [PEERCHAT_ADMIN_KEYS,
                           comma-separated]; roles are given in the app now
  --post everyone|admins   who may post: admins = the owner, admins and --admin keys [PEERCHAT_POST]
                           (default everyone; roles, timeouts and channels' post roles apply on top)
  --create everyone|admins who may create channels: admins = keys whose role may manage channels,
                           and --admin keys [PEERCHAT_CREATE] (default admins)
  --access open|invite     until the owner sets it in the app: invite = who is not a member needs an
                           invite link [PEERCHAT_ACCESS] (default open)
  --channel NAME           channel that exists from the start, repeatable [PEERCHAT_CHANNELS] (default
                           general; 'admin' is reserved: it always exists)
  --community-room NAME    y-webrtc room open to every member [PEERCHAT_COMMUNITY_ROOM] (default community)
  --allowed-origin ORIGIN  browser origin allowed to connect, repeatable [PEERCHAT_ALLOWED_ORIGINS] (default any)
  --trusted-proxy ADDR     proxy whose X-Forwarded-For/-Host is believed, repeatable [PEERCHAT_TRUSTED_PROXIES]
  --static-dir DIR         built web app to serve [PEERCHAT_STATIC_DIR] (default ui-vue/dist when present)
  --ice-servers JSON       ICE servers for the well-known JSON [PEERCHAT_ICE_SERVERS] (default [])
  --node-urls URL,URL...   public ws(s):// URLs of every node of this community (relays sharing this
                           relay key and their state), comma-separated, published in the well-known
                           JSON: clients fail over between them [PEERCHAT_NODE_URLS] (default none)
  --redis URL              join the other nodes of this community (same relay key) on this Redis:
                           fan-out, presence, signaling, idempotency, rates and the admin log are
                           shared; the node serves its own members alone while Redis is down
                           [PEERCHAT_REDIS_URL] (default none: one node, no Redis)
  --limit NAME=VALUE       override a limit, repeatable (see below)
  --shell uws|ws           WebSocket library (default uws; ws is the benchmark baseline)
  --quiet                  no connection log lines
  -h, --help               this text

limits (defaults): ${Object.entries(DEFAULT_LIMITS)
  .map(([k, v]) => `${k}=${v}`)
  .join(', ')}
`

export interface CliConfig {
  host: string
  /** Redis of the cluster this node joins; null: alone. */
  redisUrl: string | null
  port: number
  dataDir: string
  /** The web app's address for the claim link (null: from host and port once listening). */
  appUrl: string | null
  keyFile: string
  secretKey: string | undefined
  policy: PolicyOptions
  channels: string[]
  communityRoom: string
  allowedOrigins: string[]
  trustedProxies: string[]
  staticDir: string | null
  iceServers: unknown[]
  /** Public ws(s):// base URLs of the community's nodes, for the well-known JSON. */
  nodeUrls: string[]
  limits: Partial<RelayLimits>
  shell: Shell
  quiet: boolean
  help: boolean
  command: 'serve' | 'invite'
  invite: { expiresHours: number; invitee: string | null }
}

const list = (flag: string[] | undefined, env: string | undefined): string[] =>
  flag?.length
    ? flag
    : (env ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)

function who(value: string, name: string): Who {
  if (value !== 'everyone' && value !== 'admins') throw new RangeError(`--${name} must be everyone or admins`)
  return value
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): CliConfig {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      'app-url': { type: 'string' },
      'key-file': { type: 'string' },
      admin: { type: 'string', multiple: true },
      post: { type: 'string' },
      create: { type: 'string' },
      access: { type: 'string' },
      channel: { type: 'string', multiple: true },
      'community-room': { type: 'string' },
      'allowed-origin': { type: 'string', multiple: true },
      'trusted-proxy': { type: 'string', multiple: true },
      'static-dir': { type: 'string' },
      'ice-servers': { type: 'string' },
      'node-urls': { type: 'string', multiple: true },
      redis: { type: 'string' },
      limit: { type: 'string', multiple: true },
      shell: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      'expires-hours': { type: 'string' },
      invitee: { type: 'string' },
    },
  })
  const command = positionals[0] === 'invite' ? 'invite' : 'serve'
  if (positionals.length > (command === 'invite' ? 1 : 0))
    throw new RangeError(`unexpected argument ${positionals.at(-1)}`)
  const dataDir = resolve(cwd, values['data-dir'] ?? env.PEERCHAT_DATA_DIR ?? '.peerchat')
  const port = Number(values.port ?? env.PEERCHAT_PORT ?? env.PORT ?? 8787)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('--port must be 0..65535')
  const adminKeys = list(values.admin, env.PEERCHAT_ADMIN_KEYS)
  for (const k of adminKeys) {
    let ok = false
    try {
      ok = isValidPublicKey(publicKeyFromText(k))
    } catch {}
    if (!ok) throw new RangeError(`admin key ${k} is not a valid public key`)
  }
  const access = values.access ?? env.PEERCHAT_ACCESS ?? 'open'
  if (access !== 'open' && access !== 'invite') throw new RangeError('--access must be open or invite')
  const channels = list(values.channel, env.PEERCHAT_CHANNELS)
  for (const c of channels) {
    if (!isValidChannel(c)) throw new RangeError(`invalid channel name ${c}`)
    if (c === ADMIN_CHANNEL) throw new RangeError(`channel ${c} is reserved (it always exists)`)
  }
  const appUrlText = values['app-url'] ?? env.PEERCHAT_APP_URL ?? null
  let appUrl: string | null = null
  if (appUrlText) {
    let url: URL
    try {
      url = new URL(appUrlText)
    } catch {
      throw new RangeError(`--app-url ${appUrlText} is not a URL`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new RangeError('--app-url must be an http:// or https:// URL')
    url.hash = ''
    appUrl = url.href.replace(/\/+$/, '')
  }
  const limits: Partial<RelayLimits> = {}
  for (const item of values.limit ?? []) {
    const [name, value] = item.split('=')
    if (!name || !(name in DEFAULT_LIMITS) || value === undefined)
      throw new RangeError(`unknown limit ${item}`)
    limits[name as keyof RelayLimits] = value === 'Infinity' ? Number.POSITIVE_INFINITY : Number(value)
  }
  const shell = values.shell ?? 'uws'
  if (shell !== 'uws' && shell !== 'ws') throw new RangeError('--shell must be uws or ws')
  const defaultStatic = resolve(cwd, 'ui-vue/dist')
  const staticDir =
    values['static-dir'] ?? env.PEERCHAT_STATIC_DIR ?? (existsSync(defaultStatic) ? defaultStatic : null)
  const iceServers = JSON.parse(values['ice-servers'] ?? env.PEERCHAT_ICE_SERVERS ?? '[]')
  if (!Array.isArray(iceServers)) throw new RangeError('--ice-servers must be a JSON array')
  const nodeUrls = parseNodeUrls(
    list(values['node-urls'], env.PEERCHAT_NODE_URLS)
      .flatMap((v) => v.split(','))
      .map((s) => s.trim())
      .filter(Boolean),
  )
  const redisUrl = values.redis ?? (env.PEERCHAT_REDIS_URL || null)
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    throw new RangeError('--redis must be a redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379)')
  return {
    host: values.host ?? env.PEERCHAT_HOST ?? '127.0.0.1',
    redisUrl,
    port,
    dataDir,
    appUrl,
    keyFile: resolve(cwd, values['key-file'] ?? env.PEERCHAT_RELAY_KEY_FILE ?? join(dataDir, 'relay.key')),
    secretKey: env.PEERCHAT_RELAY_KEY || undefined,
    policy: {
      adminKeys,
      post: who(values.post ?? env.PEERCHAT_POST ?? 'everyone', 'post'),
      create: who(values.create ?? env.PEERCHAT_CREATE ?? 'admins', 'create'),
      access,
    },
    channels: channels.length ? channels : ['general'],
    communityRoom: values['community-room'] ?? env.PEERCHAT_COMMUNITY_ROOM ?? 'community',
    allowedOrigins: list(values['allowed-origin'], env.PEERCHAT_ALLOWED_ORIGINS),
    trustedProxies: list(values['trusted-proxy'], env.PEERCHAT_TRUSTED_PROXIES),
    staticDir: staticDir ? resolve(cwd, staticDir) : null,
    iceServers,
    nodeUrls,
    limits,
    shell,
    quiet: values.quiet ?? false,
    help: values.help ?? false,
    command,
    invite: {
      expiresHours: Number(values['expires-hours'] ?? 24 * 7),
      invitee: values.invitee ?? null,
    },
  }
}

/** Most node URLs published (default 16): the well-known JSON stays small. */
export const MAX_NODE_URLS = 16

/**
 * Checks `--node-urls`: each a ws:// or wss:// URL without query or fragment (a path is kept, for
 * a node behind a proxy under a prefix), trailing slashes dropped, each once, at most MAX_NODE_URLS.
 */
export function parseNodeUrls(items: readonly string[]): string[] {
  const out: string[] = []
  for (const item of items) {
    let url: URL
    try {
      url = new URL(item)
    } catch {
      throw new RangeError(`--node-urls: ${item} is not a URL`)
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
      throw new RangeError(`--node-urls: ${item} must be a ws:// or wss:// URL`)
    if (url.search || url.hash || url.username || url.password)
      throw new RangeError(`--node-urls: ${item} must have no query, fragment or credentials`)
    const base = url.href.replace(/\/+$/, '')
    if (!out.includes(base)) out.push(base)
  }
  if (out.length > MAX_NODE_URLS) throw new RangeError(`--node-urls: at most ${MAX_NODE_URLS} URLs`)
  return out
}

/**
 * The web app's address for the claim link: `appUrl` when configured, else the relay's own
 * (which serves the app), naming a loopback or any-address host `localhost` as `pnpm start` does.
 */
export function defaultAppUrl(host: string, port: number): string {
  const local = /^(127\.0\.0\.1|0\.0\.0\.0|::|::1|\[::\]|\[::1\]|localhost)$/.test(host)
  const name = local ? 'localhost' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return `http://${name}:${port}`
}

/** The one start-up line that shows the claim code (docs/protocol/relay.md §4.1). */
export const claimLine = (appUrl: string, code: string): string =>
  `claim link (makes the first person to open it the owner): ${appUrl}/#claim=${code}`
