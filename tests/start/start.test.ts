/**
 * Issue #18, "First start": what a person sees from `pnpm start`. One address to open (the
 * http:// one), one log format for every process (the relay's `TIME EVENT key=value`), no
 * line per connection unless --verbose, no pnpm warning box, and Ctrl-C ends with exit code 0
 * (no ELIFECYCLE). Ctrl-C is simulated as a terminal sends it: SIGINT to the whole process
 * group (pnpm, the supervisor and its children).
 * Issue #14: while the community has no owner, one more address — the claim link, last — and
 * none once somebody claimed it (the second test starts again on the first one's data dir).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity, randomBytes, signRequest } from '@peerchat/engine'
import { AdminKind, encodeAdminBody } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { parseHostConfig } from '../../virtual-client/src/config.ts'
import { TestClient } from '../relay/client.ts'
import { ROOT } from '../relay/relay-process.ts'

useNodeCrypto()

/** Generous: the machine may be busy with other test files (and a first bundling). */
const READY_MS = 120_000
const EXIT_MS = 25_000

const dirs: string[] = []
const groups: ChildProcess[] = []
afterAll(() => {
  // A failed assertion must not leave anything running.
  for (const c of groups)
    if (c.exitCode === null && c.signalCode === null)
      try {
        process.kill(-c.pid!, 'SIGKILL')
      } catch {}
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const freePort = () =>
  new Promise<number>((done, fail) => {
    const s = createServer()
    s.once('error', fail)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => done(port))
    })
  })

/** pnpm itself: the one running this test when there is one, else from PATH. */
function pnpm(): [string, string[]] {
  const execpath = process.env.npm_execpath
  return execpath && /pnpm/.test(execpath) && /\.c?js$/.test(execpath)
    ? [process.execPath, [execpath]]
    : ['pnpm', []]
}

interface Started {
  child: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `cmd args` as the leader of a new process group (as a shell runs a foreground job). */
function startGroup(cmd: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  groups.push(child)
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  )
  return { child, output: () => out, exited }
}

/** Polls until `ready(output)`; fails saying what it waited for, and with the output so far. */
async function waitFor(s: Started, what: string, ready: (out: string) => boolean, ms = READY_MS) {
  const t0 = Date.now()
  while (!ready(s.output())) {
    if (s.child.exitCode !== null || s.child.signalCode !== null)
      throw new Error(
        `exited (${s.child.exitCode ?? s.child.signalCode}) while waiting for ${what}:\n${s.output()}`,
      )
    if (Date.now() - t0 > ms) throw new Error(`no ${what} after ${ms} ms; output so far:\n${s.output()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function waitExit(s: Started, what: string) {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(
      () => fail(new Error(`${what} did not exit within ${EXIT_MS} ms of SIGINT; output:\n${s.output()}`)),
      EXIT_MS,
    )
  })
  try {
    return await Promise.race([s.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** True while any process of the group led by `pid` is alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

const READY = /start\.ready open=(http:\/\/\S+)/
/** The claim link, as `pnpm start` shows it (after start.ready). */
const CLAIM =
  /start\.claim note="makes the first person to open it the owner" link=(http:\/\/\S+\/#claim=([\w-]{43}))\n/

/** What the web app does with a claim link: logs in with its code and publishes admin.claim. */
async function claimWith(port: string, code: string): Promise<void> {
  const owner = await Identity.generate()
  const c = await TestClient.open(`ws://127.0.0.1:${port}`)
  try {
    const answer = await c.doLogin(owner, { invite: Buffer.from(code, 'base64url') })
    expect(answer.type, JSON.stringify(answer)).toBe('welcome')
    const body = encodeAdminBody({ kind: AdminKind.claim, body: {} })
    const request = await signRequest(owner, {
      channel: 'admin',
      kind: AdminKind.claim,
      clientNonce: randomBytes(16),
      body,
    })
    c.send({ type: 'publish', request })
    const answered = await c.nextOf(['event', 'error'])
    expect(answered, JSON.stringify(answered)).toMatchObject({
      type: 'event',
      event: { kind: AdminKind.claim },
    })
  } finally {
    c.close()
  }
}
const onlineCount = (out: string) => (out.match(/ vc\.online name=vc\d/g) ?? []).length
/** The one log format: `2026-01-01T00:00:00.000Z event.name key=value ...`. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [a-z0-9_]+\.[a-z0-9_.]+( \S+=\S.*)?$/

/** The data dir the first start's owner claimed: the second start runs on it. */
let claimedDir: string | undefined

async function env(dataDir?: string): Promise<Record<string, string>> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'peerchat-first-start-'))
  if (!dataDir) dirs.push(dir)
  // The web app as it is built (a stale build is rebuilt by `pnpm start`, not by this test).
  return {
    PORT: String(await freePort()),
    PEERCHAT_DATA_DIR: dir,
    PEERCHAT_SKIP_BUILD: '1',
    PEERCHAT_VERBOSE: '',
  }
}

async function checkServes(url: string) {
  const health = await fetch(new URL('/healthz', url))
  expect(health.status, `GET ${url}healthz`).toBe(200)
  const page = await fetch(url)
  if (existsSync(join(ROOT, 'ui-vue/dist/index.html'))) {
    expect(page.status, `GET ${url}`).toBe(200)
    expect(await page.text()).toMatch(/<html/i)
  } else expect(page.status, `GET ${url} (no web app built)`).toBeLessThan(500)
}

