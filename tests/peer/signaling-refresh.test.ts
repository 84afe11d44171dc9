/**
 * Signaling tokens expire (minutes), but y-webrtc reconnects its signaling socket with the URL
 * it was given. After a relay restart that outlives the token, peers must still be found:
 * connectPeer fetches a fresh token at every login and hands y-webrtc the new URL.
 */
import { afterAll, describe, it } from 'vitest'
import { PeerProcess } from './peer-process.ts'
import {
  peerArgs,
  type ScenarioRelay,
  type ScenarioRelayOptions,
  sleep,
  startRelay,
  until,
} from './scenario.ts'

const TOKEN_TTL_MS = 2000
let relay: ScenarioRelay | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await relay?.stop()
})

describe('signaling after the token expired', () => {
  it('a peer that joins after a relay restart still finds the earlier peers', {
    timeout: 120_000,
  }, async () => {
    // `ws` shell: the restart must get the same port back at once (see chaos.test.ts).
    const options: ScenarioRelayOptions = { shell: 'ws', limits: { tokenTtlMs: TOKEN_TTL_MS } }
    relay = await startRelay(options)
    const base = peerArgs(relay)
    const [a, b, c] = ['A', 'B', 'C'].map((n) => new PeerProcess(n)) as [
      PeerProcess,
      PeerProcess,
      PeerProcess,
    ]
    peers.push(a, b, c)
    await Promise.all([a, b].map((p) => p.call('start', { args: base })))
    await until(async () => (await a.call<number>('meshPeers')) === 1, 'A and B meshed')

    const again = { ...options, port: relay.port, dataDir: relay.dataDir }
    relay.child.kill('SIGKILL')
    await sleep(TOKEN_TTL_MS * 2) // every token issued so far has expired
    relay = await startRelay(again)

    await c.call('start', { args: base })
    await until(async () => (await c.call<number>('meshPeers')) === 2, 'C meshed with A and B')
    // A admits C once C's presence reaches it (each side admits on its own clock). A may also
    // keep its old link to B: the restarted relay gave B a new peer id.
    await until(async () => (await a.call<number>('meshPeers')) >= 2, 'A meshed with C')
  })
})
