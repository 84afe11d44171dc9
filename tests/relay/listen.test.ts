/**
 * Issue #13, listening: a relay owns its port. A second relay on it fails at once with a clear
 * message (uSockets used to share it through SO_REUSEPORT), and a relay SIGKILLed with live
 * connections listens again on its first bind (it used to wait ~61 s for their TIME_WAIT).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile } from 'node:fs/promises'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity, publicKeyToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, silentLogger, startRelay } from '@peerchat/relay'
import { afterEach, describe, expect, it } from 'vitest'
import { TestClient } from './client.ts'
import { type RelayProcess, ROOT, spawnRelay, TEST_RELAY_DEFAULTS } from './relay-process.ts'

useNodeCrypto()

const SHELLS = ['uws', 'ws'] as const
const BUSY = /port (\d+) is in use by another process/

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

const tempDir = (what: string) => mkdtemp(join(tmpdir(), `relay-listen-${what}-`))

async function spawned(args: string[]): Promise<RelayProcess> {
  const r = await spawnRelay(args)
  cleanup.push(() => r.stop())
  return r
}

/**
 * Runs the relay CLI, expected not to start, to its exit: the exit code and the output. One
 * that starts all the same (it shares the port) is stopped and reported with code null.
 */
function runToExit(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const argv = ['--import', 'tsx', 'relay/src/cli.ts', ...TEST_RELAY_DEFAULTS, ...args]
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const onData = (d: Buffer) => {
    output += d
    if (/listening on/.test(output)) child.kill('SIGKILL')
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the relay did not exit within ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

/**
 * A port nobody listens on, from the kernel. A relay asked for port 0 would not do for the
 * first relay: uSockets used no SO_REUSEPORT there, so the sharing would go unseen.
 */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}

/** The relay's key as a client sees it in the login challenge. */
async function challengeKey(url: string): Promise<string> {
  const c = await TestClient.open(url)
  try {
    return publicKeyToText((await c.next('challenge', 15_000)).relayKey)
  } finally {
    c.close()
  }
}

/**
 * Linux: the states of the TCP sockets on local port `port` other than listeners, from /proc
 * (hex port, state codes of include/net/tcp_states.h). Empty where /proc/net/tcp is absent.
 */
async function socketStates(port: number): Promise<Record<string, number>> {
  const names: Record<string, string> = {
    '01': 'ESTABLISHED',
    '04': 'FIN_WAIT1',
    '05': 'FIN_WAIT2',
    '06': 'TIME_WAIT',
  }
  const counts: Record<string, number> = {}
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/)
      if (!local || Number.parseInt(local.split(':')[1]!, 16) !== port || state === '0A') continue
      const name = names[state!] ?? state!
      counts[name] = (counts[name] ?? 0) + 1
    }
  }
  return counts
}

const linux = process.platform === 'linux'

describe.each(SHELLS)('listening, %s shell', (shell) => {
  it('a second relay on a held port exits non-zero with a clear message; the first keeps serving', {
    timeout: 120_000,
  }, async () => {
    const port = await freePort()
    const first = await spawned([
      '--port',
      String(port),
      '--shell',
      shell,
      '--quiet',
      '--data-dir',
      await tempDir('a'),
    ])
    // Either shell may come second: the uWS one is the one that used to share the port.
    for (const other of SHELLS) {
      const second = await runToExit([
        '--port',
        String(first.port),
        '--shell',
        other,
        '--data-dir',
        await tempDir('b'),
      ])
      expect(second.code, second.output).toBe(1)
      expect(second.output).toContain(
        `peerchat-relay: port ${first.port} is in use by another process (on 127.0.0.1): stop it or choose another --port`,
      )
      expect(second.output).not.toMatch(/listening on/)
    }
    const health = await fetch(`http://127.0.0.1:${first.port}/healthz`)
    expect(health.status).toBe(200)
    const known = (await (
      await fetch(`http://127.0.0.1:${first.port}/.well-known/peerchat.json`)
    ).json()) as { relayKey: string }
    expect(known.relayKey).toBe(first.relayKey)
    // Every connection still reaches the first relay's community.
    for (let i = 0; i < 8; i++) expect(await challengeKey(first.url)).toBe(first.relayKey)
  })

  it('startRelay on a held port rejects with EADDRINUSE (the library API)', async () => {
    const port = await freePort()
    const first = await startRelay({ shell, relay: await Identity.generate(), port, log: silentLogger })
    cleanup.push(() => first.stop())
    let second: RunningRelay | undefined
    const other = { shell, relay: await Identity.generate(), port: first.port, log: silentLogger }
    const error = await startRelay(other).then(
      (r) => {
        second = r
        cleanup.push(() => r.stop())
      },
      (e: unknown) => e,
    )
    expect(second, 'the second relay shares the port').toBeUndefined()
    expect(error).toMatchObject({ code: 'EADDRINUSE', message: expect.stringMatching(BUSY) })
  })

  it('SIGKILLed with logged-in connections, it listens again on the same port on its first bind', {
    timeout: 180_000,
  }, async () => {
    const dataDir = await tempDir('kill')
    const args = ['--shell', shell, '--data-dir', dataDir]
    // Port 0 first (uSockets set no option there, the worst case before), then a fixed port.
    let relay = await spawned(args)
    const port = relay.port
    for (let kill = 1; kill <= 2; kill++) {
      const clients = await Promise.all(Array.from({ length: 5 }, () => TestClient.login(relay.url)))
      expect(clients.every((c) => c.session !== null)).toBe(true)
      const exited = new Promise((r) => relay.child.once('exit', r))
      relay.child.kill('SIGKILL')
      await exited
      // Each client answers the dead relay's FIN: the relay's side of each is left in TIME_WAIT.
      await Promise.all(clients.map((c) => c.closed))
      const states = await socketStates(port)
      if (linux) expect(states.TIME_WAIT ?? 0, JSON.stringify(states)).toBeGreaterThan(0)

      const started = Date.now()
      relay = await spawned([...args, '--port', String(port)])
      const ms = Date.now() - started
      // The process start (tsx, under the machine's load) dominates: the relay's own lines time the rest.
      const at = (event: string) =>
        Date.parse(new RegExp(`^(\\S+) ${event} `, 'm').exec(relay.output())?.[1] ?? '')
      console.log(
        `listen.test ${shell}: restart ${kill} on port ${port} over ${JSON.stringify(states)}: listening ${ms} ms after the spawn, ${at('relay.listening') - at('relay.key')} ms after the key was loaded`,
      )
      expect(relay.port).toBe(port)
      expect(relay.output()).not.toMatch(/port_busy|in use|cannot listen/)
      expect(await challengeKey(relay.url)).toBe(relay.relayKey)
    }
  })
})