describe('pnpm start, first start (#18)', () => {
  it("passes the relay key to the virtual clients' host even when it starts with '-'", async () => {
    const { plan, vcHostArgs } = await import('../../scripts/start.mjs')
    const key = '-IVefSbsLfoi-2JzaWa91r9WB0346J6E6BJuRP5RSqE'
    const config = parseHostConfig(vcHostArgs(plan({}), 'http://127.0.0.1:1', key), {})
    expect(config.relayKey).toBe(key)
    expect(config.clients.map((c) => c.name)).toEqual(['vc1', 'vc2'])
  })

  it('prints one address and one log format, quietly, and Ctrl-C exits 0 without ELIFECYCLE', {
    timeout: READY_MS + EXIT_MS + 30_000,
  }, async () => {
    const e = await env()
    const [cmd, pre] = pnpm()
    const s = startGroup(cmd, [...pre, 'start'], e)
    await waitFor(
      s,
      'the start.ready line and vc.online for vc1 and vc2',
      (out) => READY.test(out) && onlineCount(out) === 2,
    )
    const url = READY.exec(s.output())![1]!
    expect(url).toBe(`http://localhost:${e.PORT}/`)
    await checkServes(url)
    // Nobody owns the new community: the claim link is shown, last, and it works.
    await waitFor(s, 'the start.claim line', (out) => CLAIM.test(out), 10_000)
    const [, claimLink, code] = CLAIM.exec(s.output())!
    expect(claimLink).toBe(`${url}#claim=${code}`)
    expect(s.output().indexOf('start.claim')).toBeGreaterThan(s.output().indexOf('start.ready'))
    await claimWith(e.PORT!, code!)
    claimedDir = e.PEERCHAT_DATA_DIR
    // A browser connecting is not logged by default.
    const ws = new WebSocket(`ws://127.0.0.1:${e.PORT}/relay`)
    await new Promise((r) => {
      ws.once('open', r)
      ws.once('error', r)
    })
    ws.close()
    await new Promise((r) => setTimeout(r, 300))

    process.kill(-s.child.pid!, 'SIGINT') // Ctrl-C
    const exit = await waitExit(s, 'pnpm start')
    const out = s.output()
    expect(exit, out).toEqual({ code: 0, signal: null })
    expect(groupAlive(s.child.pid!), `a process of pnpm start outlived it:\n${out}`).toBe(false)

    // Exactly one address, the one a person opens, and the claim link (its code shown once).
    expect(out.match(/\b[a-z]+:\/\/\S+/g), out).toEqual([url, claimLink])
    expect(out.split(code!).length, out).toBe(2)
    // No pnpm warning box, no ELIFECYCLE.
    expect(out).not.toMatch(/approve-builds|Ignored build scripts|ELIFECYCLE|WARN|[╭╮╰╯│]/)
    // One format for the supervisor, the relay and the virtual clients; pnpm's own header
    // ("> peerchat@ start ...") aside.
    const lines = out.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('> '))
    for (const line of lines) expect(line, out).toMatch(LOG_LINE)
    const events = new Set(lines.map((l) => l.split(' ')[1]))
    expect([...events].filter((ev) => /^(start|relay|vc)\./.test(ev!)).length).toBe(events.size)
    for (const ev of [
      'relay.listening',
      'vc.online',
      'start.ready',
      'start.claim',
      'start.stopping',
      'start.stopped',
    ])
      expect(events.has(ev), `${ev} in\n${out}`).toBe(true)
    // Quiet: no line per connection, no keys.
    for (const ev of ['relay.open', 'relay.login', 'relay.close', 'relay.end', 'signal.open'])
      expect(events.has(ev), `${ev} in\n${out}`).toBe(false)
    expect(out).not.toMatch(/\bkey=|relayKey=|peerchat-relay listening|peerchat-vc \S+ online/)
  })

  it('--verbose adds the ws:// URL, keys and a line per connection; SIGINT to the supervisor alone stops all; no claim link once owned', {
    timeout: READY_MS + EXIT_MS + 30_000,
  }, async () => {
    expect(claimedDir, 'the first start claimed its community').toBeDefined()
    const e = await env(claimedDir)
    const s = startGroup(process.execPath, ['scripts/start.mjs', '--verbose'], e)
    await waitFor(
      s,
      'the start.ready line, vc.online for vc1 and vc2 and their relay.login lines',
      (out) => READY.test(out) && onlineCount(out) === 2 && (out.match(/ relay\.login /g) ?? []).length >= 2,
    )
    const out = s.output()
    expect(out).toMatch(/peerchat-relay listening on ws:\/\/127\.0\.0\.1:\d+ key \S+/)
    expect(out).toMatch(/ relay\.key .*relayKey=\S+/)
    expect(out).toMatch(/ vc\.online name=vc1 .*key=\S+/)
    // Still one address to open: the community has its owner, so no claim link.
    expect(out.match(/\bhttps?:\/\/\S+/g), out).toEqual([READY.exec(out)![1]])
    expect(out).not.toMatch(/#claim=|start\.claim|claim link/)
    expect(out).toMatch(/ relay\.admin_log events=1 owner=claimed /)

    process.kill(s.child.pid!, 'SIGINT') // the supervisor only: it forwards to its children
    const exit = await waitExit(s, 'scripts/start.mjs --verbose')
    expect(exit, s.output()).toEqual({ code: 0, signal: null })
    // Its children got the signal and were waited for.
    await new Promise((r) => setTimeout(r, 200))
    expect(groupAlive(s.child.pid!), `a child of start.mjs outlived it:\n${s.output()}`).toBe(false)
    expect(s.output()).toMatch(/ start\.stopping signal=SIGINT\n[\s\S]* start\.stopped\n/)
  })
})
