/** HTTP helpers (static paths, forwarded headers) and the CLI configuration parser. */
import { mkdtemp, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity, publicKeyToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { claimLine, defaultAppUrl, parseConfig } from '../src/config.ts'
import { normalizeAddress, originAllowed, requestFacts, staticPath } from '../src/http.ts'
import { loadRelayKey } from '../src/keyfile.ts'

useNodeCrypto()

describe('staticPath', () => {
  it('maps paths inside the root and refuses every way out', () => {
    expect(staticPath('/srv/app', '/')).toBe('/srv/app')
    expect(staticPath('/srv/app', '/assets/a.js?v=1')).toBe('/srv/app/assets/a.js')
    for (const bad of [
      '/../etc/passwd',
      '/a/../../etc',
      '/%2e%2e/etc/passwd',
      '/..%2fetc',
      '/a%00b',
      '/a\\..\\b',
      '/%E0%A4%A',
    ])
      expect(staticPath('/srv/app', bad)).toBeNull()
  })
})

describe('requestFacts', () => {
  const headers = (h: Record<string, string>) => (name: string) => h[name] ?? ''
  it('believes X-Forwarded-* only from a trusted proxy, taking the last hop', () => {
    const h = headers({
      host: 'relay.test',
      'x-forwarded-for': '6.6.6.6, 1.2.3.4',
      'x-forwarded-host': 'chat.example',
    })
    expect(requestFacts('10.0.0.9', h, [])).toMatchObject({ address: '10.0.0.9', origin: 'relay.test' })
    expect(requestFacts('10.0.0.9', h, ['10.0.0.9'])).toMatchObject({
      address: '1.2.3.4',
      origin: 'chat.example',
    })
  })
  it('normalizes IPv4-mapped addresses in both spellings', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(normalizeAddress('0000:0000:0000:0000:0000:ffff:7f00:0001')).toBe('127.0.0.1')
  })
  it('allowed origins: empty allows all; otherwise only listed browser origins (non-browsers send none)', () => {
    expect(originAllowed([], 'https://evil')).toBe(true)
    expect(originAllowed(['https://chat'], 'https://chat')).toBe(true)
    expect(originAllowed(['https://chat'], 'https://evil')).toBe(false)
    expect(originAllowed(['https://chat'], '')).toBe(true)
  })
})

describe('parseConfig', () => {
  it('flags win over environment, which wins over defaults', async () => {
    const admin = publicKeyToText((await Identity.generate()).publicKey)
    const c = parseConfig(
      // `--admin=<key>`: a base64url key may start with '-', which parseArgs would take for a flag.
      ['--port', '9000', `--admin=${admin}`, '--limit', 'maxFrameBytes=2048', '--channel', 'a'],
      {
        PEERCHAT_PORT: '1',
        PEERCHAT_DATA_DIR: '/data',
        PEERCHAT_ACCESS: 'invite',
        PEERCHAT_ALLOWED_ORIGINS: 'https://a, https://b',
      },
    )
    expect(c).toMatchObject({
      port: 9000,
      dataDir: '/data',
      keyFile: '/data/relay.key',
      channels: ['a'],
      allowedOrigins: ['https://a', 'https://b'],
      limits: { maxFrameBytes: 2048 },
      policy: { adminKeys: [admin], access: 'invite', post: 'everyone', create: 'admins' },
    })
    expect(parseConfig([], {}, '/x')).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      dataDir: '/x/.peerchat',
    })
  })
  it('refuses bad values with a message', () => {
    expect(() => parseConfig(['--port', 'x'], {})).toThrow(/port/)
    expect(() => parseConfig(['--admin', 'AAAA'], {})).toThrow(/admin key/)
    expect(() => parseConfig(['--limit', 'nope=1'], {})).toThrow(/unknown limit/)
    expect(() => parseConfig(['--post', 'some'], {})).toThrow(/post/)
    expect(() => parseConfig(['--channel', '../x'], {})).toThrow(/channel/)
    expect(() => parseConfig(['--channel', 'admin'], {})).toThrow(/reserved/)
    expect(() => parseConfig(['--app-url', 'ftp://x'], {})).toThrow(/app-url/)
    expect(() => parseConfig(['--app-url', 'not a url'], {})).toThrow(/app-url/)
  })
  it('the claim link: --app-url / PEERCHAT_APP_URL, else the relay address (localhost when local)', () => {
    expect(parseConfig([], {}).appUrl).toBeNull()
    expect(parseConfig(['--app-url', 'https://chat.example.org/'], {}).appUrl).toBe(
      'https://chat.example.org',
    )
    expect(parseConfig([], { PEERCHAT_APP_URL: 'https://x.example/app/#y' }).appUrl).toBe(
      'https://x.example/app',
    )
    expect(defaultAppUrl('127.0.0.1', 8787)).toBe('http://localhost:8787')
    expect(defaultAppUrl('0.0.0.0', 1)).toBe('http://localhost:1')
    expect(defaultAppUrl('10.1.2.3', 2)).toBe('http://10.1.2.3:2')
    expect(defaultAppUrl('fd00::1', 3)).toBe('http://[fd00::1]:3')
    expect(claimLine('http://localhost:1', 'abc')).toBe(
      'claim link (makes the first person to open it the owner): http://localhost:1/#claim=abc',
    )
  })
})

describe('loadRelayKey', () => {
  it('generates a 0600 key file on first run and loads the same key after', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'relay-key-'))
    const file = join(dir, 'nested', 'relay.key')
    const first = await loadRelayKey(file)
    expect(first.source).toBe('generated')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const again = await loadRelayKey(file)
    expect(again.source).toBe('file')
    expect(again.identity.publicKey).toEqual(first.identity.publicKey)
    const secret = await loadRelayKey(file, first.identity.export())
    expect(secret.source).toBe('secret')
  })
})
