// `pnpm start`: the whole community on one machine — the relay (serving the web app) and two
// virtual clients. Two child processes of this supervisor: the relay, and one host process
// running both virtual clients (virtual-client/src/host.ts: one Node runtime and one libwebrtc
// instead of two, ~70 MB less on the 256 MB machine; bench/README.md, ## memory). Builds the web
// app first when its build is missing or older than its sources, and bundles the CLIs (esbuild)
// so the children run plain JavaScript: a tsx loader per process would cost ~20-45 MB.
// Honours PORT, PEERCHAT_DATA_DIR (default ./.peerchat) and PEERCHAT_VC_NAMES (the virtual
// clients' display names, default vc1,vc2; their data dirs stay vc1/ and vc2/), and --verbose /
// PEERCHAT_VERBOSE=1 (a line per connection, the relay's ws:// URL and keys; --help).
// Output: one format for every process, the relay's `TIME EVENT key=value` (relay/src/log.ts),
// and one address, the http:// one to open (the `start.ready` line); the children's
// machine-readable lines are kept for scripts but shown only with --verbose.
// Ctrl-C / SIGTERM is forwarded to every child; the supervisor waits for them and exits 0
// (so `pnpm start` ends without ELIFECYCLE: pnpm-workspace.yaml's shellEmulator keeps a
// `sh -c` out, which would die of the SIGINT itself). The virtual clients' host is restarted if
// it dies, the relay dying stops everything (a platform restarts the machine).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Virtual clients started beside the relay. */
export const VIRTUAL_CLIENTS = 2
/** A child that ignores SIGTERM this long is killed. */
export const STOP_GRACE_MS = 5000
/** Wait before restarting a virtual client that exited. */
export const VC_RESTART_MS = 2000
/**
 * V8 flags of the relay: a 1 MB young generation instead of 16 MB (fewer pages resident
 * between scavenges; the relay allocates little per event).
 */
export const NODE_FLAGS = ['--max-semi-space-size=1']
/**
 * V8 flags of the virtual clients' host: an 8 MB young generation. Serving history allocates
 * a few short-lived objects and buffers per event; with 1 or 2 MB they outlive their scavenge,
 * fill the old generation and malloc, and the process peaked at 210-250 MB while serving a day
 * to one newcomer; with 4 or 8 MB they die young (~150 MB), for ~15 MB more at rest. 8, not 4:
 * further from that cliff when several newcomers arrive at once (bench/README.md, ## memory).
 */
export const VC_HOST_NODE_FLAGS = ['--max-semi-space-size=8']

/**
 * The CLIs bundled to plain JavaScript; native modules stay external (resolved from each package).
 * `vc-instance.mjs` is one virtual client with all its modules, which the host imports once per
 * client; `BroadcastChannel` is hidden from it (virtual-client/src/instance.ts says why).
 */
export const BUNDLES = [
  { entry: 'relay/src/cli.ts', out: 'relay/dist/cli.mjs', external: ['uWebSockets.js'] },
  { entry: 'virtual-client/src/cli.ts', out: 'virtual-client/dist/cli.mjs', external: ['@roamhq/wrtc'] },
  { entry: 'virtual-client/src/host-cli.ts', out: 'virtual-client/dist/host.mjs', external: [] },
  {
    entry: 'virtual-client/src/instance.ts',
    out: 'virtual-client/dist/vc-instance.mjs',
    external: ['@roamhq/wrtc'],
    define: { BroadcastChannel: 'undefined' },
  },
]
const BUNDLE_SOURCES = ['engine/src', 'transports/src', 'relay/src', 'virtual-client/src', 'stores/file/src']

