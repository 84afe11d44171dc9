/** The small parts of the virtual client: configuration, metrics text, the virtual announcement, URLs. */
import { describe, expect, it } from 'vitest'
import { announceVirtual, isAnnouncedVirtual } from '../src/announce.ts'
import { parseVcConfig } from '../src/config.ts'
import { renderMetrics, serveMetrics, type VcCounters } from '../src/metrics.ts'
import { relayUrls } from '../src/virtual-client.ts'

describe('parseVcConfig', () => {
  it('applies flags over environment over defaults', () => {
    const c = parseVcConfig(
      ['--name', 'vc7'],
      { PORT: '9000', PEERCHAT_DATA_DIR: '/d', PEERCHAT_VC_WINDOW_HOURS: '2' },
      '/',
    )
    expect(c).toMatchObject({
      relayUrl: 'http://127.0.0.1:9000',
      name: 'vc7',
      dataDir: '/d/vc-vc7',
      windowMs: 2 * 3600_000,
      metricsPort: undefined,
      webrtc: true,
    })
    expect(parseVcConfig(['--window-hours', '48', '--no-webrtc'], {}, '/').windowMs).toBe(48 * 3600_000)
  })

  it('refuses a window outside (0, 1 year], a bad metrics port and a bad name', () => {
    expect(() => parseVcConfig(['--window-hours', '0'], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--window-hours', String(24 * 365 + 1)], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--metrics-port', '65536'], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--name', '../x'], {})).toThrow(RangeError)
    expect(() => parseVcConfig(['--bogus'], {})).toThrow()
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
