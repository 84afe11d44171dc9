/**
 * Two ways a Peer held a channel busy for as long as a session timeout, both found on the real
 * mesh and reproduced here on the memory network with a virtual clock. A Peer takes part in one
 * session per channel at a time, so while one hangs every other peer is answered `busy`.
 *
 * - A responder whose reply ended the reconciliation kept its side open until the session
 *   timeout (30 s): the asker finished without a word (webrtc-sync.test.ts, a scroll-back).
 * - A peer that reconnected under a new id (a reload; same key) before its old link was found
 *   dead (WebRTC takes ~15 s) was synced on the old link, by its lower round-trip time, and a
 *   session already running on that link went on waiting: either way the session waited for a
 *   dead peer (bench/reconnect.ts: 1 round in 2 took 13-15 s).
 * - A peer that did not hold the channel asked for stayed silent, and the asker's session waited
 *   for the timeout (a group channel an invitation names is held by its few members only).
 */
import { ABSENT, Identity, MemoryStore, Peer, SUPERSEDED, VirtualClock } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, toStored } from '@peerchat/engine/testing'
import { MemoryNetwork } from '@peerchat/transports/memory'
import { describe, expect, it } from 'vitest'

const CH = 'general'
const EVENTS = 100
/** Virtual time a sync may take here: well under the 30 s session timeout that hid the bug. */
const WITHIN_MS = 5_000
const STEP_MS = 10

/** Moves the virtual clock in small steps (letting real crypto work run) until `p` settles. */
async function within<T>(clock: VirtualClock, p: Promise<T>, what: string): Promise<T> {
  let settled = false
  void p.finally(() => {
    settled = true
  })
  for (let t = 0; !settled && t < WITHIN_MS; t += STEP_MS) {
    await clock.advance(STEP_MS)
    await new Promise((r) => setImmediate(r))
  }
  if (!settled) throw new Error(`${what} did not finish within ${WITHIN_MS} ms of virtual time`)
  return p
}

/** Peers on a memory network with a virtual clock; `events` signed by a relay they all trust. */
async function world() {
  useNodeCrypto()
  const clock = new VirtualClock(1_750_000_000_000)
  const network = new MemoryNetwork({ seed: 3, clock })
  const relay = await Identity.generate()
  const authors = [await Identity.generate()]
  const events = await signedPool({ channel: CH, relay, authors, count: EVENTS, start: clock.now() - EVENTS })
  const peers: Peer[] = []
  /**
   * A peer on link `name`, announcing `key` when given; holding the events when `full`; not
   * holding the channel at all (no log of it) when `hold` is false.
   */
  const peer = async (name: string, o: { key?: Uint8Array; full?: boolean; hold?: boolean } = {}) => {
    const store = new MemoryStore()
    if (o.full) await store.putMany(CH, events.map(toStored))
    const p = new Peer({ store, relayKeys: [relay.publicKey], clock })
    if (o.hold !== false) p.open(CH)
    const transport = network.transport(name, o.key ? { info: { key: o.key, kind: 'client' } } : {})
    p.attach(transport)
    await transport.start()
    peers.push(p)
    return p
  }
  const stop = async () => {
    for (const p of peers) await p.stop()
  }
  return { clock, network, peer, stop }
}

describe('Peer sessions', () => {
  it("a responder's final frame ends its session: the next peer is not answered busy", async () => {
    const w = await world()
    const a = await w.peer('a', { full: true })
    const b = await w.peer('b')
    const c = await w.peer('c')
    await w.clock.advance(100) // links up

    const first = await within(w.clock, b.sync(CH, { peer: { port: 0, peer: 'a' } }), "B's scroll-back")
    expect(first).toMatchObject({ complete: true, added: EVENTS, rounds: 1 })
    const second = await within(w.clock, c.sync(CH, { peer: { port: 0, peer: 'a' } }), "C's scroll-back")
    expect(second).toMatchObject({ complete: true, added: EVENTS })
    expect(a.stats.busy).toBe(0)
    await w.stop()
  })

  it('a key that reconnected under a new id is synced on its new link, not the dead one', async () => {
    const w = await world()
    const key = (await Identity.generate()).publicKey
    const a = await w.peer('a')
    // B's first link: fast (its round trip is measured low), then silent for good, as a closed
    // tab is until WebRTC notices; B's new link after the reload: slower, and alive.
    await w.peer('b-old', { key })
    w.network.setLink('a' as never, 'b-old' as never, { latency: { min: 1, max: 1 } })
    await w.clock.advance(100)
    w.network.setLink('a' as never, 'b-old' as never, { loss: 1 })
    await w.peer('b-new', { key, full: true })
    w.network.setLink('a' as never, 'b-new' as never, { latency: { min: 40, max: 40 } })
    await w.clock.advance(500)

    expect(a.candidates().map((c) => c.peer)).toEqual(['b-new'])
    const report = await within(w.clock, a.sync(CH), "A's sync with B")
    expect(report).toMatchObject({ complete: true, added: EVENTS })
    await w.stop()
  })

  it("a session on a key's old link ends when the key reconnects on a new one", async () => {
    const w = await world()
    const key = (await Identity.generate()).publicKey
    const a = await w.peer('a')
    await w.peer('b-old', { key })
    await w.clock.advance(100)
    w.network.setLink('a' as never, 'b-old' as never, { loss: 1 }) // B's tab closed, unnoticed
    const stuck = a.sync(CH, { peer: { port: 0, peer: 'b-old' } })
    await w.clock.advance(100)
    await w.peer('b-new', { key, full: true })
    expect(await within(w.clock, stuck, "A's session on the old link")).toMatchObject({
      complete: false,
      error: SUPERSEDED,
    })
    const report = await within(w.clock, a.sync(CH), "A's sync with B's new link")
    expect(report).toMatchObject({ complete: true, added: EVENTS })
    await w.stop()
  })

  it('a peer that does not hold the channel says so at once: the sync ends absent, nothing added', async () => {
    const w = await world()
    const a = await w.peer('a', { hold: false })
    const b = await w.peer('b')
    await w.clock.advance(100) // links up

    const report = await within(w.clock, b.sync(CH, { peer: { port: 0, peer: 'a' } }), "B's sync with A")
    // Answered `absent` (a session that timed out would end with another error), not complete:
    // callers that stop at the first complete report ask the next peer.
    expect(report).toMatchObject({ complete: false, added: 0, rounds: 0, error: ABSENT })
    // A opened no log for the channel it was asked about, nor answered busy.
    expect(a.channels).not.toContain(CH)
    expect(a.stats.busy).toBe(0)
    // B's channel is free again at once: a second sync is not kept waiting either.
    expect(await within(w.clock, b.sync(CH, { peer: { port: 0, peer: 'a' } }), 'again')).toMatchObject({
      complete: false,
      added: 0,
      error: ABSENT,
    })
    await w.stop()
  })
})
