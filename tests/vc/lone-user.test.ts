/**
 * Issue #6's lone-user scenario at Node level, all real processes: a relay, two virtual
 * clients (the CLI, FileStore, WebRTC) and peer processes; every catch-up is the replicas'
 * sync policy (the test only waits and reads counters).
 * A posts history and leaves; F, a fresh replica whose only peers are the virtual clients,
 * gets the window's history from them. Then G joins while F (a real client holding the same
 * range) is online: G syncs from F and the virtual clients serve nothing.
 * Run twice: one process per virtual client (`pnpm vc`, from source), and both in one host
 * process (the bundled `peerchat-vc-host` that `pnpm start` and the Docker image run).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBundles } from '../../scripts/start.mjs'
import { PeerProcess } from '../peer/peer-process.ts'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'
import { spawnVc, spawnVcHost, type VcProcess } from './vc-process.ts'

const HISTORY = 400
const LIMITS = [
  'eventsPerSecondPerKey=1000000',
  'eventBurstPerKey=1000000',
  'framesPerSecondPerAddress=1000000',
]

const until = async (cond: () => Promise<boolean>, what: string, ms = 60_000) => {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}
type Stats = { peer: { fromPeers: number } }
type Report = { source: { kind: string }; complete: boolean }

const LAYOUTS = [
  {
    layout: 'one process per virtual client',
    start: async (url: string, dir: string) => {
      const out: VcProcess[] = []
      for (const name of ['vc1', 'vc2'])
        out.push(await spawnVc(['--relay', url, '--name', name, '--data-dir', join(dir, name)]))
      return out
    },
  },
  {
    layout: 'both virtual clients in one host process',
    start: async (url: string, dir: string) =>
      (await spawnVcHost(['--relay', url, `vc1=${join(dir, 'vc1')}`, `vc2=${join(dir, 'vc2')}`], 2)).clients,
  },
]

describe.each(LAYOUTS)('virtual clients keep history for a lone user ($layout)', ({ start }) => {
  const dir = mkdtempSync(join(tmpdir(), 'peerchat-lone-'))
  let relay: RelayProcess | undefined
  const vcs: VcProcess[] = []
  const peers: PeerProcess[] = []
  beforeAll(() => ensureBundles(), 60_000)
  afterAll(async () => {
    for (const p of peers) p.kill()
    await Promise.all(vcs.map((v) => v.stop()))
    await relay?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a fresh peer gets the window from the virtual clients, which serve nothing once a real peer can', {
    timeout: 120_000,
  }, async () => {
    relay = await spawnRelay([
      '--data-dir',
      join(dir, 'relay'),
      '--quiet',
      ...LIMITS.flatMap((l) => ['--limit', l]),
    ])
    vcs.push(...(await start(relay.url, dir)))
    const [vc1, vc2] = vcs as [VcProcess, VcProcess]
    await until(async () => (await vc1.metrics()).mesh_peers >= 1, 'the virtual clients to mesh')
    const base = { relayUrl: relay.url, relayKey: relay.relayKey, channels: ['general'], room: 'community' }
    const args = { ...base, kind: 'client', webrtc: true }
    const ids = (p: PeerProcess) => p.call<string[]>('ids', { channel: 'general' })
    const served = async () =>
      (await vc1.metrics()).served_events_total + (await vc2.metrics()).served_events_total

    // A posts the history, which reaches the virtual clients live, then leaves for good.
    const a = new PeerProcess('A')
    peers.push(a)
    await a.call('start', { args })
    await a.call('post', { channel: 'general', n: HISTORY, prefix: 'history ' })
    await until(
      async () =>
        (await vc1.metrics()).events_held === HISTORY && (await vc2.metrics()).events_held === HISTORY,
      'both virtual clients to hold the history',
    )
    const history = await ids(a)
    a.kill()

    // F: an empty store, and the virtual clients as its only peers.
    const f = new PeerProcess('F')
    peers.push(f)
    for (const v of vcs) await f.call('markVirtual', { key: v.key })
    const servedBefore = await served()
    await f.call('start', { args })
    await until(async () => (await f.call<number>('meshPeers')) === 2, 'F meshed with both virtual clients')
    await until(async () => (await ids(f)).length === HISTORY, "F to catch up the virtual clients' history")
    expect(await ids(f)).toEqual(history)
    expect((await f.call<Stats>('stats')).peer.fromPeers).toBe(HISTORY)
    expect((await served()) - servedBefore).toBe(HISTORY) // one copy, from one of them

    // G joins while F, a real client with the same range, is online.
    const g = new PeerProcess('G')
    peers.push(g)
    for (const v of vcs) await g.call('markVirtual', { key: v.key })
    const before = await Promise.all(vcs.map((v) => v.metrics()))
    await g.call('start', { args })
    await until(async () => (await ids(g)).length === HISTORY, 'G to catch up the history')
    expect(await ids(g)).toEqual(history)
    expect((await g.call<Stats>('stats')).peer.fromPeers).toBe(HISTORY)
    // G reconciles with the virtual clients too (its policy syncs with every peer that appears),
    // once it holds the history: they send nothing.
    await until(
      async () =>
        (await g.call<Report[]>('reports')).filter((r) => r.complete && r.source.kind === 'virtual').length >=
        2,
      "G's sessions with both virtual clients",
    )
    const after = await Promise.all(vcs.map((v) => v.metrics()))
    after.forEach((m, i) => {
      expect(m.served_events_total).toBe(before[i]!.served_events_total)
      expect(m.events_held).toBe(HISTORY)
    })
  })
})
