/**
 * The WebRTC fallback: C cannot use WebRTC, so the replicas' sync policy catches it up through
 * the relay-forwarded peer channel (the test only waits) — measured on the relay's counters and
 * bounded by its per-session byte budget.
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { RelayProcess } from '../relay/relay-process.ts'
import { PeerProcess } from './peer-process.ts'
import { peerArgs, relayMetric, startRelay, until } from './scenario.ts'

const NEW = Number(process.env.PEERCHAT_TEST_NEW ?? 5000)
const BUDGET = 4 * 1024 * 1024 // the relay's default forwardBurstBytes

let relay: RelayProcess | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await relay?.stop()
})

const forwardedBytes = (r: RelayProcess) => relayMetric(r, 'peerchat_relay_forwarded_bytes_total')

describe('catch-up without WebRTC', () => {
  it('completes through the relay-forwarded channel within its byte budget', {
    timeout: 240_000,
  }, async () => {
    relay = await startRelay({ limits: { forwardBurstBytes: BUDGET, forwardBytesPerSecond: 1024 } })
    const base = peerArgs(relay)
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
    await until(
      async () => (await c.call<string[]>('ids', { channel: 'general' })).length === NEW,
      `C to catch up ${NEW} events through the relay`,
    ).catch(async (e: Error) => {
      // What C's sessions did, for a run that did not converge.
      const { peer, relay: r, reports } = await c.call<Record<string, unknown>>('stats')
      throw new Error(`${e.message}; C: ${JSON.stringify({ peer, relay: r, reports })}`)
    })
    expect(await c.call<string[]>('ids', { channel: 'general' })).toEqual(
      await b.call<string[]>('ids', { channel: 'general' }),
    )
    // All of it from B (C has no other link than the relay's forwarding; a session C started,
    // or one B started), none live from the relay.
    const stats = await c.call<{ peer: { fromPeers: number; fromRelay: number } }>('stats')
    expect(stats.peer).toMatchObject({ fromPeers: NEW, fromRelay: 0 })

    const forwarded = (await forwardedBytes(relay)) - before
    expect(forwarded).toBeGreaterThan(NEW * 200) // the events really crossed the relay ...
    expect(forwarded).toBeLessThanOrEqual(2 * BUDGET) // ... within both sessions' budgets
  })
})
