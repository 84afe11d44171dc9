import { LimitError } from '@peerchat/engine'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_MAX_IN_FLIGHT,
  type LinkProfile,
  MemoryNetwork,
  type MemoryTransport,
  SeededRandom,
  VirtualClock,
} from '../src/memory/index.ts'
import type { PeerId } from '../src/transport.ts'

interface Delivery {
  at: number
  from: PeerId
  to: PeerId
  value: number
}

async function net(n: number, link: Partial<LinkProfile> = {}, seed = 42) {
  const clock = new VirtualClock()
  const network = new MemoryNetwork({ seed, clock, link })
  const peers = Array.from({ length: n }, (_, i) => network.transport(`p${i}`))
  const log: Delivery[] = []
  const events: string[] = []
  for (const t of peers) {
    t.on('frame', (e) => log.push({ at: clock.now(), from: e.from, to: t.self, value: e.bytes[0]! }))
    t.on('peer-joined', (e) => events.push(`${t.self}+${e.peer}`))
    t.on('peer-left', (e) => events.push(`${t.self}-${e.peer}`))
  }
  for (const t of peers) await t.start()
  return { clock, network, peers, log, events }
}

const sendMany = (from: MemoryTransport, to: MemoryTransport, count: number) => {
  for (let i = 0; i < count; i++) from.send(to.self, Uint8Array.of(i % 256))
}

