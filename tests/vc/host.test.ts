/**
 * peerchat-vc-host, the production layout (`pnpm start`, the Docker image): two virtual
 * clients in ONE process, each from its own module instance of the bundle. They must behave
 * as two separate peers: own keys and data dirs, a WebRTC connection between them (one
 * y-webrtc per instance: a shared one refuses a second provider for the same room), each
 * storing live events; one /metrics endpoint labels both; SIGTERM stops both cleanly, and a
 * restart keeps keys and history.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity, publicKeyFromText, utf8 } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { RelayClient } from '@peerchat/transports/relay'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ensureBundles } from '../../scripts/start.mjs'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'
import { spawnVcHost, type VcHostProcess } from './vc-process.ts'

useNodeCrypto()
const dir = mkdtempSync(join(tmpdir(), 'peerchat-vchost-'))
let relay: RelayProcess | undefined
const hosts: VcHostProcess[] = []
const cleanup: (() => Promise<void>)[] = []
beforeAll(() => ensureBundles(), 60_000)
afterAll(async () => {
  for (const c of cleanup) await c()
  await Promise.all(hosts.map((h) => h.stop()))
  await relay?.stop()
  rmSync(dir, { recursive: true, force: true })
})

const until = async (cond: () => Promise<boolean>, what: string, ms = 30_000) => {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('peerchat-vc-host', () => {
  it('runs two independent virtual clients in one process', { timeout: 90_000 }, async () => {
    relay = await spawnRelay(['--data-dir', join(dir, 'relay'), '--quiet'])
    const operands = [`vc1=${join(dir, 'vc1')}`, `vc2=${join(dir, 'vc2')}`]
    const host = await spawnVcHost(['--relay', relay.url, ...operands], 2)
    hosts.push(host)
    const [vc1, vc2] = host.clients as [(typeof host.clients)[0], (typeof host.clients)[0]]
    expect([vc1.name, vc2.name]).toEqual(['vc1', 'vc2'])
    expect(vc1.key).not.toBe(vc2.key)
    expect(vc1.child.pid).toBe(vc2.child.pid)
    expect(vc1.metricsPort).toBe(vc2.metricsPort)
    for (const name of ['vc1', 'vc2']) expect(existsSync(join(dir, name, 'vc.key'))).toBe(true)

    // Each sees the other as a WebRTC peer.
    await until(
      async () => (await vc1.metrics()).mesh_peers >= 1 && (await vc2.metrics()).mesh_peers >= 1,
      'the two virtual clients of one process to connect over WebRTC',
    )

    const poster = new RelayClient({
      url: `${relay.url}/relay`,
      identity: await Identity.generate(),
      relayKey: publicKeyFromText(relay.relayKey),
      WebSocket: WebSocket as never,
    })
    await poster.start()
    cleanup.push(() => poster.stop())
    for (let i = 0; i < 3; i++)
      await poster.publish({ channel: 'general', kind: Kind.message, body: utf8(`hello ${i}`) })
    await until(
      async () => (await vc1.metrics()).events_held === 3 && (await vc2.metrics()).events_held === 3,
      'both clients to store the live events',
    )
    const m = await vc1.metrics()
    expect(m.blobs_held).toBe(0)
    expect(m.rss_bytes).toBeGreaterThan(0)

    // SIGTERM: both stop (stores closed) and the process exits 0.
    const exited = new Promise<number | null>((r) => host.child.once('exit', (code) => r(code)))
    host.child.kill('SIGTERM')
    expect(await exited).toBe(0)

    const again = await spawnVcHost(['--relay', relay.url, ...operands], 2)
    hosts.push(again)
    expect(again.clients.map((c) => c.key)).toEqual([vc1.key, vc2.key])
    for (const c of again.clients) expect((await c.metrics()).events_held).toBe(3)
  })
})
