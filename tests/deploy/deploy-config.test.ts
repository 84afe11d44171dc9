/**
 * The deployment files agree with the code they deploy: fly.toml is valid TOML whose port,
 * health check, volume and machine size match the relay's configuration (parsed by the
 * relay's own parseConfig) and the supervisor's plan; the Dockerfile is multi-stage on
 * node:20-bookworm-slim, runs as a non-root user and starts that supervisor.
 * There is no Docker engine here: the image itself is not built by this test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'smol-toml'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../relay/src/config.ts'
import { ROOT } from '../relay/relay-process.ts'

interface FlyToml {
  build: { dockerfile: string }
  env: Record<string, string>
  processes?: Record<string, string>
  http_service: {
    internal_port: number
    auto_stop_machines: string | boolean
    min_machines_running: number
    checks: { path: string; method: string }[]
  }
  mounts: { source: string; destination: string }[]
  vm: { size: string; memory: string }[]
}

const fly = parse(readFileSync(join(ROOT, 'fly.toml'), 'utf8')) as unknown as FlyToml
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
/** Instructions of the Dockerfile, continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [op, ...rest] = l.split(/\s+/)
    return { op: op!.toUpperCase(), args: rest.join(' ') }
  })
const last = (op: string) => instructions.filter((i) => i.op === op).at(-1)?.args
const stages = () => {
  const out: { op: string; args: string }[][] = []
  for (const i of instructions) {
    if (i.op === 'FROM') out.push([])
    out.at(-1)?.push(i)
  }
  return out
}
/** ENV of the runtime (last) stage, `KEY=value` pairs. */
const runtimeEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const i of stages().at(-1)!)
    if (i.op === 'ENV') for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!
  return env
}

describe('fly.toml', () => {
  it('runs one 256 MB shared-cpu-1x machine that never stops', () => {
    expect(fly.vm).toEqual([{ size: 'shared-cpu-1x', memory: '256mb' }])
    expect(fly.http_service.min_machines_running).toBe(1)
    expect(fly.http_service.auto_stop_machines).toBe('off')
    expect(fly.build.dockerfile).toBe('Dockerfile')
    // One supervisor (the image's CMD) runs relay + virtual clients on the same machine.
    expect(fly.processes).toBeUndefined()
  })

  it('serves on the port the relay listens on, with the health check on /healthz', async () => {
    const env = { ...runtimeEnv(), ...fly.env }
    const relay = parseConfig([], env, '/app')
    expect(relay.port).toBe(fly.http_service.internal_port)
    expect(relay.host).toBe('0.0.0.0')
    expect(fly.http_service.checks).toEqual([expect.objectContaining({ method: 'GET', path: '/healthz' })])
    // The supervisor starts the relay on that same port, and two virtual clients.
    const { plan } = await import('../../scripts/start.mjs')
    const p = plan(env)
    expect(p.port).toBe(fly.http_service.internal_port)
    expect(p.relay.args).toEqual(expect.arrayContaining(['--port', String(fly.http_service.internal_port)]))
    expect(p.virtualClients).toHaveLength(2)
  })

  it('keeps the data dir (relay state, virtual clients) on the volume, and the relay key as a secret', async () => {
    const env = { ...runtimeEnv(), ...fly.env }
    expect(fly.mounts).toEqual([{ source: 'peerchat_data', destination: env.PEERCHAT_DATA_DIR }])
    const { plan } = await import('../../scripts/start.mjs')
    const p = plan(env)
    expect(p.dataDir).toBe(env.PEERCHAT_DATA_DIR)
    for (const vc of p.virtualClients) expect(vc.dataDir.startsWith(`${env.PEERCHAT_DATA_DIR}/`)).toBe(true)
    // Secrets never live in files under version control.
    expect(Object.keys(fly.env)).not.toContain('PEERCHAT_RELAY_KEY')
    expect(dockerfile).not.toMatch(/PEERCHAT_RELAY_KEY\s*=/)
  })
})

