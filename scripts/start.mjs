// `pnpm start`: the whole community on one machine — the relay (serving the web app) and two
// virtual clients, as child processes of this supervisor. Builds the web app first when its
// build is missing or older than its sources, and bundles the relay and virtual client CLIs
// (esbuild) so the children run plain JavaScript: a tsx loader per process would cost ~50 MB
// of the 256 MB machine (bench/README.md, ## memory). Honours PORT and PEERCHAT_DATA_DIR
// (default ./.peerchat). Ctrl-C / SIGTERM stops every child before exiting; a virtual client
// that dies is restarted, the relay dying stops everything (a platform restarts the machine).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
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
 * V8 flags of every child: a 1 MB young generation instead of 16 MB (fewer pages resident
 * between scavenges; the children allocate little per event).
 */
export const NODE_FLAGS = ['--max-semi-space-size=1']

/** The CLIs bundled to plain JavaScript; native modules stay external (resolved from each package). */
export const BUNDLES = [
  { entry: 'relay/src/cli.ts', out: 'relay/dist/cli.mjs', external: ['uWebSockets.js'] },
  { entry: 'virtual-client/src/cli.ts', out: 'virtual-client/dist/cli.mjs', external: ['@roamhq/wrtc'] },
]
const BUNDLE_SOURCES = ['engine/src', 'transports/src', 'relay/src', 'virtual-client/src']

/** What would be started, as data (the deployment test checks it against fly.toml). */
export function plan(env = process.env) {
  const dataDir = resolve(ROOT, env.PEERCHAT_DATA_DIR ?? '.peerchat')
  const port = Number(env.PORT ?? env.PEERCHAT_PORT ?? 8787)
  const staticDir = join(ROOT, 'ui-vue/dist')
  return {
    dataDir,
    port,
    relay: {
      script: BUNDLES[0].out,
      args: ['--port', String(port), '--data-dir', dataDir, '--static-dir', staticDir],
    },
    virtualClients: Array.from({ length: VIRTUAL_CLIENTS }, (_, i) => ({
      name: `vc${i + 1}`,
      script: BUNDLES[1].out,
      dataDir: join(dataDir, `vc${i + 1}`),
    })),
  }
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
    await esbuild.build({
      entryPoints: [join(ROOT, b.entry)],
      outfile: join(ROOT, b.out),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // ws' optional native helpers are loaded in a try/catch: leave them out.
      external: [...b.external, 'bufferutil', 'utf-8-validate'],
      // Bundled CommonJS (ws) calls require(): give the ESM bundle one.
      banner: {
        js: "import { createRequire as __peerchatRequire } from 'node:module'; const require = __peerchatRequire(import.meta.url);",
      },
      logLevel: 'warning',
    })
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
function buildWebAppIfStale(log) {
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
  const r = spawnSync(pnpm[0], [...pnpm.slice(1), '--filter', '@peerchat/ui-vue', 'build'], {
    cwd: ROOT,
    stdio: 'inherit',
  })
  // The relay and virtual clients still start: chat history matters more than a fresh UI.
  if (r.status !== 0)
    log(
      existsSync(built)
        ? 'the web app did not build (see above): serving its previous build'
        : 'the web app did not build (see above): serving no web app',
    )
}

async function main() {
  const log = (msg) => process.stdout.write(`[start] ${msg}\n`)
  const p = plan()
  // PEERCHAT_PREBUILT=1 (the Docker image): web app and bundles were built in the image.
  const prebuilt = process.env.PEERCHAT_PREBUILT === '1'
  if (!prebuilt && process.env.PEERCHAT_SKIP_BUILD !== '1') buildWebAppIfStale(log)
  if (!prebuilt) await ensureBundles(log)
  const children = new Set()
  let stopping = false

  const run = (name, script, args, env) => {
    // node itself, not a wrapper that forks: a signal must reach the process doing the work.
    const child = spawn(process.execPath, [...NODE_FLAGS, script, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child.name = name
    children.add(child)
    child.on('exit', () => children.delete(child))
    return child
  }

  const stopAll = async (code) => {
    if (stopping) return
    stopping = true
    log('stopping')
    const exits = [...children].map(
      (c) =>
        new Promise((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done()
          const timer = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS)
          c.once('exit', () => {
            clearTimeout(timer)
            done()
          })
          c.kill('SIGTERM')
        }),
    )
    await Promise.all(exits)
    process.exit(code)
  }
  process.once('SIGINT', () => void stopAll(0))
  process.once('SIGTERM', () => void stopAll(0))

  const relay = run('relay', p.relay.script, p.relay.args, process.env)
  const { url, key } = await new Promise((done, fail) => {
    let out = ''
    relay.stdout.on('data', (d) => {
      process.stdout.write(d)
      out += d
      const m = /listening on ws:\/\/([^ ]+) key (\S+)/.exec(out)
      if (m) done({ url: m[1], key: m[2] })
    })
    relay.once('exit', (code) => fail(new Error(`the relay exited (${code}) before listening`)))
  }).catch((e) => {
    log(e.message)
    return stopAll(1)
  })
  relay.once('exit', (code) => {
    if (!stopping) {
      log(`the relay exited (${code}): stopping`)
      void stopAll(1)
    }
  })
  const port = url.slice(url.lastIndexOf(':') + 1)
  // The virtual clients never see the relay's secret key.
  const vcEnv = { ...process.env }
  delete vcEnv.PEERCHAT_RELAY_KEY
  const startVc = (vc) => {
    const child = run(
      vc.name,
      vc.script,
      [
        '--relay',
        `http://127.0.0.1:${port}`,
        '--relay-key',
        key,
        '--name',
        vc.name,
        '--data-dir',
        vc.dataDir,
      ],
      vcEnv,
    )
    child.stdout.on('data', (d) => process.stdout.write(d))
    child.once('exit', (code) => {
      if (stopping) return
      log(`${vc.name} exited (${code}); restarting in ${VC_RESTART_MS} ms`)
      setTimeout(() => !stopping && startVc(vc), VC_RESTART_MS)
    })
  }
  for (const vc of p.virtualClients) startVc(vc)
  const host = /^(127\.0\.0\.1|0\.0\.0\.0|\[?::\]?)$/.test(url.slice(0, url.lastIndexOf(':')))
    ? 'localhost'
    : url.slice(0, url.lastIndexOf(':'))
  log(`peerchat is running: open http://${host}:${port}/  (data in ${p.dataDir}; Ctrl-C stops)`)
}

const entry = process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href
if (entry && process.argv[2] === '--bundle-only') {
  ensureBundles((m) => process.stdout.write(`[start] ${m}\n`)).catch((e) => {
    process.stderr.write(`[start] ${e.stack ?? e}\n`)
    process.exit(1)
  })
} else if (entry) {
  main().catch((e) => {
    process.stderr.write(`[start] ${e.stack ?? e}\n`)
    process.exit(1)
  })
}