/** What would be started, as data (the deployment test checks it against fly.toml). */
export function plan(env = process.env) {
  const dataDir = resolve(ROOT, env.PEERCHAT_DATA_DIR ?? '.peerchat')
  const port = Number(env.PORT ?? env.PEERCHAT_PORT ?? 8787)
  const staticDir = join(ROOT, 'ui-vue/dist')
  const names = (env.PEERCHAT_VC_NAMES ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '')
  return {
    dataDir,
    port,
    relay: {
      script: BUNDLES[0].out,
      args: ['--port', String(port), '--data-dir', dataDir, '--static-dir', staticDir],
    },
    virtualClients: Array.from({ length: VIRTUAL_CLIENTS }, (_, i) => ({
      name: names[i] ?? `vc${i + 1}`,
      dataDir: join(dataDir, `vc${i + 1}`),
    })),
    /** One process for all virtual clients; the relay's URL and key are added once it listens. */
    vcHost: { script: BUNDLES[2].out },
  }
}

/**
 * The host's arguments: the relay to join, then one NAME=DATA_DIR per virtual client; each
 * publishes its NAME as its profile (members see vc1 and vc2, not keys).
 */
export function vcHostArgs(p, relayUrl, relayKey) {
  return [
    '--relay',
    relayUrl,
    // With '=': a base64url key may start with '-', which parseArgs would take for an option
    // (the host then exits 2 at every restart; 1 relay key in 64).
    `--relay-key=${relayKey}`,
    '--profile',
    ...p.virtualClients.map((vc) => `${vc.name}=${vc.dataDir}`),
  ]
}

/** (Re)bundles the CLIs when a bundle is missing or older than the workspace sources. */
export async function ensureBundles(log = () => {}) {
  const newest = Math.max(...BUNDLE_SOURCES.map((d) => newestMtime(join(ROOT, d))))
  const stale = BUNDLES.filter((b) => {
    const out = join(ROOT, b.out)
    return !existsSync(out) || statSync(out).mtimeMs < newest
  })
  if (stale.length === 0) return
  // esbuild comes with tsx (a dev dependency); production images ship the bundles prebuilt.
  const fromTsx = createRequire(createRequire(join(ROOT, 'package.json')).resolve('tsx/package.json'))
  const esbuild = await import(pathToFileURL(fromTsx.resolve('esbuild')).href)
  for (const b of stale) {
    log(`bundling ${b.entry} -> ${b.out}`)
    // Written aside, then renamed: a process started meanwhile (tests run in parallel) never
    // loads half a bundle.
    const tmp = join(ROOT, `${b.out}.${process.pid}.tmp`)
    await esbuild.build({
      entryPoints: [join(ROOT, b.entry)],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // ws' optional native helpers are loaded in a try/catch: leave them out.
      external: [...b.external, 'bufferutil', 'utf-8-validate'],
      define: b.define ?? {},
      // Bundled CommonJS (ws) calls require(): give the ESM bundle one.
      banner: {
        js: "import { createRequire as __peerchatRequire } from 'node:module'; const require = __peerchatRequire(import.meta.url);",
      },
      logLevel: 'warning',
    })
    renameSync(tmp, join(ROOT, b.out))
  }
  // esbuild's service is a child process: it must not outlive the build (nor count as ours).
  await esbuild.stop?.()
}

function newestMtime(path) {
  const s = statSync(path)
  if (!s.isDirectory()) return s.mtimeMs
  let newest = s.mtimeMs
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)))
  return newest
}

