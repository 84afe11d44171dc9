import {
  ChannelLog,
  Identity,
  MemoryStore,
  monotonicUlid,
  type StampedEvent,
  signRequest,
  stamp,
  utf8,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { beforeAll, describe, expect, it } from 'vitest'
import { MemoryNetwork, SyncDriver, type SyncDriverOptions, VirtualClock } from '../src/memory/index.ts'
import { encodeSyncFrame, SyncType } from '../src/memory/sync-frames.ts'

let relayKey: Uint8Array
let events: StampedEvent[]

beforeAll(async () => {
  useNodeCrypto()
  const relay = await Identity.generate()
  const author = await Identity.generate()
  relayKey = relay.publicKey
  let t = 1_700_000_000_000
  const nextId = monotonicUlid(() => t++)
  events = []
  for (let i = 0; i < 120; i++) {
    const req = await signRequest(author, {
      channel: 'c',
      kind: 'message',
      clientNonce: crypto.getRandomValues(new Uint8Array(16)),
      body: utf8(`message ${i} `.padEnd(200, '.')),
    })
    events.push(await stamp(relay, nextId(), req))
  }
})

async function pair(opts: Partial<SyncDriverOptions> = {}, maxFrameBytes?: number) {
  const clock = new VirtualClock()
  const network = new MemoryNetwork({ seed: 5, clock })
  const make = (id: string) => {
    const log = new ChannelLog({ channel: 'c', store: new MemoryStore(), relayKeys: [relayKey] })
    const transport = network.transport(id, maxFrameBytes ? { maxFrameBytes } : {})
    const driver = new SyncDriver({ transport, log, scheduler: clock, replyTimeoutMs: 100, ...opts })
    return { log, transport, driver }
  }
  const a = make('a')
  const b = make('b')
  return { clock, network, a, b }
}

const ids = async (log: ChannelLog) => (await log.range({})).map((e) => e.id)

describe('SyncDriver', () => {
  it('reconciles two replicas when they meet', async () => {
    const { clock, a, b } = await pair()
    await a.log.add(events.slice(0, 60))
    await b.log.add(events.slice(40, 100))
    a.driver.start()
    b.driver.start()
    await a.transport.start()
    await b.transport.start()
    await clock.run()
    expect(await ids(a.log)).toEqual(events.slice(0, 100).map((e) => e.id))
    expect(await ids(b.log)).toEqual(await ids(a.log))
    expect(a.driver.stats.sessionsCompleted).toBe(1)
    expect(b.driver.stats.sessionsServed).toBe(1)
    expect(a.driver.idle && b.driver.idle).toBe(true)
  })

  it('pushes published events live, split into frames that fit the transport', async () => {
    const { clock, a, b } = await pair({}, 4096)
    for (const x of [a, b]) {
      x.driver.start()
      await x.transport.start()
    }
    await clock.run()
    const result = await a.driver.publish(events.slice(0, 50))
    expect(result.added).toHaveLength(50)
    await clock.run()
    expect(await ids(b.log)).toHaveLength(50)
    expect(b.driver.stats.addedByPush).toBe(50)
    expect(a.driver.stats.pushesSent).toBeGreaterThan(1)
  })

  it('retransmits a request whose reply was lost, then completes', async () => {
    const { clock, network, a, b } = await pair()
    await a.log.add(events.slice(0, 10))
    for (const x of [a, b]) {
      x.driver.start()
      await x.transport.start()
    }
    // b's replies are lost for a while; a retransmits, b answers again from its cache.
    network.setLink(b.transport.self, a.transport.self, { loss: 1 }, true)
    await clock.advance(150)
    network.resetLinks()
    await clock.run()
    expect(a.driver.stats.retransmits).toBeGreaterThan(0)
    expect(a.driver.stats.sessionsCompleted).toBe(1)
    expect(await ids(b.log)).toEqual(await ids(a.log))
  })

  it('gives up after maxSessionAttempts when every frame is lost, leaving no timer behind', async () => {
    const { clock, network, a, b } = await pair({ maxSessionAttempts: 3, maxRetransmits: 2 })
    network.configure({ loss: 1 })
    for (const x of [a, b]) {
      x.driver.start()
      await x.transport.start()
    }
    await clock.run()
    expect(a.driver.stats.sessionsStarted).toBe(3)
    expect(a.driver.stats.sessionsFailed).toBe(3)
    expect(a.driver.stats.retransmits).toBe(6)
    expect(clock.pending).toBe(0)
    network.configure({ loss: 0 })
    expect(a.driver.sync(b.transport.self)).toBe(true)
    await clock.run()
    expect(a.driver.stats.sessionsCompleted).toBe(1)
  })

  it('counts garbage and refused frames without breaking the session', async () => {
    const { clock, a, b } = await pair()
    for (const x of [a, b]) {
      x.driver.start()
      await x.transport.start()
    }
    await clock.run()
    a.transport.send(b.transport.self, Uint8Array.of(1, 2, 3))
    a.transport.send(
      b.transport.self,
      encodeSyncFrame({ type: SyncType.request, session: 99, seq: 0, payload: Uint8Array.of(0xff) }),
    )
    await clock.run()
    expect(b.driver.stats.badFrames).toBe(2)
    await a.log.add(events.slice(0, 5))
    a.driver.syncAll()
    await clock.run()
    expect(await ids(b.log)).toHaveLength(5)
  })

  it('surfaces a bug (not a peer fault) through the clock and keeps handling later frames', async () => {
    const { clock, a, b } = await pair()
    for (const x of [a, b]) {
      x.driver.start()
      await x.transport.start()
    }
    await clock.run()
    const add = b.log.add.bind(b.log)
    let broken = true
    b.log.add = async (events) => {
      if (!broken) return add(events)
      broken = false
      throw new TypeError('a bug in the log')
    }
    await a.driver.publish(events.slice(0, 2))
    await expect(clock.run()).rejects.toThrow('a bug in the log')
    await a.driver.publish(events.slice(2, 4))
    await clock.run()
    expect(await ids(b.log)).toEqual(events.slice(2, 4).map((e) => e.id))
  })

  it('syncs periodically when syncIntervalMs is set', async () => {
    const { clock, network, a, b } = await pair({ syncIntervalMs: 1000, syncOnJoin: false })
    for (const x of [a, b]) {
      x.driver.start()
      await x.transport.start()
    }
    network.configure({ loss: 1 })
    await a.driver.publish(events.slice(0, 3)) // the push is lost
    network.configure({ loss: 0 })
    await clock.advance(999)
    expect(await ids(b.log)).toHaveLength(0)
    await clock.advance(500)
    expect(await ids(b.log)).toHaveLength(3)
  })

  it('runs on the real clock too (the dev:sim mode)', async () => {
    const network = new MemoryNetwork({ seed: 9, link: { latency: { min: 0, max: 2 } } })
    const make = (id: string) => {
      const log = new ChannelLog({ channel: 'c', store: new MemoryStore(), relayKeys: [relayKey] })
      const transport = network.transport(id)
      return { log, transport, driver: new SyncDriver({ transport, log }) }
    }
    const a = make('a')
    const b = make('b')
    await a.log.add(events.slice(0, 20))
    await b.log.add(events.slice(10, 30))
    for (const x of [a, b]) {
      x.driver.start()
      await x.transport.start()
    }
    for (let i = 0; i < 200 && (await b.log.count()) < 30; i++) await new Promise((r) => setTimeout(r, 5))
    expect(await ids(a.log)).toEqual(events.slice(0, 30).map((e) => e.id))
    expect(await ids(b.log)).toEqual(await ids(a.log))
    for (const x of [a, b]) {
      x.driver.stop()
      await x.transport.stop()
    }
    expect(network.inFlight).toBe(0)
  })

  it('stop is idempotent and clears every timer and subscription', async () => {
    const { clock, network, a, b } = await pair({ syncIntervalMs: 1000 })
    network.configure({ loss: 1 })
    for (const x of [a, b]) {
      x.driver.start()
      await x.transport.start()
    }
    await clock.advance(10) // a session waits for a reply: its timeout is armed
    expect(clock.pending).toBeGreaterThan(0)
    a.driver.stop()
    a.driver.stop()
    b.driver.stop()
    expect(clock.pending).toBe(0)
    expect(a.transport.listenerCount + b.transport.listenerCount).toBe(0)
    expect(a.driver.idle).toBe(true)
  })
})
