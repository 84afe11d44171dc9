/**
 * The order a relay client tries the nodes of one community (NodeRotation), and RelayClient
 * following it against scripted nodes: a node that never answers is dropped after
 * LOGIN_TIMEOUT_MS and the next one tried, each attempt after the backoff (virtual time).
 */
import { Identity, type SignedRequest, stamp } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { NodeRotation } from '../src/relay/node-rotation.ts'
import {
  LOGIN_TIMEOUT_MS,
  RelayClient,
  type WebSocketCtor,
  type WebSocketLike,
} from '../src/relay/relay-client.ts'
import { FakeRelay } from './fake-relay.ts'

useNodeCrypto()

/** `random` returning a fixed index's share of `n` nodes. */
const startAt = (i: number, n: number) => () => (i + 0.5) / n

describe('NodeRotation', () => {
  it('starts at the node `random` picks, and spreads starts over every node', () => {
    const urls = ['a', 'b', 'c']
    expect(new NodeRotation(urls, () => 0).next()).toBe('a')
    expect(new NodeRotation(urls, startAt(1, 3)).next()).toBe('b')
    expect(new NodeRotation(urls, () => 0.999999).next()).toBe('c')
    // A random() of exactly 1 (some generators allow it) stays in range.
    expect(new NodeRotation(urls, () => 1).next()).toBe('c')
    const starts = new Set(Array.from({ length: 60 }, () => new NodeRotation(urls).next()))
    expect(starts).toEqual(new Set(urls))
  })

  it('moves on after a failure, in ring order, and tries a node that failed recently last', () => {
    const r = new NodeRotation(['a', 'b', 'c', 'd'], startAt(2, 4))
    const attempts: string[] = []
    // Every attempt fails: each node once, in ring order from the start, then again in the
    // order they failed in (least recently failed first).
    for (let i = 0; i < 8; i++) {
      const url = r.next()
      attempts.push(url)
      r.failed(url)
    }
    expect(attempts).toEqual(['c', 'd', 'a', 'b', 'c', 'd', 'a', 'b'])
  })

  it('stays on a node that works, and after it drops goes to a node that did not fail', () => {
    const r = new NodeRotation(['a', 'b', 'c'], () => 0)
    expect(r.next()).toBe('a')
    r.failed('a') // a is down
    expect(r.next()).toBe('b')
    r.succeeded('b') // logged in on b
    r.failed('b') // b drops later
    // c never failed, a failed before b: c, then a, then b.
    expect(r.next()).toBe('c')
    r.failed('c')
    expect(r.next()).toBe('a')
    r.succeeded('a')
    // Once a logged in, its record is gone: after b and c fail again it comes first.
    r.failed('b')
    r.failed('c')
    r.failed('a')
    expect(r.next()).toBe('b')
  })

  it('keeps one node the only choice, drops duplicates and refuses an empty list', () => {
    const one = new NodeRotation(['only'])
    for (let i = 0; i < 3; i++) {
      expect(one.next()).toBe('only')
      one.failed('only')
    }
    expect(new NodeRotation(['a', 'a', 'b']).urls).toEqual(['a', 'b'])
    expect(() => new NodeRotation([])).toThrow(RangeError)
  })
})

/** A node that stamps every publish; its sockets are made by `Socket` as FakeRelay's are. */
class StampingRelay extends FakeRelay {
  protected override async onPublish(ws: WebSocketLike, req: SignedRequest): Promise<void> {
    this.reply(ws, { type: 'event', event: await stamp(this.identity, this.nextId(), req) })
  }
}

/** A socket that never opens (a hung node): only `close` does anything. */
class HungSocket implements WebSocketLike {
  binaryType = 'blob'
  readyState = 0
  onopen: WebSocketLike['onopen'] = null
  onclose: WebSocketLike['onclose'] = null
  onerror: WebSocketLike['onerror'] = null
  onmessage: WebSocketLike['onmessage'] = null
  send(): void {}
  close(): void {
    this.readyState = 3
  }
}

describe('RelayClient over several nodes (scripted, virtual time)', () => {
  const running: RelayClient[] = []
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  })
  afterEach(async () => {
    for (const c of running.splice(0)) await c.stop()
    expect(vi.getTimerCount()).toBe(0)
    vi.useRealTimers()
  })

  it('drops a node that never answers after LOGIN_TIMEOUT_MS and logs in on the next', async () => {
    const relay = new StampingRelay(await Identity.generate())
    const tried: string[] = []
    const Socket = class {
      constructor(url: string) {
        tried.push(url)
        // biome-ignore lint/correctness/noConstructorReturn: a factory by URL, as a load balancer would be
        return url.includes('hung') ? new HungSocket() : new relay.Socket(url)
      }
    } as unknown as WebSocketCtor
    const client = new RelayClient({
      url: ['ws://hung.test/relay', 'ws://good.test/relay'],
      random: () => 0,
      identity: await Identity.generate(),
      relayKey: relay.identity.publicKey,
      WebSocket: Socket,
      backoff: { initialMs: 100, maxMs: 1_000 },
    })
    running.push(client)
    const errors: string[] = []
    client.on('error', (e) => errors.push(e.code))
    await client.start()
    expect(client.url).toBe('ws://hung.test/relay')
    await vi.advanceTimersByTimeAsync(LOGIN_TIMEOUT_MS - 100)
    expect(client.state).toBe('connecting')
    expect(errors).toEqual([])
    for (let t = 0; t < 5_000 && client.state !== 'online'; t += 10) await vi.advanceTimersByTimeAsync(10)
    expect(client.state).toBe('online')
    expect(errors).toEqual(['login_timeout'])
    expect(tried).toEqual(['ws://hung.test/relay', 'ws://good.test/relay'])
    expect(client.url).toBe('ws://good.test/relay')
  })
})
