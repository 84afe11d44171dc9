/**
 * Issue #4's main scenario, all real: a relay process and four Node peer processes meshed
 * over WebRTC (@roamhq/wrtc) through the relay's authenticated signaling path, each holding a
 * Replica whose sync policy does every catch-up (the test only writes and watches).
 * A, B and D hold history older than the sync window; C joins and its catch-up leaves that
 * history out. A posts while C is offline; C comes back and catches up from B or D — the relay
 * holds nothing — then scrolls back to a range it never had and gets exactly that range. The
 * relay issues checkpoints (one every 256 stamps), so C accepts most of that history by hashing
 * it and checks the author signatures in the background afterwards.
 */
import { Identity, ulidAtTime } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterAll, describe, expect, it } from 'vitest'
import type { RelayProcess } from '../relay/relay-process.ts'
import { PeerProcess } from './peer-process.ts'
import { peerArgs, startRelay, until } from './scenario.ts'

useNodeCrypto()
const OLD = Number(process.env.PEERCHAT_TEST_OLD ?? 1000)
const NEW = Number(process.env.PEERCHAT_TEST_NEW ?? 5000)
/** The sync window of every peer: catch-ups reconcile the last hour; older comes by scroll-back. */
const WINDOW_MS = 3600_000
const CHECKPOINT_EVERY = 256
let relay: RelayProcess | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await relay?.stop()
})

interface Report {
  source: { peer: string }
  added: number
  complete: boolean
}

describe('peer sync over real WebRTC', () => {
  it('catches up from peers after being offline, then scrolls back to exactly a range', {
    timeout: 240_000,
  }, async () => {
    const relayId = await Identity.generate()
    relay = await startRelay({
      limits: { checkpointEvery: CHECKPOINT_EVERY },
      env: { PEERCHAT_RELAY_KEY: relayId.export() },
    })
    const base = peerArgs(relay, { sync: { windowMs: WINDOW_MS } })
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
    const reports = (p: PeerProcess) => p.call<Report[]>('reports')

    // Old history, two windows back, before C ever existed: A has it (with the relay's
    // checkpoints), B and D scroll back to it from A.
    const [aKey, bKey, dKey] = await Promise.all(
      [a, b, d].map((p) => p.call<string>('start', { args: base })),
    )
    await a.call('generate', {
      channel: 'general',
      n: OLD,
      relaySecret: relayId.export(),
      checkpointEvery: CHECKPOINT_EVERY,
      endAgoMs: 2 * WINDOW_MS,
    })
    // A scroll-back answered `busy` (A is catching up with someone) is asked again.
    const scrollBack = async (p: PeerProcess) =>
      (await p.call<{ complete: boolean }>('sync', { channel: 'general', range: {}, from: aKey })).complete
    for (const p of [b, d]) await until(() => scrollBack(p), 'a complete scroll-back from A')
    expect(await messages(b)).toHaveLength(OLD)
    expect(await ids(d)).toEqual(await ids(a))
    const cut = { gte: ulidAtTime(Date.now() - WINDOW_MS) }

    // C joins: its catch-up reconciles the window only, which holds nothing yet.
    await c.call('start', { args: base })
    await until(async () => (await meshSize(c)) === 3, 'C meshed with A, B, D')
    await until(async () => (await reports(c)).some((r) => r.complete), "C's catch-up")
    expect(await messages(c)).toEqual([])
    const heldBefore = (await ids(c)).length

    await c.call('offline')
    await a.call('post', { channel: 'general', n: NEW, prefix: 'new ' })
    await until(
      async () => (await messages(b)).length === OLD + NEW && (await messages(d)).length === OLD + NEW,
      'live fan-out to B and D',
    )
    await a.call('offline')

    // C comes back: the relay keeps nothing, so all NEW events must come from B or D.
    await c.call('online')
    const expected = await messages(b, cut)
    expect(expected.length).toBe(NEW)
    await until(async () => (await messages(c)).length === NEW, `C to catch up ${NEW} messages from B or D`)
    expect(await messages(c)).toEqual(expected) // every message, in ULID order
    const added = (await ids(c)).length - heldBefore // messages and checkpoints
    expect(added).toBeGreaterThan(NEW)
    const fromPeers = (await reports(c)).filter((r) => r.added > 0).map((r) => r.source.peer)
    expect(fromPeers.every((k) => k === bKey || k === dKey)).toBe(true)
    const stats = await c.call<{
      relay: { framesIn: number }
      peer: { fromPeers: number; fromRelay: number }
    }>('stats')
    // Nobody posts while C is online: the relay sends it at most the checkpoint that closes the
    // last window once stamps stop (`checkpointIdleMs`); everything else came from B or D.
    expect(stats.peer.fromRelay).toBeLessThanOrEqual(1)
    expect(stats.peer.fromPeers + stats.peer.fromRelay).toBe(added)
    // Every author signature was checked on arrival (issue #13): no background audit is left.
    const audit = await c.call<{ audited: number; forged: number }>('audited')
    expect(audit).toEqual({ audited: 0, forged: 0 })
    expect(stats.relay.framesIn).toBeLessThan(50) // login, presence, token: no history from the relay

    // Scroll back to a range C never had: exactly the old events, nothing else.
    const old = { lt: cut.gte }
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
