/**
 * The WebRTC fallback: C cannot use WebRTC, so it catches up through the relay-forwarded peer
 * channel — measured on the relay's counters and bounded by its per-session byte budget.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'
import { PeerProcess } from './peer-process.ts'

const NEW = Number(process.env.PEERCHAT_TEST_NEW ?? 5000)
const BUDGET = 4 * 1024 * 1024 // the relay's default forwardBurstBytes
const LIMITS = [
  'eventsPerSecondPerKey=1000000',
  'eventBurstPerKey=1000000',
  'framesPerSecondPerAddress=1000000',
  'frameBurstPerAddress=1000000',
  'signalsPerSecondPerKey=100000',
  'signalBurstPerKey=100000',
  'unauthenticatedPerAddress=1000',
  `forwardBurstBytes=${BUDGET}`,
  'forwardBytesPerSecond=1024',
].flatMap((l) => ['--limit', l])

let relay: RelayProcess | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await relay?.stop()
})

const until = async (cond: () => Promise<boolean>, what: string, ms = 60_000) => {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function forwardedBytes(r: RelayProcess): Promise<number> {
  const text = await (await fetch(`${r.url.replace('ws:', 'http:')}/metrics`)).text()
  return Number(/^peerchat_relay_forwarded_bytes_total (\d+)/m.exec(text)?.[1])
}

describe('catch-up without WebRTC', () => {
  it('completes through the relay-forwarded channel within its byte budget', {
    timeout: 240_000,
  }, async () => {
    relay = await spawnRelay(['--data-dir', mkdtempSync(join(tmpdir(), 'peerchat-')), '--quiet', ...LIMITS])
    const base = {
      relayUrl: relay.url,
      relayKey: relay.relayKey,
      channels: ['general'],
      room: 'community',
      kind: 'client',
      webrtc: true,
      catchUpSince: 0,
    }
    const [a, b, c] = ['A', 'B', 'C'].map((n) => new PeerProcess(n)) as [
      PeerProcess,
      PeerProcess,
      PeerProcess,
    ]
    peers.push(a, b, c)
    await Promise.all([a, b].map((p) => p.call('start', { args: base })))
    await c.call('start', { args: { ...base, webrtc: false } })
    await c.call('offline')
    await a.call('post', { channel: 'general', n: NEW, prefix: 'm ' })
    await until(
      async () => (await b.call<string[]>('ids', { channel: 'general' })).length === NEW,
      'live fan-out to B',
    )
    await a.call('offline')

    const before = await forwardedBytes(relay)
    await c.call('online')
    await until(
      async () => (await c.call<string[]>('candidates')).length === 1,
      'C to see B through the relay',
    )
    expect(await c.call('meshPeers')).toBe(0) // no WebRTC at all for C
    const reports = await c.call<{ source: string; added: number; complete: boolean }[]>('catchUp')
    expect(reports.map((r) => [r.source.split(':')[0], r.complete])).toEqual([['relay', true]])
    expect(reports[0]!.added).toBe(NEW)
    expect(await c.call<string[]>('ids', { channel: 'general' })).toEqual(
      await b.call<string[]>('ids', { channel: 'general' }),
    )

    const forwarded = (await forwardedBytes(relay)) - before
    expect(forwarded).toBeGreaterThan(NEW * 200) // the events really crossed the relay ...
    expect(forwarded).toBeLessThanOrEqual(2 * BUDGET) // ... within both sessions' budgets
  })
})
