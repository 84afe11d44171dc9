/**
 * The Replica on the memory network and the memory relay, with a virtual clock: lifecycle,
 * local-first writes, catch-up policy and provenance, on the code that ships.
 */
import {
  ABSENT,
  type Change,
  encodeEvent,
  eventDigest,
  Identity,
  MemoryOutboxStore,
  MemoryStore,
  Replica,
  type SignedRequest,
  type StampedEvent,
  utf8,
  VirtualClock,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { MemoryNetwork, MemoryRelay, SeededRandom } from '@peerchat/transports/memory'
import { beforeAll, describe, expect, it } from 'vitest'

const T0 = 1_750_000_000_000

async function world() {
  useNodeCrypto()
  const clock = new VirtualClock(T0)
  const network = new MemoryNetwork({ seed: 7, clock })
  const relay = new MemoryRelay({ signer: await Identity.generate(), clock, refuse: (r) => refuse?.(r) })
  const random = new SeededRandom(11)
  let refuse: ((r: SignedRequest) => { code: string; message: string } | undefined) | undefined
  let n = 0
  const replica = async (
    o: {
      store?: MemoryStore
      outbox?: MemoryOutboxStore
      signer?: Identity
      peerSync?: (channel: string) => boolean
    } = {},
  ) => {
    const signer = o.signer ?? (await Identity.generate())
    const store = o.store ?? new MemoryStore()
    const r = await Replica.open({
      store,
      relayKeys: [relay.publicKey],
      signer,
      clock,
      random: () => random.next(),
      ...(o.outbox ? { outbox: o.outbox } : {}),
      ...(o.peerSync ? { peerSync: o.peerSync } : {}),
    })
    const transport = network.transport(`p${n++}`)
    return { r, store, signer, transport }
  }
  const setRefuse = (f: typeof refuse) => {
    refuse = f
  }
  /**
   * Moves the clock `ms` in small steps, letting untracked work run between them (the sync
   * policy's jobs are not tracked by the clock: one `advance` could jump past their next step).
   */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      await clock.advance(10)
      await new Promise((r) => setImmediate(r))
    }
  }
  return { clock, network, relay, replica, setRefuse, run }
}

const texts = (events: StampedEvent[]) => events.map((e) => new TextDecoder().decode(e.body))

beforeAll(() => useNodeCrypto())