describe('MemoryNetwork', () => {
  it('replays the same schedule from the same seed, and another from another seed', async () => {
    const trace = async (seed: number) => {
      const { clock, peers, log } = await net(
        3,
        { latency: { min: 1, max: 50 }, loss: 0.2, duplicate: 0.2, reorder: 0.3 },
        seed,
      )
      for (let i = 0; i < 50; i++) peers[i % 3]!.broadcast(Uint8Array.of(i))
      await clock.run()
      return JSON.stringify(log)
    }
    expect(await trace(7)).toBe(await trace(7))
    expect(await trace(7)).not.toBe(await trace(8))
  })

  it('exposes a random seed when none is given', () => {
    const a = new MemoryNetwork()
    expect(Number.isInteger(a.seed)).toBe(true)
  })

  it('delays each frame within the link latency', async () => {
    const { clock, peers, log } = await net(2, { latency: { min: 5, max: 20 } })
    sendMany(peers[0]!, peers[1]!, 100)
    await clock.run()
    expect(log).toHaveLength(100)
    for (const d of log) expect(d.at >= 5 && d.at <= 20).toBe(true)
    // FIFO without reordering, even though delays vary.
    expect(log.map((d) => d.value)).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  it('reorders frames when asked', async () => {
    const { clock, peers, log } = await net(2, { latency: { min: 1, max: 30 }, reorder: 1 })
    sendMany(peers[0]!, peers[1]!, 100)
    await clock.run()
    const values = log.map((d) => d.value)
    expect(values).toHaveLength(100)
    expect(values).not.toEqual([...values].sort((a, b) => a - b))
    expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  it('loses frames with the link loss rate and counts them', async () => {
    const { clock, network, peers, log } = await net(2, { loss: 0.3 })
    sendMany(peers[0]!, peers[1]!, 1000)
    await clock.run()
    expect(network.stats.lost + log.length).toBe(1000)
    expect(network.stats.lost).toBeGreaterThan(200)
    expect(network.stats.lost).toBeLessThan(400)
    const all = await net(2, { loss: 1 })
    sendMany(all.peers[0]!, all.peers[1]!, 10)
    await all.clock.run()
    expect(all.log).toHaveLength(0)
  })

  it('duplicates frames, each copy a separate buffer', async () => {
    const { clock, network, peers } = await net(2, { duplicate: 1 })
    const got: Uint8Array[] = []
    peers[1]!.on('frame', (e) => got.push(e.bytes))
    sendMany(peers[0]!, peers[1]!, 10)
    await clock.run()
    expect(got).toHaveLength(20)
    expect(network.stats.duplicated).toBe(10)
    got[0]![0] = 99
    expect(got.filter((b) => b[0] === 99)).toHaveLength(1)
  })

  it('applies a per-link profile to that link only', async () => {
    const { clock, network, peers, log } = await net(3)
    network.setLink(peers[0]!.self, peers[1]!.self, { loss: 1 })
    sendMany(peers[0]!, peers[1]!, 5)
    sendMany(peers[1]!, peers[0]!, 5)
    sendMany(peers[0]!, peers[2]!, 5)
    await clock.run()
    expect(log.map((d) => d.to)).toEqual(Array(5).fill('p2'))
    network.resetLinks()
    sendMany(peers[0]!, peers[1]!, 5)
    await clock.run()
    expect(log).toHaveLength(10)
    network.setLink(peers[0]!.self, peers[1]!.self, { loss: 1 }, true)
    sendMany(peers[0]!, peers[1]!, 5)
    sendMany(peers[1]!, peers[0]!, 5)
    await clock.run()
    expect(log.slice(10).map((d) => d.to)).toEqual(Array(5).fill('p0'))
  })

  it('refuses link profiles that are not probabilities or ordered latencies', () => {
    const network = new MemoryNetwork({ seed: 1 })
    expect(() => network.configure({ loss: 1.5 })).toThrow(RangeError)
    expect(() => network.configure({ duplicate: -0.1 })).toThrow(RangeError)
    expect(() => network.configure({ reorder: Number.NaN })).toThrow(RangeError)
    expect(() => network.configure({ latency: { min: 10, max: 5 } })).toThrow(RangeError)
    expect(() => new MemoryNetwork({ link: { latency: { min: -1, max: 5 } } })).toThrow(RangeError)
  })

  it('partitions: separated peers leave each other, frames in flight across are lost; heal rejoins', async () => {
    const { clock, network, peers, log, events } = await net(4)
    const [a, b, c, d] = peers as [MemoryTransport, MemoryTransport, MemoryTransport, MemoryTransport]
    events.length = 0
    a.send(c.self, Uint8Array.of(1)) // in flight when the partition happens
    a.send(b.self, Uint8Array.of(2))
    network.partition([[a.self, b.self]]) // c and d form the rest
    expect(events).toContain('p0-p2')
    expect(events).toContain('p2-p0')
    expect(events).not.toContain('p0-p1')
    expect([...a.peers().keys()]).toEqual([b.self])
    expect([...c.peers().keys()]).toEqual([d.self])
    expect(a.send(c.self, Uint8Array.of(3))).toBe(false)
    expect(a.broadcast(Uint8Array.of(4))).toBe(1)
    await clock.run()
    expect(log.map((x) => `${x.from}>${x.to}:${x.value}`)).toEqual(['p0>p1:2', 'p0>p1:4'])
    expect(network.stats.dropped).toBe(1)
    events.length = 0
    network.heal()
    expect(events.filter((e) => e.includes('+'))).toHaveLength(8)
    expect(a.send(c.self, Uint8Array.of(5))).toBe(true)
    await clock.run()
    expect(log.at(-1)).toMatchObject({ from: 'p0', to: 'p2', value: 5 })
  })

  it('refuses a peer in two partition groups', async () => {
    const { network, peers } = await net(2)
    expect(() => network.partition([[peers[0]!.self], [peers[0]!.self]])).toThrow(RangeError)
  })

  it('crash drops the peer and its frames in flight; restart reconnects it', async () => {
    const { clock, network, peers, log, events } = await net(3)
    const [a, b, c] = peers as [MemoryTransport, MemoryTransport, MemoryTransport]
    a.send(b.self, Uint8Array.of(1))
    b.send(a.self, Uint8Array.of(2))
    c.send(b.self, Uint8Array.of(3))
    events.length = 0
    network.crash(a.self)
    expect(network.isCrashed(a.self)).toBe(true)
    expect(events.sort()).toEqual(['p0-p1', 'p0-p2', 'p1-p0', 'p2-p0'])
    expect(a.send(b.self, Uint8Array.of(4))).toBe(false)
    await clock.run()
    expect(log.map((x) => x.value)).toEqual([3])
    network.restart(a.self)
    expect(a.peers().size).toBe(2)
    a.send(b.self, Uint8Array.of(5))
    await clock.run()
    expect(log.map((x) => x.value)).toEqual([3, 5])
  })

  it('stop cancels the timers of frames in flight to and from the peer', async () => {
    const { clock, network, peers } = await net(3, { latency: { min: 100, max: 100 } })
    sendMany(peers[0]!, peers[1]!, 5)
    sendMany(peers[1]!, peers[0]!, 5)
    sendMany(peers[1]!, peers[2]!, 5)
    expect(clock.pending).toBe(15)
    await peers[0]!.stop()
    expect(clock.pending).toBe(5)
    expect(network.inFlight).toBe(5)
    await peers[1]!.stop()
    await peers[2]!.stop()
    expect(clock.pending).toBe(0)
    expect(network.attached).toBe(0)
  })

  it('refuses two started transports with the same id', async () => {
    const { network } = await net(1)
    await expect(network.transport('p0').start()).rejects.toThrow(/already on this network/)
  })

  it(`drops frames beyond maxInFlight (default ${DEFAULT_MAX_IN_FLIGHT}) as congestion`, async () => {
    const clock = new VirtualClock()
    const network = new MemoryNetwork({ seed: 3, clock, maxInFlight: 10 })
    const a = network.transport('a')
    const b = network.transport('b')
    await a.start()
    await b.start()
    let got = 0
    b.on('frame', () => got++)
    sendMany(a, b, 15)
    expect(network.inFlight).toBe(10)
    expect(network.stats.congested).toBe(5)
    await clock.run()
    expect(got).toBe(10)
    expect(network.inFlight).toBe(0)
  })
})

describe('SeededRandom', () => {
  it('repeats its sequence for a seed and stays in range', () => {
    const a = new SeededRandom(99)
    const b = new SeededRandom(99)
    const xs = Array.from({ length: 100 }, () => a.next())
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs)
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(new SeededRandom(100).next()).not.toBe(xs[0])
    const r = new SeededRandom(1)
    for (let i = 0; i < 100; i++) expect([3, 4, 5]).toContain(r.int(3, 5))
    expect(() => new SeededRandom(1.5)).toThrow(TypeError)
  })
})

describe('VirtualClock', () => {
  it('fires timers in time order, ties in creation order, and honours cancel', async () => {
    const clock = new VirtualClock(1000)
    const fired: string[] = []
    clock.setTimeout(() => fired.push('b'), 20)
    clock.setTimeout(() => fired.push('a'), 10)
    clock.setTimeout(() => fired.push('c'), 20)
    const cancel = clock.setTimeout(() => fired.push('x'), 5)
    cancel()
    cancel()
    expect(clock.pending).toBe(3)
    expect(await clock.run()).toBe(3)
    expect(fired).toEqual(['a', 'b', 'c'])
    expect(clock.now()).toBe(1020)
    expect(() => clock.setTimeout(() => {}, -1)).toThrow(RangeError)
  })

  it('advance fires only what is due and moves time', async () => {
    const clock = new VirtualClock()
    const fired: number[] = []
    for (const ms of [5, 10, 15]) clock.setTimeout(() => fired.push(ms), ms)
    expect(await clock.advance(10)).toBe(2)
    expect(fired).toEqual([5, 10])
    expect(clock.now()).toBe(10)
    expect(clock.pending).toBe(1)
  })

  it('waits for tracked async work before the next timer', async () => {
    const clock = new VirtualClock()
    const order: string[] = []
    clock.setTimeout(() => {
      clock.track(
        (async () => {
          for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
          order.push('slow work done')
        })(),
      )
    }, 1)
    clock.setTimeout(() => order.push('next timer'), 1)
    await clock.run()
    expect(order).toEqual(['slow work done', 'next timer'])
  })

  it('surfaces a failure of tracked work', async () => {
    const clock = new VirtualClock()
    clock.setTimeout(() => {
      clock.track(Promise.reject(new Error('boom'))).catch(() => {})
    }, 1)
    await expect(clock.run()).rejects.toThrow('boom')
  })

  it('stops a livelock with LimitError after maxSteps', async () => {
    const clock = new VirtualClock()
    const again = () => {
      clock.setTimeout(again, 1)
    }
    again()
    await expect(clock.run(100)).rejects.toBeInstanceOf(LimitError)
    await expect(clock.advance(1000, 10)).rejects.toBeInstanceOf(LimitError)
  })
})
