/** HTTP endpoints, static files and the CLI, on a live relay. */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity, publicKeyToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, silentLogger, startRelay } from '@peerchat/relay'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { TestClient } from './client.ts'
import { ROOT, spawnRelay } from './relay-process.ts'

useNodeCrypto()

function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () =>
      s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`),
    )
    let out = ''
    s.on('data', (d) => (out += d))
    s.on('end', () => resolve(out))
    s.on('error', reject)
  })
}

describe('HTTP on the uWS shell', () => {
  let relay: RunningRelay
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'relay-static-'))
    await mkdir(join(dir, 'app', 'assets'), { recursive: true })
    await writeFile(join(dir, 'app', 'index.html'), '<h1>peerchat</h1>')
    await writeFile(join(dir, 'app', 'assets', 'a.js'), 'console.log(1)')
    await writeFile(join(dir, 'secret.txt'), 'TOP SECRET')
    relay = await startRelay({
      relay: await Identity.generate(),
      port: 0,
      staticDir: join(dir, 'app'),
      allowedOrigins: ['https://chat.example'],
      iceServers: [{ urls: 'stun:stun.example:3478' }],
      log: silentLogger,
    })
  })
  afterAll(() => relay.stop())
  const http = (p: string) => fetch(`http://127.0.0.1:${relay.port}${p}`)

  it('/healthz, /metrics (Prometheus text) and the well-known JSON', async () => {
    expect(await (await http('/healthz')).text()).toBe('ok\n')
    const c = await TestClient.login(relay.url)
    c.sendRaw(Uint8Array.of(1, 0x3f))
    await c.next('error')
    const metrics = await (await http('/metrics')).text()
    expect(metrics).toMatch(/^peerchat_relay_sessions 1$/m)
    expect(metrics).toMatch(/^peerchat_relay_rejections_total\{reason="bad_frame"\} 1$/m)
    expect(metrics).toMatch(/^peerchat_relay_event_loop_lag_seconds /m)
    c.close()
    const wkRes = await http('/.well-known/peerchat.json')
    // Readable from any origin (a dev server's page naming this relay with ?relay=).
    expect(wkRes.headers.get('access-control-allow-origin')).toBe('*')
    const wk = await wkRes.json()
    expect(wk).toMatchObject({
      relayKey: publicKeyToText(relay.relayKey),
      protocolVersion: 1,
      paths: { relay: '/relay', signal: '/signal' },
      iceServers: [{ urls: 'stun:stun.example:3478' }],
    })
    expect(wk.limits.maxFrameBytes).toBeGreaterThan(0)
  })

  it('serves the app, falls back to index.html for routes, and refuses path traversal', async () => {
    expect(await (await http('/')).text()).toBe('<h1>peerchat</h1>')
    expect(await (await http('/channels/general')).text()).toBe('<h1>peerchat</h1>')
    const js = await http('/assets/a.js')
    expect(js.headers.get('content-type')).toMatch(/javascript/)
    for (const p of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
    ]) {
      const res = await rawGet(relay.port, p)
      expect(res).not.toContain('TOP SECRET')
    }
  })

  it('refuses a browser whose Origin is not allowed', async () => {
    const refused = new WebSocket(`${relay.url}/relay`, { origin: 'https://evil.example' })
    const status = await new Promise<number>((r) =>
      refused.on('unexpected-response', (_q, res) => r(res.statusCode!)),
    )
    expect(status).toBe(403)
    const allowed = new WebSocket(`${relay.url}/relay`, { origin: 'https://chat.example' })
    await new Promise((r) => allowed.on('open', r))
    allowed.close()
  })
})

describe('peerchat-relay CLI', () => {
  it('--help prints usage', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(join(ROOT, 'node_modules/.bin/tsx'), ['relay/src/cli.ts', '--help'], { cwd: ROOT }, (e, so) =>
        e ? reject(e) : resolve(so),
      ),
    )
    expect(out).toMatch(/usage: peerchat-relay/)
    expect(out).toMatch(/PEERCHAT_DATA_DIR/)
  })

  it('creates a 0600 relay key under $PEERCHAT_DATA_DIR, reuses it, never logs it', async () => {
    const data = await mkdtemp(join(tmpdir(), 'relay-data-'))
    // --verbose: the connection lines checked below are off by default (#18).
    const first = await spawnRelay(['--verbose'], { PEERCHAT_DATA_DIR: data })
    const keyFile = join(data, 'relay.key')
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
    const c = await TestClient.login(first.url)
    c.close()
    await c.closed
    expect(await first.stop()).toBe(0)
    const second = await spawnRelay(['--quiet'], { PEERCHAT_DATA_DIR: data })
    expect(second.relayKey).toBe(first.relayKey)
    await second.stop()
    const secret = (await readFile(keyFile, 'utf8')).trim().split('.')[1]!
    expect(first.output()).not.toContain(secret)
    expect(first.output()).toMatch(/relay\.open conn=1/)
    expect(first.output()).toMatch(/relay\.login conn=1/)
  })

  it('invite-only: `peerchat-relay invite` signs an invite that lets a non-admin log in', async () => {
    const data = await mkdtemp(join(tmpdir(), 'relay-invite-'))
    const admin = await Identity.generate()
    const adminKey = publicKeyToText(admin.publicKey)
    const invite = await new Promise<string>((resolve, reject) =>
      execFile(
        join(ROOT, 'node_modules/.bin/tsx'),
        ['relay/src/cli.ts', 'invite', '--expires-hours', '1'],
        {
          cwd: ROOT,
          env: { ...process.env, PEERCHAT_DATA_DIR: data, PEERCHAT_ADMIN_SECRET: admin.export() },
        },
        (e, so) => (e ? reject(e) : resolve(so.trim())),
      ),
    )
    const r = await spawnRelay(['--quiet', '--access', 'invite', `--admin=${adminKey}`], {
      PEERCHAT_DATA_DIR: data,
    })
    try {
      const refused = await TestClient.open(r.url)
      expect(await refused.doLogin(await Identity.generate())).toMatchObject({
        type: 'error',
        message: expect.stringMatching(/^invite_required/),
      })
      const invited = await TestClient.open(r.url)
      const answer = await invited.doLogin(await Identity.generate(), {
        invite: Buffer.from(invite, 'base64url'),
      })
      expect(answer.type).toBe('welcome')
      invited.close()
    } finally {
      await r.stop()
    }
  })
})