describe('Dockerfile', () => {
  it('is multi-stage on node:20-bookworm-slim and installs pnpm 10', () => {
    const froms = instructions.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0])
    expect(froms.length).toBeGreaterThanOrEqual(2)
    for (const f of froms) expect(f).toBe('node:20-bookworm-slim')
    expect(dockerfile).toMatch(/npm install -g pnpm@10|corepack/)
  })

  it('runs production dependencies only, as a non-root user, starting the supervisor', () => {
    const runtime = stages().at(-1)!
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args
    expect(user).toBeDefined()
    expect(['root', '0']).not.toContain(user)
    expect(instructions.some((i) => i.op === 'RUN' && /pnpm install .*--prod/.test(i.args))).toBe(true)
    // The runtime stage never installs: it copies the pruned tree from the build stage.
    expect(runtime.some((i) => i.op === 'RUN' && /pnpm install/.test(i.args))).toBe(false)
    expect(JSON.parse(last('CMD')!)).toEqual(['node', 'scripts/start.mjs'])
    // Web app and CLI bundles come built from the build stage.
    expect(runtimeEnv().PEERCHAT_PREBUILT).toBe('1')
    expect(
      instructions.some((i) => i.op === 'RUN' && i.args.includes('scripts/start.mjs --bundle-only')),
    ).toBe(true)
  })

  it('exposes the port fly routes to and checks /healthz', () => {
    expect(Number(last('EXPOSE'))).toBe(fly.http_service.internal_port)
    expect(Number(runtimeEnv().PORT)).toBe(fly.http_service.internal_port)
    expect(last('HEALTHCHECK')).toContain('/healthz')
  })

  it('copies every workspace package the runtime imports', () => {
    const copied = instructions
      .filter((i) => i.op === 'COPY' && i.args.includes('--from=build'))
      .map((i) => i.args)
    for (const pkg of [
      'engine',
      'transports',
      'stores',
      'relay',
      'virtual-client',
      'scripts/start.mjs',
      'ui-vue/dist',
    ])
      expect(copied.some((c) => c.includes(`/app/${pkg} `))).toBe(true)
  })

  it("copies every workspace package's manifest before the frozen install (or the lockfile does not match)", () => {
    const yaml = readFileSync(join(ROOT, 'pnpm-workspace.yaml'), 'utf8')
    const packagesSection = /^packages:\n((?:\s+-.*\n)+)/m.exec(yaml)?.[1] ?? ''
    const globs = [...packagesSection.matchAll(/-\s+"?([^"\s]+)"?/g)].map((m) => m[1]!)
    const dirs = globs.flatMap((g) =>
      g.endsWith('/*')
        ? readdirSync(join(ROOT, g.slice(0, -2)), { withFileTypes: true })
            .filter((d) => d.isDirectory() && existsSync(join(ROOT, g.slice(0, -2), d.name, 'package.json')))
            .map((d) => `${g.slice(0, -2)}/${d.name}`)
        : [g],
    )
    const install = instructions.findIndex((i) => i.op === 'RUN' && i.args.includes('--frozen-lockfile'))
    const copiedBefore = instructions
      .slice(0, install)
      .filter((i) => i.op === 'COPY')
      .map((i) => i.args)
    for (const dir of dirs) expect(copiedBefore, dir).toContain(`${dir}/package.json ${dir}/`)
  })

  it('builds every bundle the supervisor starts: the relay and the host of both virtual clients', async () => {
    const { BUNDLES, plan } = await import('../../scripts/start.mjs')
    const p = plan({ ...runtimeEnv(), ...fly.env })
    const outs = BUNDLES.map((b) => b.out)
    expect(outs).toEqual(
      expect.arrayContaining([p.relay.script, p.vcHost.script, 'virtual-client/dist/vc-instance.mjs']),
    )
    // They live in packages the runtime stage copies whole.
    for (const out of [p.relay.script, p.vcHost.script])
      expect(['relay', 'virtual-client']).toContain(out.split('/')[0])
  })
})
