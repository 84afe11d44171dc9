/** The small parts of the virtual client: configuration, metrics text, the virtual announcement, URLs. */

import { announceVirtual, isAnnouncedVirtual } from '@peerchat/transports/announce'
import { describe, expect, it } from 'vitest'
import { HELP, HOST_HELP, parseHostConfig, parseVcConfig } from '../src/config.ts'
import { renderAllMetrics, renderMetrics, serveMetrics, type VcCounters } from '../src/metrics.ts'
import { profileChannel, relayUrls } from '../src/virtual-client.ts'

describe('parseVcConfig', () => {
  it('applies flags over environment over defaults', () => {
    const c = parseVcConfig(
      ['--name', 'vc7'],
      { PORT: '9000', PEERCHAT_DATA_DIR: '/d', PEERCHAT_VC_WINDOW_HOURS: '2' },
      '/',
    )
    expect(c).toMatchObject({
      relayUrls: ['http://127.0.0.1:9000'],
      name: 'vc7',
      dataDir: '/d/vc-vc7',
      windowMs: 2 * 3600_000,
      metricsPort: undefined,
      webrtc: true,
    })
    expect(parseVcConfig(['--window-hours', '48', '--no-webrtc'], {}, '/').windowMs).toBe(48 * 3600_000)
  })

  it('takes several relay URLs (the nodes of one community), comma-separated, by flag or env', () => {
    expect(parseVcConfig(['--relay', 'ws://a:1, wss://b.example,'], {}).relayUrls).toEqual([
      'ws://a:1',
      'wss://b.example',
    ])
    expect(parseVcConfig([], { PEERCHAT_RELAY_URL: 'http://a:1,http://b:2' }).relayUrls).toEqual([
      'http://a:1',
      'http://b:2',
    ])
    expect(() => parseVcConfig(['--relay', 'ws://a:1,ftp://b'], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--relay', ' , '], {})).toThrow(RangeError)
    expect(HELP).toMatch(/--relay URL\[,URL\.\.\.\]/)
  })

  it('refuses a window outside (0, 1 year], a bad metrics port and a bad name', () => {
    expect(() => parseVcConfig(['--window-hours', '0'], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--window-hours', String(24 * 365 + 1)], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--metrics-port', '65536'], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--name', '../x'], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--bogus'], {})).toThrow()
  })
})

describe('parseHostConfig', () => {
  it('takes NAME[=DIR] operands (default vc1 vc2) beside the flags of peerchat-vc', () => {
    const c = parseHostConfig(['--relay', 'http://r:1', 'a=/x/a', 'b'], { PEERCHAT_DATA_DIR: '/d' }, '/')
    expect(c.clients).toEqual([
      { name: 'a', dataDir: '/x/a' },
      { name: 'b', dataDir: '/d/vc-b' },
    ])
    expect(c).toMatchObject({ relayUrls: ['http://r:1'], webrtc: true })
    expect(parseHostConfig([], {}, '/w').clients.map((x) => x.name)).toEqual(['vc1', 'vc2'])
    expect(parseHostConfig(['--blob-budget-mb', '64'], {}, '/').blobBudgetBytes).toBe(64 * 1048576)
  })

  it('names the clients from PEERCHAT_VC_NAMES without operands (operands win)', () => {
    const env = { PEERCHAT_VC_NAMES: ' archive, backup ,', PEERCHAT_DATA_DIR: '/d' }
    expect(parseHostConfig([], env, '/').clients).toEqual([
      { name: 'archive', dataDir: '/d/vc-archive' },
      { name: 'backup', dataDir: '/d/vc-backup' },
    ])
    expect(parseHostConfig(['c=/c'], env, '/').clients).toEqual([{ name: 'c', dataDir: '/c' }])
    expect(() => parseHostConfig([], { PEERCHAT_VC_NAMES: 'has space' })).toThrow(RangeError)
    expect(HOST_HELP).toContain('PEERCHAT_VC_NAMES')
    expect(HELP).toMatch(/--profile\s+publish NAME as its profile/)
    // Publishing the name is asked for (pnpm start does): off by default, on by flag or env.
    expect(parseHostConfig([], {}).profile).toBe(false)
    expect(parseHostConfig(['--profile'], {}).profile).toBe(true)
    expect(parseVcConfig([], { PEERCHAT_VC_PROFILE: '1' }).profile).toBe(true)
  })

  it('refuses two clients sharing a name or a data dir, a bad name, and --name / --data-dir', () => {
    expect(() => parseHostConfig(['a=/x', 'a=/y'], {})).toThrow(RangeError)
    expect(() => parseHostConfig(['a=/x', 'b=/x'], {})).toThrow(RangeError)
    expect(() => parseHostConfig(['../a=/x'], {})).toThrow(RangeError)
    expect(() => parseHostConfig(['--name', 'a'], {})).toThrow()
    expect(() => parseHostConfig(['--data-dir', '/x'], {})).toThrow()
    expect(() => parseVcConfig(['--blob-budget-mb=1.5'], {})).toThrow(RangeError)
  })
})

