/**
 * Builds and packs the publishable packages, and installs the tarballs in a fresh project
 * outside the workspace (third-party dependencies from the registry), as a user would.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const PACKAGES = ['engine', 'transports', 'stores/file', 'stores/indexeddb']

function step<T>(what: string, f: () => T): T {
  const t0 = performance.now()
  const out = f()
  console.log(`packaging: ${what} (${Math.round(performance.now() - t0)} ms)`)
  return out
}

export interface Installed {
  /** The consumer project (tests/packaging/consumer copied, its node_modules installed). */
  app: string
  /** Tarball paths by package directory. */
  tarballs: Map<string, string>
}

export function buildPackAndInstall(): Installed {
  const work = mkdtempSync(join(tmpdir(), 'peerchat-packaging-'))
  const packs = join(work, 'tarballs')
  mkdirSync(packs)
  step('build', () =>
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-packages.mjs')], { stdio: 'inherit' }),
  )
  const tarballs = new Map<string, string>()
  for (const dir of PACKAGES) {
    const before = new Set(readdirSync(packs))
    step(`pack ${dir}`, () =>
      execFileSync('pnpm', ['pack', '--pack-destination', packs], { cwd: join(ROOT, dir), stdio: 'pipe' }),
    )
    const made = readdirSync(packs).find((f) => !before.has(f))
    if (!made) throw new Error(`pnpm pack made no tarball in ${dir}`)
    tarballs.set(dir, join(packs, made))
  }
  const app = join(work, 'app')
  cpSync(join(ROOT, 'tests/packaging/consumer'), app, { recursive: true })
  const dependencies: Record<string, string> = { '@types/node': '^20.19.0' }
  for (const [dir, tgz] of tarballs) dependencies[packageName(dir)] = `file:${tgz}`
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2),
  )
  step('npm install (registry)', () =>
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: app,
      stdio: 'inherit',
    }),
  )
  return { app, tarballs }
}

export const packageName = (dir: string): string =>
  dir.startsWith('stores/') ? `@peerchat/store-${dir.slice('stores/'.length)}` : `@peerchat/${dir}`
