/**
 * Chaos: the relay is SIGKILLed and restarted several times while three peers post through
 * it. Afterwards every event that got a stamp is on every peer, none twice, and every message
 * a peer typed was stamped exactly once (the outbox resends with the same clientNonce).
 * Peers repair what a killed fan-out missed by reconciling over their WebRTC mesh, which
 * outlives the relay: their replicas' sync policy catches up whenever the relay comes back and
 * runs anti-entropy rounds (every `ANTI_ENTROPY_MS` here, to fit the test); the test only waits.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { PeerProcess, untilMeshed } from './peer-process.ts'
import {
  peerArgs,
  type ScenarioRelay,
  type ScenarioRelayOptions,
  sleep,
  startRelay,
  until,
} from './scenario.ts'

const KILLS = 3
/** Mean period of the replicas' anti-entropy rounds (60 s by default). */
const ANTI_ENTROPY_MS = 5_000
/** Bound on the repair after the last restart (12-28 s seen under load 6: a few anti-entropy rounds). */
const REPAIR_MS = 120_000

let relay: ScenarioRelay | undefined
const peers: PeerProcess[] = []
afterAll(async () => {
  for (const p of peers) p.kill()
  await relay?.stop()
})

describe('chaos: relay killed while peers post', () => {
  it(`loses and duplicates nothing across ${KILLS} relay SIGKILLs`, { timeout: 240_000 }, async () => {
    // The `ws` shell (same core): uWS cannot re-bind the port while the killed relay's sockets
    // are in TIME_WAIT (see relay-client.test.ts), and a restart must come back on the same URL.
    relay = await startRelay({ shell: 'ws' })
    const again: ScenarioRelayOptions = { shell: 'ws', port: relay.port, dataDir: relay.dataDir }
    const base = peerArgs(relay, { sync: { antiEntropyMs: ANTI_ENTROPY_MS } })
    const all = ['A', 'B', 'C'].map((n) => new PeerProcess(n))
    peers.push(...all)
    await Promise.all(all.map((p) => p.call('start', { args: base })))
    await untilMeshed(all, 2)

    await Promise.all(all.map((p) => p.call('startLoop', { channel: 'general', everyMs: 15 })))
    for (let k = 0; k < KILLS; k++) {
      await sleep(700 + Math.random() * 600)
      relay.child.kill('SIGKILL')
      await sleep(300 + Math.random() * 700)
      relay = await startRelay(again)
    }
    await sleep(800)
    const loops = await Promise.all(
      all.map((p) => p.call<{ calls: number; acked: string[]; failed: number }>('stopLoop')),
    )

    // Every typed message was acknowledged: none failed, one ack per call.
    for (const l of loops) {
      expect(l.failed).toBe(0)
      expect(l.acked.length).toBe(l.calls)
    }
    // A send is known by (author, clientNonce). A resend after a relay restart may be stamped a
    // second time (the restarted relay forgot its idempotency cache); every replica then keeps
    // the smaller id, so each send is held exactly once whatever id its author was acked with.
    const sent = loops.flatMap((l) => l.acked).sort()
    expect(new Set(sent).size).toBe(sent.length)

    // The replicas repair whatever a killed fan-out missed; then every peer holds exactly those
    // sends, under the same ids.
    const sends = () => Promise.all(all.map((p) => p.call<string[]>('sends', { channel: 'general' })))
    const ids = () => Promise.all(all.map((p) => p.call<string[]>('ids', { channel: 'general' })))
    await until(
      async () => {
        const held = await sends()
        const heldIds = await ids()
        return (
          held.every((s) => s.length === sent.length) && heldIds.every((i) => i.join() === heldIds[0]!.join())
        )
      },
      `every peer to hold the ${sent.length} sends under the same ids`,
      REPAIR_MS,
    )
    const held = await sends()
    const heldIds = await ids()
    for (let i = 0; i < all.length; i++) {
      expect([...held[i]!].sort()).toEqual(sent) // each send once: nothing lost, nothing twice
      expect(heldIds[i]).toEqual(heldIds[0]) // and the same ids everywhere
    }
  })
})
