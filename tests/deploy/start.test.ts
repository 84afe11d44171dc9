/**
 * `pnpm start` (scripts/start.mjs): starts the relay and two virtual clients (in one host
 * process), serves /healthz, and on SIGTERM stops every child before exiting — no orphans.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../relay/relay-process.ts'

const dir = mkdtempSync(join(tmpdir(), 'peerchat-start-'))
let supervisor: ChildProcess | undefined
afterAll(async () => {
  // A failed assertion must not leave the supervisor (and its children) running.
  if (supervisor && supervisor.exitCode === null && supervisor.signalCode === null) {
    const gone = new Promise((r) => supervisor!.once('exit', r))
    supervisor.kill('SIGTERM')
    await gone
  }
  rmSync(dir, { recursive: true, force: true })
})

/** Pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(name))
    } catch {}
  }
  return out
}
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('pnpm start', () => {
  it('runs the relay and a host of two virtual clients, and SIGTERM leaves no child behind', {
    timeout: 60_000,
  }, async () => {
    const start = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', PEERCHAT_DATA_DIR: dir, PEERCHAT_SKIP_BUILD: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    supervisor = start
    let out = ''
    start.stdout!.on('data', (d) => (out += d))
    start.stderr!.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((r) => start.once('exit', (code) => r(code)))
    const end = Date.now() + 40_000
    // The supervisor's ready line, and each virtual client's (tests/start checks the format).
    while (
      !(
        /start\.ready open=(http:\/\/\S+)/.test(out) &&
        (out.match(/ vc\.online name=vc\d/g) ?? []).length === 2
      )
    ) {
      if (Date.now() > end || start.exitCode !== null)
        throw new Error(`start did not come up (waited for start.ready and vc.online twice):\n${out}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const url = /start\.ready open=(http:\/\/\S+)/.exec(out)![1]!
    const health = await fetch(`${url}healthz`)
    expect(health.status).toBe(200)
    expect(await health.text()).toBe('ok\n')
    const kids = childrenOf(start.pid!)
    // Two processes: the relay, and one host running both virtual clients (the 256 MB layout).
    expect(kids.length, `children ${kids.join(', ')} of start.mjs\n${out}`).toBe(2)
    const commands = kids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'))
    expect(commands.some((c) => c.includes('relay/dist/cli.mjs'))).toBe(true)
    const host = commands.find((c) => c.includes('virtual-client/dist/host.mjs'))
    expect(host).toEqual(expect.arrayContaining([`vc1=${join(dir, 'vc1')}`, `vc2=${join(dir, 'vc2')}`]))
    // Each virtual client has its own key file in its own data dir.
    expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['relay.key', 'vc1', 'vc2']))
    for (const vc of ['vc1', 'vc2'])
      expect(readdirSync(join(dir, vc)).sort()).toEqual(['blobs', 'store', 'vc.key'])

    start.kill('SIGTERM')
    expect(await exited).toBe(0)
    for (const pid of kids) expect(alive(pid), `child ${pid} still running`).toBe(false)
  })
})
