/**
 * Signaling tokens expire (minutes), but y-webrtc reconnects its signaling socket with the URL
 * it was given. After a relay restart that outlives the token, peers must still be found:
 * connectPeer fetches a fresh token at every login and hands y-webrtc the new URL.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'
import { PeerProcess } from './peer-process.ts'

const TOKEN_TTL_MS = 2000
let relay: RelayProcess | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await relay?.stop()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const until = async (cond: () => Promise<boolean>, what: string, ms = 60_000) => {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

describe('signaling after the token expired', () => {
  it('a peer that joins after a relay restart still finds the earlier peers', {
    timeout: 120_000,
  }, async () => {
    // `ws` shell: the restart must get the same port back at once (see chaos.test.ts).
    const args = ['--data-dir', mkdtempSync(join(tmpdir(), 'peerchat-')), '--quiet', '--shell', 'ws']
    const limits = ['--limit', `tokenTtlMs=${TOKEN_TTL_MS}`, '--limit', 'unauthenticatedPerAddress=1000']
    relay = await spawnRelay([...args, ...limits])
    const base = {
      relayUrl: relay.url,
      relayKey: relay.relayKey,
      channels: ['general'],
      room: 'community',
      kind: 'client',
      webrtc: true,
    }
    const [a, b, c] = ['A', 'B', 'C'].map((n) => new PeerProcess(n)) as [
      PeerProcess,
      PeerProcess,
      PeerProcess,
    ]
    peers.push(a, b, c)
    await Promise.all([a, b].map((p) => p.call('start', { args: base })))
    await until(async () => (await a.call<number>('meshPeers')) === 1, 'A and B meshed')

    const port = relay.port
    relay.child.kill('SIGKILL')
    await sleep(TOKEN_TTL_MS * 2) // every token issued so far has expired
    relay = await spawnRelay([...args, ...limits, '--port', String(port)])

    await c.call('start', { args: base })
    await until(async () => (await c.call<number>('meshPeers')) === 2, 'C meshed with A and B')
    // (A may also keep its old link to B: the restarted relay gave B a new peer id.)
    expect(await a.call<number>('meshPeers')).toBeGreaterThanOrEqual(2)
  })
})