describe('metrics', () => {
  const counters: VcCounters = {
    eventsHeld: 5,
    channels: 2,
    meshPeers: 1,
    servedEvents: 3,
    servedBytes: 1200,
    syncReports: 4,
    fromPeers: 7,
    fromRelay: 9,
    refusedSessions: 0,
    diskBytes: 4096,
    blobsHeld: 2,
    blobBytes: 300_000,
    blobBytesServed: 0,
    blobBytesReceived: 300_000,
    rssBytes: 80e6,
    heapUsedBytes: 20e6,
  }

  it('renders Prometheus text with HELP, TYPE and an escaped label', () => {
    const text = renderMetrics(counters, 'a"b')
    expect(text).toContain('# TYPE peerchat_vc_served_events_total counter\n')
    expect(text).toContain('peerchat_vc_served_events_total{vc="a_b"} 3\n')
    expect(text).toContain('peerchat_vc_events_held{vc="a_b"} 5\n')
    expect(text.split('\n').filter((l) => l.startsWith('peerchat_vc_'))).toHaveLength(
      Object.keys(counters).length,
    )
  })

  it('renders several clients with each metric declared once and one sample per client', () => {
    const text = renderAllMetrics([
      { name: 'vc1', counters },
      { name: 'vc2', counters: { ...counters, eventsHeld: 6 } },
    ])
    expect(text.match(/# TYPE peerchat_vc_events_held gauge/g)).toHaveLength(1)
    expect(text).toContain('peerchat_vc_events_held{vc="vc1"} 5\npeerchat_vc_events_held{vc="vc2"} 6\n')
  })

  it('serves /metrics and /healthz, 404 elsewhere, 405 for other methods', async () => {
    const { server, port } = await serveMetrics(async () => renderMetrics(counters, 'x'), 0)
    try {
      const base = `http://127.0.0.1:${port}`
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('peerchat_vc_mesh_peers{vc="x"} 1')
      expect((await fetch(`${base}/healthz`)).status).toBe(200)
      expect((await fetch(`${base}/other`)).status).toBe(404)
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405)
    } finally {
      server.close()
    }
  })
})

describe('virtual announcement', () => {
  it('is read back only for the announced key', () => {
    const states = new Map<number, Record<string, unknown>>([[1, { user: 'x' }]])
    const awareness = {
      getStates: () => states,
      setLocalStateField: (field: string, value: unknown) => states.set(2, { [field]: value }),
    }
    expect(isAnnouncedVirtual(awareness, 'KEY')).toBe(false)
    announceVirtual(awareness, 'KEY')
    expect(isAnnouncedVirtual(awareness, 'KEY')).toBe(true)
    expect(isAnnouncedVirtual(awareness, 'OTHER')).toBe(false)
    expect(isAnnouncedVirtual(undefined, 'KEY')).toBe(false)
  })
})

describe('relayUrls', () => {
  it('derives the http and ws forms of a base URL', () => {
    expect(relayUrls('http://h:1/')).toEqual({ http: 'http://h:1', ws: 'ws://h:1' })
    expect(relayUrls('wss://chat.example')).toEqual({
      http: 'https://chat.example',
      ws: 'wss://chat.example',
    })
    expect(() => relayUrls('ftp://h')).toThrow(RangeError)
  })
})

describe('profileChannel', () => {
  it('publishes the name where the web app does: `profiles` if the relay has it, else its first channel', () => {
    expect(profileChannel(['general', 'profiles'])).toBe('profiles')
    expect(profileChannel(['general', 'random'])).toBe('general')
    expect(profileChannel([])).toBeUndefined()
  })
})
