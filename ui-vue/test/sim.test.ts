import { Identity, Kind, verifyAuthor, verifyRelayStamp } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { decodeBody } from '../src/client/bodies.ts'
import { SIM_HISTORY_MAX, simOptionsFromUrl } from '../src/client/index.ts'
import { SimClient } from '../src/client/sim.ts'
import type { IncomingEvent, Outgoing } from '../src/client/types.ts'

beforeAll(() => useNodeCrypto())

const clients: SimClient[] = []
afterEach(() => {
  for (const c of clients.splice(0)) c.stop()
})

async function startSim(history = 60, localHistory?: number): Promise<SimClient> {
  const client = await SimClient.create({
    signer: await Identity.generate(),
    name: 'Tess',
    history,
    localHistory,
    peerDelayMs: 1,
    otherHistory: 10,
    peers: 2,
    activityMs: 0,
    latencyMs: 1,
  })
  clients.push(client)
  await client.start()
  return client
}

describe('SimClient', () => {
  it('seeds history whose author and relay signatures verify, paged newest first', async () => {
    const client = await startSim(120)
    const newest = await client.history('general', { limit: 50 })
    expect(newest.events).toHaveLength(50)
    expect(newest.complete).toBe(false)
    const older = await client.history('general', { before: newest.events[0]!.id, limit: 500 })
    expect(older.complete).toBe(true)
    const all = [...older.events, ...newest.events]
    expect(all).toHaveLength(120)
    expect(all.map((e) => e.id)).toEqual(all.map((e) => e.id).sort())
    for (const e of all.slice(0, 20)) {
      expect(await verifyAuthor(e)).toBe(true)
      expect(await verifyRelayStamp(e, client.relayKey)).toBe(true)
    }
  })

  it('pulls what the local log lacks from a peer on scroll-back, then keeps it', async () => {
    const client = await startSim(120, 40)
    const backfill: boolean[] = []
    client.on('backfill', ({ active }) => backfill.push(active))
    const newest = await client.history('general', { limit: 30 })
    expect(newest.complete).toBe(false)
    expect(backfill).toEqual([])
    const mixed = await client.history('general', { before: newest.events[0]!.id, limit: 30 })
    expect(mixed.events).toHaveLength(30)
    expect(mixed.complete).toBe(false)
    expect(backfill).toEqual([true, false])
    await expect(client.provenance('general', mixed.events[0]!.id)).resolves.toMatchObject({
      source: { via: 'peer' },
    })
    await expect(client.provenance('general', mixed.events[29]!.id)).resolves.toMatchObject({
      source: { via: 'local' },
    })
    const rest = await client.history('general', { before: mixed.events[0]!.id, limit: 500 })
    expect(rest.complete).toBe(true)
    const all = [...rest.events, ...mixed.events, ...newest.events].map((e) => e.id)
    expect(all).toHaveLength(120)
    expect(new Set(all).size).toBe(120)
    expect(all).toEqual([...all].sort())
  })

  it('a sent message is signed at once (outbox), then stamped by the relay and delivered', async () => {
    const client = await startSim()
    const outgoing: Outgoing[] = []
    const incoming: IncomingEvent[] = []
    client.on('outgoing', (o) => outgoing.push(o))
    client.on('event', (e) => incoming.push(e))
    const out = await client.send('general', 'hello sim')
    expect(outgoing).toEqual([out])
    const stamped = await out.stamped
    expect(await verifyRelayStamp(stamped, client.relayKey)).toBe(true)
    await expect.poll(() => incoming.length).toBe(1)
    expect(incoming[0]!.source).toEqual({ via: 'relay' })
    expect(decodeBody(Kind.message, incoming[0]!.event.body)).toEqual({
      kind: Kind.message,
      text: 'hello sim',
    })
    const page = await client.history('general', { limit: 1 })
    expect(page.events[0]!.id).toBe(stamped.id)
    await expect(client.provenance('general', stamped.id)).resolves.toEqual({
      id: stamped.id,
      authorSignature: true,
      relayStamp: true,
      source: { via: 'relay' },
    })
    const seeded = (await client.history('general', { limit: 2 })).events[0]!
    await expect(client.provenance('general', seeded.id)).resolves.toMatchObject({ source: { via: 'local' } })
    await expect(client.provenance('dev', stamped.id)).resolves.toBeUndefined()
  })

  it('keeps writes made offline in the outbox and sends them, with their nonce, on reconnect', async () => {
    const client = await startSim()
    const states: string[] = []
    client.on('connection', (s) => states.push(s))
    client.simulation.setOnline(false)
    const out = await client.send('general', 'written offline')
    let stampedYet = false
    void out.stamped.then(() => {
      stampedYet = true
    })
    await new Promise((r) => setTimeout(r, 30))
    expect(stampedYet).toBe(false)
    client.simulation.setOnline(true)
    const stamped = await out.stamped
    expect(stamped.clientNonce).toEqual(out.request.clientNonce)
    expect(states).toEqual(['offline', 'online'])
  })

  it('counts unread messages by others until marked read', async () => {
    const client = await startSim()
    const design = () => client.channels().find((c) => c.name === 'design')!
    expect(design().unread).toBeGreaterThan(0)
    const newest = (await client.history('design', { limit: 1 })).events[0]!
    client.markRead('design', newest.id)
    expect(design().unread).toBe(0)
  })

  it('stop() is idempotent and removes every listener', async () => {
    const client = await startSim()
    client.on('event', () => {})
    client.stop()
    client.stop()
    expect(client.connection()).toBe('offline')
    expect((client as unknown as { emitter: { size: number } }).emitter.size).toBe(0)
  })

  it('reads simulation knobs from the URL and caps the history size', () => {
    expect(simOptionsFromUrl('?history=10000&peers=3&activity=0&seed=7&latency=5')).toMatchObject({
      history: 10000,
      peers: 3,
      activityMs: 0,
      seed: 7,
      latencyMs: 5,
    })
    expect(simOptionsFromUrl(`?history=${SIM_HISTORY_MAX + 1}`).history).toBe(SIM_HISTORY_MAX)
    expect(simOptionsFromUrl('?history=-3&peers=abc')).toMatchObject({ history: undefined, peers: undefined })
  })
})