/** Builds ui-vue when it has a build script and dist/index.html is missing or older than its sources. */
function buildWebAppIfStale(log, verbose = false) {
  const pkgPath = join(ROOT, 'ui-vue/package.json')
  if (!existsSync(pkgPath) || !JSON.parse(readFileSync(pkgPath, 'utf8')).scripts?.build) return
  const built = join(ROOT, 'ui-vue/dist/index.html')
  const sources = ['src', 'public', 'index.html', 'vite.config.ts', 'package.json']
    .map((p) => join(ROOT, 'ui-vue', p))
    .filter(existsSync)
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources.map(newestMtime))) return
  log('building the web app (pnpm --filter @peerchat/ui-vue build)')
  const pnpm = process.env.npm_execpath?.includes('pnpm')
    ? [process.execPath, process.env.npm_execpath]
    : ['pnpm']
  // vite's report only with --verbose or when the build fails: the default output stays short.
  const r = spawnSync(pnpm[0], [...pnpm.slice(1), '--filter', '@peerchat/ui-vue', 'build'], {
    cwd: ROOT,
    stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (r.status !== 0 && !verbose) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`)
  // The relay and virtual clients still start: chat history matters more than a fresh UI.
  if (r.status !== 0)
    log(
      existsSync(built)
        ? 'the web app did not build (see above): serving its previous build'
        : 'the web app did not build (see above): serving no web app',
    )
}

export const HELP = `usage: pnpm start [--verbose]   (or: node scripts/start.mjs [--verbose | --bundle-only])

Runs the relay (serving the web app) and two virtual clients, and prints the address to open.

  --verbose      also a line per connection, the relay's ws:// URL and keys [PEERCHAT_VERBOSE=1]
  --bundle-only  only (re)build the CLI bundles
  -h, --help     this text

Environment: PORT (default 8787), PEERCHAT_HOST (default 127.0.0.1), PEERCHAT_DATA_DIR (default
./.peerchat), PEERCHAT_VC_NAMES (default vc1,vc2); the relay's other settings as in
\`pnpm relay --help\`. Ctrl-C stops everything.
`

/** `--verbose` or PEERCHAT_VERBOSE=1 (or true/yes): children inherit it through the environment. */
export function isVerbose(argv = process.argv.slice(2), env = process.env) {
  return argv.includes('--verbose') || /^(1|true|yes)$/i.test(env.PEERCHAT_VERBOSE ?? '')
}

/** One log line in the relay's format (relay/src/log.ts): `TIME EVENT key=value ...`. */
export function formatLogLine(event, fields = {}) {
  let line = `${new Date().toISOString()} ${event}`
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue
    const text = String(v)
    line += ` ${k}=${text === '' || /[\s"=]/.test(text) ? JSON.stringify(text) : text}`
  }
  return line
}

/** The children's machine-readable lines (for scripts and tests): shown only with --verbose. */
const MACHINE_LINE = /^peerchat-(relay listening on |vc \S+ online key )/

/**
 * The relay's claim-link line (relay/src/config.ts, `claimLine`), printed while the community
 * has no owner. The supervisor shows it again as a `start.claim` line after `start.ready`, the
 * last thing on screen: it is what a new operator must open first.
 */
export const CLAIM_LINE = /^claim link \(makes the first person to open it the owner\): (\S+#claim=\S+)$/

/**
 * Copies a child's stdout to ours line by line (lines of two children never mix), without the
 * machine-readable lines unless verbose, nor the claim line (shown as `start.claim`); `onLine`
 * sees every line.
 */
function pipeLines(stream, verbose, onLine = () => {}) {
  let rest = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n')
    rest = lines.pop()
    let out = ''
    for (const line of lines) {
      onLine(line)
      if ((verbose || !MACHINE_LINE.test(line)) && !CLAIM_LINE.test(line)) out += `${line}\n`
    }
    if (out) process.stdout.write(out)
  })
  stream.on('end', () => {
    if (rest) process.stdout.write(`${rest}\n`)
  })
}

