/**
 * Virtual clients keep the window's attachments (issues #5 and #6), all real processes: a
 * relay, one virtual client (the CLI: FileStore, FileBlobStore, WebRTC) and blob peers.
 * A posts a file and B wants it; the virtual client keeps a copy too. While B (a real client)
 * holds it, C's fetch is served by B and the virtual client sends nothing; once A and B are
 * gone, D's fetch is served by the virtual client alone. The relay carries no file byte.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { PeerProcess, postBlob, untilMeshed } from '../peer/peer-process.ts'
import { peerArgs, relayTraffic, startRelay, until } from '../peer/scenario.ts'
import type { RelayProcess } from '../relay/relay-process.ts'
import { spawnVc, type VcProcess } from './vc-process.ts'

const CHILD = fileURLToPath(new URL('../peer/blob-node.ts', import.meta.url))
const SIZE = 1024 * 1024
const CH = 'general'
const dir = mkdtempSync(join(tmpdir(), 'peerchat-vc-blobs-'))
let relay: RelayProcess | undefined
let vc: VcProcess | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await vc?.stop()
  await relay?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('virtual clients keep attachments', () => {
  it('hold the window’s files and serve them only when no real client can', {
    timeout: 180_000,
  }, async () => {
    relay = await startRelay()
    const r = relay
    const relayBytes = () => relayTraffic(r)
    vc = await spawnVc(['--relay', relay.url, '--name', 'vc1', '--data-dir', join(dir, 'vc1')])
    const v = vc
    const args = peerArgs(relay, { virtual: [v.key] })
    const [a, b, c, d] = ['A', 'B', 'C', 'D'].map((n) => new PeerProcess(n, CHILD)) as [
      PeerProcess,
      PeerProcess,
      PeerProcess,
      PeerProcess,
    ]
    peers.push(a, b, c, d)
    const mesh = (p: PeerProcess) => p.call<number>('meshPeers')
    await Promise.all([a, b, c, d].map((p) => p.call('start', { args })))
    await untilMeshed([a, b, c, d], 4)
    const before = await relayBytes()

    const posted = await postBlob(a, [b, c, d], { channel: CH, size: SIZE, seed: 7 })
    await b.call('blobWant', { channel: CH, event: posted.id })
    const holds = (p: PeerProcess) =>
      p.call<string | undefined>('blobHolds', { channel: CH, event: posted.id })
    await until(async () => (await holds(b)) === posted.sha256, 'B to hold it')
    await until(async () => (await v.metrics()).blobs_held === 1, 'the virtual client to keep a copy')
    expect((await v.metrics()).blob_bytes).toBe(SIZE)

    // A real client holds it: C is served by B, the virtual client sends nothing.
    await a.call('offline')
    const servedBefore = (await v.metrics()).blob_bytes_served_total
    const atC = await c.call<{ sha256: string }>('blobFetch', { channel: CH, event: posted.id })
    expect(atC.sha256).toBe(posted.sha256)
    expect((await v.metrics()).blob_bytes_served_total).toBe(servedBefore)

    // Every real holder gone: the virtual client is the peer of last resort.
    await b.call('offline')
    await c.call('offline')
    await until(async () => (await mesh(d)) === 1, 'D alone with the virtual client')
    const atD = await d.call<{ sha256: string }>('blobFetch', { channel: CH, event: posted.id })
    expect(atD.sha256).toBe(posted.sha256)
    expect((await v.metrics()).blob_bytes_served_total - servedBefore).toBe(SIZE)

    // Four copies moved peer to peer (VC, B, C, D); the relay carried stamps and signaling only.
    expect((await relayBytes()) - before).toBeLessThan(64 * 1024)
  })
})
