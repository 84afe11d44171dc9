import type { Write } from '@peerchat/engine'
import { Identity, verifyAuthor, verifyRelayStamp } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { decodeBody } from '../src/client/bodies.ts'
import { SIM_HISTORY_MAX, simOptionsFromUrl } from '../src/client/index.ts'
import { SimClient } from '../src/client/sim.ts'
import type { ChatClient, IncomingEvent } from '../src/client/types.ts'

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

/** Resolves at the next end of a background pull of `channel` (`backfill` inactive). */
const pulled = (client: ChatClient, channel: string): Promise<void> =>
  new Promise((resolve) => {
    const off = client.on('backfill', (b) => {
      if (b.channel !== channel || b.active) return
      off()
      resolve()
    })
  })

describe('SimClient', () => {
  it('seeds history whose author and relay signatures verify, paged newest first', async () => {
    const client = await startSim(120)
    const newest = await client.history('general', { limit: 50 })
    expect(newest.events).toHaveLength(50)
    expect(newest.complete).toBe(false)
    // Everything is held locally and the simulated peers hold nothing older: the start.
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

  it('returns what the store holds at once and pulls the rest from a peer in the background', async () => {
    const client = await startSim(120, 40)
    const backfill: boolean[] = []
    const arrived: IncomingEvent[] = []
    client.on('backfill', ({ active }) => backfill.push(active))
    client.on('event', (e) => arrived.push(e))
    const newest = await client.history('general', { limit: 30 })
    expect(newest.complete).toBe(false)
    expect(backfill).toEqual([])
    // The store holds 10 more: they come at once; the peer is asked for the other 20.
    const done = pulled(client, 'general')
    const stored = await client.history('general', { before: newest.events[0]!.id, limit: 30 })
    expect(stored.events).toHaveLength(10)
    expect(stored.complete).toBe(false)
    await done
    expect(backfill).toEqual([true, false])
    // What the peer sent reached the view as events, and is in the store now.
    expect(arrived).toHaveLength(20)
    expect(arrived.every((e) => e.source.via === 'peer')).toBe(true)
    const mixed = await client.history('general', { before: stored.events[0]!.id, limit: 20 })
    expect(mixed.events.map((e) => e.id)).toEqual(arrived.map((e) => e.event.id))
    await expect(client.provenance('general', mixed.events[0]!.id)).resolves.toMatchObject({
      source: { via: 'peer' },
    })
    await expect(client.provenance('general', stored.events[9]!.id)).resolves.toMatchObject({
      source: { via: 'local' },
    })
    // The rest, then the start of the channel.
    const more = pulled(client, 'general')
    expect((await client.history('general', { before: mixed.events[0]!.id, limit: 500 })).events).toEqual([])
    await more
    const rest = await client.history('general', { before: mixed.events[0]!.id, limit: 500 })
    expect(rest.complete).toBe(true)
    const all = [...rest.events, ...mixed.events, ...stored.events, ...newest.events].map((e) => e.id)
    expect(all).toHaveLength(120)
    expect(new Set(all).size).toBe(120)
    expect(all).toEqual([...all].sort())
  })

  it('a sent message is signed at once (outbox), then stamped by the relay and delivered', async () => {
    const client = await startSim()
    const states: string[] = []
    const incoming: IncomingEvent[] = []
    client.on('write', (w) => states.push(w.state))
    client.on('event', (e) => incoming.push(e))
    const out = await client.send('general', 'hello sim')
    expect(states).toEqual(['pending'])
    expect(client.writes('general').map((w) => w.key)).toEqual([out.key])
    const stamped = await out.stamped
    await expect.poll(() => states).toEqual(['pending', 'stamped'])
    expect(client.writes('general')).toEqual([])
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
    const writes: Write[] = []
    client.on('connection', (s) => states.push(s))
    client.on('write', (w) => writes.push(w))
    client.simulation.setOnline(false)
    const out = await client.send('general', 'written offline')
    let stampedYet = false
    void out.stamped.then(() => {
      stampedYet = true
    })
    await new Promise((r) => setTimeout(r, 30))
    expect(stampedYet).toBe(false)
    expect(writes.map((w) => [w.key, w.state])).toEqual([[out.key, 'pending']])
    client.simulation.setOnline(true)
    const stamped = await out.stamped
    expect(stamped.clientNonce).toEqual(out.request.clientNonce)
    expect(states).toEqual(['offline', 'online'])
  })

  it('counts unread messages by others until marked read', async () => {
    const client = await startSim()
    const design = () => client.channels().find((c) => c.name === 'design')!
    // Counted from the store in the background, once the first page was read (or SCAN_DELAY_MS).
    await expect.poll(() => design().unread, { timeout: 5_000 }).toBeGreaterThan(0)
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