describe('Replica', () => {
  it('starts with no network and shows an offline write at once; stamps it after the relay comes back', async () => {
    const w = await world()
    w.relay.crash()
    const a = await w.replica()
    const changes: Change[] = []
    await a.r.subscribe('tasks', (c) => changes.push(c))
    const live = w.relay.client()
    a.r.connect(live)
    const write = await a.r.write('tasks', 'task.set', utf8('offline edit'))
    expect(write.state).toBe('pending')
    expect(changes.at(-1)?.writes[0]?.state).toBe('pending')
    await w.clock.advance(10_000)
    expect(write.state).toBe('pending')
    w.relay.restart()
    await w.clock.advance(1_000)
    expect(write.state).toBe('stamped')
    const stamped = changes.find((c) => c.added.length > 0)
    expect(stamped?.source).toEqual({ via: 'relay' })
    expect(texts(stamped!.added)).toEqual(['offline edit'])
    expect(a.r.writes()).toEqual([])
    await a.r.stop()
  })

  it('keeps pending writes across a restart (persisted outbox) and stamps them once', async () => {
    const w = await world()
    w.relay.crash()
    const outbox = new MemoryOutboxStore()
    const store = new MemoryStore()
    const signer = await Identity.generate()
    const first = await w.replica({ outbox, store, signer })
    first.r.connect(w.relay.client())
    await first.r.write('tasks', 'task.set', utf8('survives'))
    await first.r.stop()
    const second = await w.replica({ outbox, store, signer })
    const seen: Change[] = []
    await second.r.subscribe('tasks', (c) => seen.push(c))
    expect(seen.flatMap((c) => c.writes).map((x) => x.state)).toEqual(['pending'])
    second.r.connect(w.relay.client())
    w.relay.restart()
    await w.clock.advance(1_000)
    expect(texts(await second.r.open('tasks').range({}))).toEqual(['survives'])
    expect(await outbox.list()).toEqual([])
    await second.r.stop()
  })

  it('takes an acknowledgement as stamped only when the log accepts it: a forged stamp leaves the write pending', async () => {
    const w = await world()
    const a = await w.replica()
    const live = w.relay.client()
    // The port hands back the relay's event with its stamp signature flipped.
    const forged: typeof live = Object.create(live)
    forged.publishSigned = async (request) => {
      const event = await live.publishSigned(request)
      const relaySig = event.relaySig.slice()
      relaySig[0]! ^= 1
      return { ...event, relaySig }
    }
    // Nor does it pass on the relay's live events (the genuine event would stamp the write).
    forged.on = ((type: 'event' | 'state', listener: never) =>
      type === 'event' ? () => {} : live.on(type, listener)) as typeof live.on
    a.r.connect(forged)
    const write = await a.r.write('tasks', 'task.set', utf8('acked by a forger'))
    await w.clock.advance(1_000)
    expect(write.state).toBe('pending')
    expect(a.r.writes()).toContain(write)
    // An honest connection then stamps it.
    a.r.connect(w.relay.client())
    await w.clock.advance(1_000)
    expect(write.state).toBe('stamped')
    expect(texts(await a.r.open('tasks').range({}))).toEqual(['acked by a forger'])
    await a.r.stop()
  })

  it('reconciles with peers only the channels peerSync allows; an excluded one is still served when asked', async () => {
    const w = await world()
    // Both leave 'served' to another authority (as every web client leaves the admin log to the relay).
    const peerSync = (channel: string) => channel !== 'served'
    const a = await w.replica({ peerSync })
    a.r.connect(w.relay.client())
    a.r.attach(a.transport)
    await a.transport.start()
    for (let i = 0; i < 5; i++) await a.r.write('tasks', 'task.set', utf8(`t${i}`))
    for (let i = 0; i < 3; i++) await a.r.write('served', 'entry', utf8(`s${i}`))
    await w.clock.advance(1_000)
    const b = await w.replica({ peerSync })
    b.r.open('tasks')
    b.r.open('served')
    b.r.connect(w.relay.client())
    b.r.attach(b.transport)
    await b.transport.start()
    await w.clock.advance(5_000)
    expect(await b.r.open('tasks').count()).toBe(5)
    expect(await b.r.open('served').count()).toBe(0)
    for (const r of [a.r, b.r]) expect(r.peer.reports.map((x) => x.channel)).not.toContain('served')
    // Asked explicitly, a peer answers for it.
    const sync = b.r.sync('served')
    await w.clock.advance(1_000)
    expect((await sync).added).toBe(3)
    await a.r.stop()
    await b.r.stop()
  })

  it('catches up with a peer that appears after the relay login, with no application code', async () => {
    const w = await world()
    const a = await w.replica()
    const b = await w.replica()
    a.r.connect(w.relay.client())
    a.r.attach(a.transport)
    await a.transport.start()
    for (let i = 0; i < 21; i++) await a.r.write('tasks', 'task.set', utf8(`t${i}`))
    await w.clock.advance(1_000)
    // B comes back: the relay first (no peer online yet), its only peer a moment later.
    b.r.open('tasks')
    b.r.connect(w.relay.client())
    await w.clock.advance(1_000)
    b.r.attach(b.transport)
    const sources: Change['source'][] = []
    await b.r.subscribe('tasks', (c) => c.added.length > 0 && sources.push(c.source), { replay: false })
    await b.transport.start()
    await w.clock.advance(1_000)
    expect(await b.r.open('tasks').count()).toBe(21)
    expect(sources).toContainEqual(expect.objectContaining({ via: 'peer', peer: 'p0', link: 'memory' }))
    await a.r.stop()
    await b.r.stop()
  })

  it('replays the store and subscribes in one step: no gap, no double delivery', async () => {
    const w = await world()
    const a = await w.replica()
    const b = await w.replica()
    a.r.connect(w.relay.client())
    for (let i = 0; i < 50; i++) await a.r.write('tasks', 'task.set', utf8(`old ${i}`))
    await w.clock.advance(1_000)
    // B holds the first 50 in its store; 50 more arrive live while it replays.
    await b.store.putMany(
      'tasks',
      (await a.r.open('tasks').range({})).map((event) => ({ event, digest: eventDigest(event) })),
    )
    b.r.connect(w.relay.client())
    b.r.open('tasks')
    const writing = (async () => {
      for (let i = 0; i < 50; i++) await a.r.write('tasks', 'task.set', utf8(`new ${i}`))
    })()
    const ids: string[] = []
    const stepping = w.clock.advance(2_000)
    await b.r.subscribe('tasks', (c) => ids.push(...c.added.map((e) => e.id)))
    await writing
    await stepping
    await w.clock.advance(1_000)
    expect(ids.length).toBe(100)
    expect(new Set(ids).size).toBe(100)
    await a.r.stop()
    await b.r.stop()
  })

  it('reports a refused write as failed, and stamps it on retry once the relay accepts it', async () => {
    const w = await world()
    const a = await w.replica()
    a.r.connect(w.relay.client())
    w.setRefuse(() => ({ code: 'forbidden', message: 'only moderators post here' }))
    const write = await a.r.write('news', 'message', utf8('hello'))
    const refused = a.r.stamped(write).catch((e: Error & { code?: string }) => e.code)
    await w.clock.advance(1_000)
    expect(await refused).toBe('forbidden')
    expect(write.state).toBe('failed')
    expect(a.r.writes('news')).toEqual([write])
    w.setRefuse(undefined)
    await a.r.retry(write.key)
    expect(write.state).toBe('pending')
    await w.clock.advance(1_000)
    expect(write.state).toBe('stamped')
    expect(await a.r.open('news').count()).toBe(1)
    await a.r.stop()
  })

  it('hands a replaced event to subscribers: a retry stamped again after a relay restart keeps the smaller id', async () => {
    const w = await world()
    const a = await w.replica()
    const b = await w.replica()
    const live = w.relay.client()
    a.r.connect(live)
    b.r.connect(w.relay.client())
    b.r.open('tasks')
    const write = await a.r.write('tasks', 'task.set', utf8('twice'))
    await w.clock.advance(1_000)
    const first = write.event!
    // C joins after the relay forgot its stamps; the same signed request reaches it again.
    w.relay.crash()
    w.relay.restart()
    const c = await w.replica()
    c.r.connect(w.relay.client())
    const changes: Change[] = []
    await c.r.subscribe('tasks', (x) => changes.push(x))
    const again = live.publishSigned(write.request)
    await w.clock.advance(1_000)
    const second = await again
    expect(second.id > first.id).toBe(true)
    expect(changes.flatMap((x) => x.added).map((e) => e.id)).toEqual([second.id])
    // B brings the first stamp over the mesh: C keeps the smaller id and says which left.
    b.r.attach(b.transport)
    c.r.attach(c.transport)
    await b.transport.start()
    await c.transport.start()
    await w.clock.advance(5_000)
    expect(changes.flatMap((x) => x.replaced)).toEqual([second.id])
    expect(changes.at(-1)?.source).toMatchObject({ via: 'peer', link: 'memory' })
    expect((await c.r.open('tasks').range({})).map((e) => e.id)).toEqual([first.id])
    for (const x of [a, b, c]) await x.r.stop()
  })

  it('a newcomer with four peers receives each missing event about once, and stop clears every timer', async () => {
    const w = await world()
    const peers = [await w.replica(), await w.replica(), await w.replica(), await w.replica()]
    const live = w.relay.client()
    peers[0]!.r.connect(live)
    for (let i = 0; i < 200; i++) await peers[0]!.r.write('tasks', 'task.set', utf8(`task ${i}`))
    await w.clock.advance(1_000)
    for (const p of peers) {
      p.r.open('tasks')
      p.r.attach(p.transport)
      await p.transport.start()
    }
    await w.clock.advance(5_000)
    for (const p of peers) expect(await p.r.open('tasks').count()).toBe(200)
    const newcomer = await w.replica()
    newcomer.r.open('tasks')
    newcomer.r.attach(newcomer.transport)
    const before = w.network.stats.bytesDelivered
    await newcomer.transport.start()
    await w.clock.advance(5_000)
    expect(await newcomer.r.open('tasks').count()).toBe(200)
    const events = await newcomer.r.open('tasks').range({})
    const eventBytes = events.reduce((n, e) => n + encodeEvent(e).length, 0)
    const ratio = (w.network.stats.bytesDelivered - before) / eventBytes
    console.log(`newcomer repair: ${ratio.toFixed(2)}x the missing events' bytes`)
    expect(ratio).toBeLessThan(2)
    for (const p of [...peers, newcomer]) {
      await p.r.stop()
      await p.transport.stop()
    }
    await w.clock.advance(60_000)
    expect(w.clock.pending).toBe(0)
  })

  it('a channel opened is caught up from the next peer when the best one does not hold it', async () => {
    const w = await world()
    const holder = await w.replica() // p0: holds 'group'
    const other = await w.replica() // p1: does not
    const newcomer = await w.replica() // p2
    holder.r.connect(w.relay.client())
    for (let i = 0; i < 5; i++) await holder.r.write('group', 'message', utf8(`g${i}`))
    await w.clock.advance(1_000)
    expect(await holder.r.open('group').count()).toBe(5)
    // The newcomer's best link (lowest round trip) is to the peer without the channel.
    w.network.setLink('p1' as never, 'p2' as never, { latency: { min: 1, max: 1 } })
    w.network.setLink('p0' as never, 'p2' as never, { latency: { min: 30, max: 30 } })
    // The newcomer's transport starts first: it measures its round trip to each peer as that peer
    // appears (a memory transport cannot send yet to the peers it finds there as it starts).
    for (const x of [newcomer, other, holder]) {
      x.r.attach(x.transport)
      await x.transport.start()
    }
    await w.run(2_000) // links up and settled, the catch-ups on joining done
    // The holder's catch-up towards the newcomer came before it held the channel: answered at once.
    expect(holder.r.peer.reports.filter((x) => x.source.peer === 'p2')).toMatchObject([
      { channel: 'group', complete: false, added: 0, rounds: 0, error: ABSENT },
    ])
    expect(newcomer.r.peer.candidates().map((c) => c.peer)).toEqual(['p1', 'p0'])
    expect(newcomer.r.channels).not.toContain('group')

    newcomer.r.open('group') // as a Welcome names a group channel: only its members hold it
    await w.run(1_000) // far less than a session timeout
    expect(texts(await newcomer.r.open('group').range({}))).toEqual(['g0', 'g1', 'g2', 'g3', 'g4'])
    const reports = newcomer.r.peer.reports.filter((x) => x.channel === 'group')
    expect(reports.map((x) => [x.source.peer, x.complete, x.added])).toEqual([
      ['p1', false, 0],
      ['p0', true, 5],
    ])
    expect(other.r.channels).not.toContain('group')
    for (const x of [holder, other, newcomer]) await x.r.stop()
  })
})