async function main() {
  const log = (event, fields) => process.stdout.write(`${formatLogLine(event, fields)}\n`)
  const verbose = isVerbose()
  if (verbose) process.env.PEERCHAT_VERBOSE = '1'
  const p = plan()
  // PEERCHAT_PREBUILT=1 (the Docker image): web app and bundles were built in the image.
  const prebuilt = process.env.PEERCHAT_PREBUILT === '1'
  const say = (msg) => log('start.build', { step: msg })
  if (!prebuilt && process.env.PEERCHAT_SKIP_BUILD !== '1') buildWebAppIfStale(say, verbose)
  if (!prebuilt) await ensureBundles(say)
  const children = new Set()
  let stopping = false

  const run = (name, flags, script, args, env) => {
    // node itself, not a wrapper that forks: a signal must reach the process doing the work.
    const child = spawn(process.execPath, [...flags, script, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child.name = name
    children.add(child)
    child.on('exit', () => children.delete(child))
    return child
  }

  /**
   * Stops every child with `signal` (what we received: Ctrl-C's SIGINT, a platform's SIGTERM),
   * waits for them (SIGKILL after STOP_GRACE_MS), then exits with `code`.
   */
  const stopAll = async (code, signal = 'SIGTERM') => {
    if (stopping) return
    stopping = true
    log('start.stopping', { signal })
    const exits = [...children].map(
      (c) =>
        new Promise((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done()
          const timer = setTimeout(() => {
            log('start.kill', { child: c.name, after_ms: STOP_GRACE_MS })
            c.kill('SIGKILL')
          }, STOP_GRACE_MS)
          c.once('exit', () => {
            clearTimeout(timer)
            done()
          })
          c.kill(signal)
        }),
    )
    await Promise.all(exits)
    log('start.stopped', code === 0 ? {} : { code })
    process.exit(code)
  }
  // `on`, not `once`: under `pnpm start` a Ctrl-C arrives twice (from the terminal and from
  // pnpm), and a second signal must not kill the supervisor while its children stop.
  process.on('SIGINT', () => void stopAll(0, 'SIGINT'))
  process.on('SIGTERM', () => void stopAll(0, 'SIGTERM'))

  const relay = run('relay', NODE_FLAGS, p.relay.script, p.relay.args, process.env)
  let claimLink = null
  const { url, key } = await new Promise((done, fail) => {
    let found = false
    pipeLines(relay.stdout, verbose, (line) => {
      const claim = CLAIM_LINE.exec(line)
      if (claim) claimLink = claim[1]
      const m = !found && /^peerchat-relay listening on ws:\/\/(\S+) key (\S+)/.exec(line)
      if (m) {
        found = true
        done({ url: m[1], key: m[2] })
      }
    })
    relay.once('exit', (code) => fail(new Error(`the relay exited (${code}) before listening`)))
  }).catch((e) => {
    log('start.failed', { error: e.message })
    return stopAll(1)
  })
  relay.once('exit', (code, signal) => {
    if (!stopping) {
      log('start.relay_exited', { code: code ?? signal })
      void stopAll(1)
    }
  })
  const port = url.slice(url.lastIndexOf(':') + 1)
  // The virtual clients never see the relay's secret key.
  const vcEnv = { ...process.env }
  delete vcEnv.PEERCHAT_RELAY_KEY
  const startVcHost = () => {
    const child = run(
      'virtual clients',
      VC_HOST_NODE_FLAGS,
      p.vcHost.script,
      vcHostArgs(p, `http://127.0.0.1:${port}`, key),
      vcEnv,
    )
    pipeLines(child.stdout, verbose)
    child.once('exit', (code, signal) => {
      if (stopping) return
      log('start.vc_host_exited', { code: code ?? signal, restart_in_ms: VC_RESTART_MS })
      setTimeout(() => !stopping && startVcHost(), VC_RESTART_MS)
    })
  }
  startVcHost()
  const host = /^(127\.0\.0\.1|0\.0\.0\.0|\[?::\]?)$/.test(url.slice(0, url.lastIndexOf(':')))
    ? 'localhost'
    : url.slice(0, url.lastIndexOf(':'))
  // The one address for a person: the web app. (The ws:// URL and the relay key are in the
  // relay's /.well-known/peerchat.json, and in this output with --verbose.)
  log('start.ready', { open: `http://${host}:${port}/`, data: p.dataDir, stop: 'Ctrl-C' })
  // Until somebody claims the community (a new code at every start until then).
  // The link last and unquoted (logfmt would quote it for its '='): a person copies it whole.
  if (claimLink)
    process.stdout.write(
      `${formatLogLine('start.claim', { note: 'makes the first person to open it the owner' })} link=${claimLink}\n`,
    )
}

const entry = process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href
const fail = (e) => {
  process.stderr.write(
    `${formatLogLine('start.failed', { error: e.message ?? String(e) })}\n${e.stack ?? ''}\n`,
  )
  process.exit(1)
}
if (entry && (process.argv.includes('--help') || process.argv.includes('-h'))) {
  process.stdout.write(HELP)
} else if (entry && process.argv[2] === '--bundle-only') {
  ensureBundles((m) => process.stdout.write(`${formatLogLine('start.build', { step: m })}\n`)).catch(fail)
} else if (entry) {
  main().catch(fail)
}
