/**
 * Issue #4's main scenario, all real: a relay process and four Node peer processes meshed
 * over WebRTC (@roamhq/wrtc) through the relay's authenticated signaling path.
 * A posts while C is offline; C comes back and catches up from B or D — the relay holds
 * nothing — then scrolls back to a range it never had and gets exactly that range. The relay
 * issues checkpoints (one every 256 stamps), so C accepts most of that history by hashing it
 * and checks the author signatures in the background afterwards.
 */
import { ulidAtTime } from '@peerchat/engine'
import { afterAll, describe, expect, it } from 'vitest'
import type { RelayProcess } from '../relay/relay-process.ts'
import { PeerProcess } from './peer-process.ts'
import { peerArgs, startRelay, until } from './scenario.ts'

const OLD = Number(process.env.PEERCHAT_TEST_OLD ?? 1000)
const NEW = Number(process.env.PEERCHAT_TEST_NEW ?? 5000)
let relay: RelayProcess | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await relay?.stop()
})

describe('peer sync over real WebRTC', () => {
  it('catches up from peers after being offline, then scrolls back to exactly a range', {
    timeout: 240_000,
  }, async () => {
    relay = await startRelay({ limits: { checkpointEvery: 256 } })
    const base = peerArgs(relay)
    const [a, b, c, d] = ['A', 'B', 'C', 'D'].map((n) => new PeerProcess(n)) as [
      PeerProcess,
      PeerProcess,
      PeerProcess,
      PeerProcess,
    ]
    peers.push(a, b, c, d)
    const ids = (p: PeerProcess, range = {}, kind?: string) =>
      p.call<string[]>('ids', { channel: 'general', range, ...(kind ? { kind } : {}) })
    // The chat's own events (the relay's checkpoints are events of the channel too).
    const messages = (p: PeerProcess, range = {}) => ids(p, range, 'message')
    const meshSize = (p: PeerProcess) => p.call<number>('meshPeers')

    // Old history, before C ever existed.
    await Promise.all([a, b, d].map((p) => p.call('start', { args: { ...base, catchUpSince: 0 } })))
    await a.call('post', { channel: 'general', n: OLD, prefix: 'old ' })
    await until(
      async () => (await messages(b)).length === OLD && (await messages(d)).length === OLD,
      'B and D to hold the old history',
    )
    const t1 = Date.now() + 1
    await new Promise((r) => setTimeout(r, 5))

    // C joins with "recent history" starting at t1 (its 24 h window, compressed for the test).
    await c.call('start', { args: { ...base, catchUpSince: t1 } })
    await until(async () => (await meshSize(c)) === 3, 'C meshed with A, B, D')
    await c.call('catchUp')
    expect(await messages(c)).toEqual([])
    const heldBefore = (await ids(c)).length // at most a checkpoint of the old history stamped after t1

    await c.call('offline')
    await a.call('post', { channel: 'general', n: NEW, prefix: 'new ' })
    await until(
      async () => (await messages(b)).length === OLD + NEW && (await messages(d)).length === OLD + NEW,
      'live fan-out to B and D',
    )
    await a.call('offline')

    // C comes back: the relay keeps nothing, so all NEW events must come from B or D.
    await c.call('online')
    await until(async () => (await meshSize(c)) === 2, 'C meshed with B and D')
    const reports = await c.call<{ source: string; added: number; complete: boolean }[]>('catchUp')
    expect(reports.filter((r) => !r.complete)).toEqual([])
    const recent = { gte: ulidAtTime(t1) }
    const expected = await messages(b, recent)
    expect(expected.length).toBe(NEW)
    expect(await messages(c)).toEqual(expected) // every message, in ULID order
    const added = (await ids(c)).length - heldBefore // messages and checkpoints
    expect(added).toBeGreaterThan(NEW)
    expect(reports.reduce((n, r) => n + r.added, 0)).toBe(added)
    const stats = await c.call<{
      relay: { framesIn: number }
      peer: { fromPeers: number; fromRelay: number }
    }>('stats')
    expect(stats.peer.fromPeers).toBe(added)
    // Most of it was accepted on the relay's checkpoints; their author signatures all check out.
    const audit = await c.call<{ audited: number; forged: number }>('audited')
    expect(audit.audited).toBeGreaterThan(NEW / 2)
    expect(audit.forged).toBe(0)
    expect(stats.relay.framesIn).toBeLessThan(50) // login, presence, token: no history from the relay

    // Scroll back to a range C never had: exactly the old events, nothing else.
    const old = { lt: ulidAtTime(t1) }
    const report = await c.call<{ added: number; complete: boolean }>('sync', {
      channel: 'general',
      range: old,
    })
    expect(report.complete).toBe(true)
    expect(await ids(c, old)).toEqual(await ids(b, old))
    expect(report.added).toBe((await ids(c, old)).length)
    expect(await messages(c, old)).toHaveLength(OLD)
    expect(await messages(c)).toHaveLength(OLD + NEW)
  })
})
