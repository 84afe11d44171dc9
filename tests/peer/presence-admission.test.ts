/**
 * Peers outside the relay's presence head (issue #13): with `presenceHead=1` only the first
 * member's attestation is pushed to the others, so A (the head) is told nothing of B and C. A
 * still admits B's WebRTC link — it looks B up by key and readmits when the answer comes — and
 * serves C, which has no WebRTC, once C's first frames through the relay make A look C up.
 */
import { afterAll, describe, it } from 'vitest'
import type { RelayProcess } from '../relay/relay-process.ts'
import { PeerProcess } from './peer-process.ts'
import { peerArgs, startRelay, until } from './scenario.ts'

let relay: RelayProcess | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await relay?.stop()
})

describe('admission beyond the presence head', () => {
  it('a WebRTC peer and a relay-forwarded peer outside the head are looked up and served', {
    timeout: 120_000,
  }, async () => {
    relay = await startRelay({ limits: { presenceHead: 1 } })
    const base = peerArgs(relay)
    const [a, b, c] = ['A', 'B', 'C'].map((n) => new PeerProcess(n)) as [
      PeerProcess,
      PeerProcess,
      PeerProcess,
    ]
    peers.push(a, b, c)
    await a.call('start', { args: base })
    await b.call('start', { args: base })
    await until(async () => (await a.call<number>('meshPeers')) === 1, 'A to admit B over WebRTC')
    await until(async () => (await b.call<number>('meshPeers')) === 1, 'B to admit A over WebRTC')
    await c.call('start', { args: { ...base, webrtc: false }, wait: 'relay' })
    // Candidates are listed once per key, by their best link: C has A (the head) through the
    // relay; A has B (WebRTC) and, once C's frames made it look C up, C.
    const candidates = (p: PeerProcess) => p.call<string[]>('candidates')
    await until(async () => (await candidates(c)).length === 1, 'C to reach A through the relay')
    await until(async () => (await candidates(a)).length === 2, 'A to serve C through the relay')
  })
})
