/**
 * Failover between the nodes of one community (issue #13), against real relays in this process:
 * two relays with the same relay key (without shared state they are two communities, but the
 * same key is all the client's failover needs). A client given [A, B] logs in on A and posts;
 * A stops and the client logs in on B and posts there; a dead address is skipped; a node with
 * another key is refused with an error naming it and the client moves on; signaling tokens and
 * the mesh's signaling socket follow the session to the new node.
 */
import { createServer } from 'node:net'
import { Identity, MemoryStore, Replica, toBase64url, utf8 } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, silentLogger, startRelay } from '@peerchat/relay'
import { connectReplica } from '@peerchat/transports/connect'
import { RelayClient } from '@peerchat/transports/relay'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'

useNodeCrypto()

const LIMITS = { unauthenticatedPerAddress: 1000 }
const stops: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
})

async function node(relay: Identity): Promise<RunningRelay> {
  const r = await startRelay({ relay, port: 0, channels: ['general'], limits: LIMITS, log: silentLogger })
  stops.push(() => r.stop())
  return r
}

/** A client of `urls` (relay endpoints) trying the first one first, with a short backoff. */
async function client(urls: string[], relayKey: Uint8Array): Promise<RelayClient> {
  const c = new RelayClient({
    url: urls,
    random: () => 0,
    identity: await Identity.generate(),
    relayKey,
    channels: ['general'],
    WebSocket: WebSocket as never,
    backoff: { initialMs: 100, maxMs: 1_000 },
  })
  stops.push(() => c.stop())
  return c
}

const endpoint = (r: RunningRelay): string => `${r.url}/relay`

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** A loopback port nothing listens on. */
function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** Opens `url` as a WebSocket: true if the upgrade was accepted. */
function admits(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url)
    ws.once('open', () => {
      ws.close()
      resolve(true)
    })
    ws.once('error', () => resolve(false))
  })
}

/** The relay's open signaling sockets, from its metrics. */
async function signalingSockets(r: RunningRelay): Promise<number> {
  const text = await (await fetch(`${r.url.replace(/^ws/, 'http')}/metrics`)).text()
  return Number(/^peerchat_relay_signaling_connections (\d+)$/m.exec(text)?.[1] ?? Number.NaN)
}

describe("the relay's well-known JSON", () => {
  it('lists the nodes of the community (`nodeUrls`), none by default', async () => {
    const key = await Identity.generate()
    const nodeUrls = ['wss://a.example', 'wss://b.example']
    const listed = await startRelay({ relay: key, port: 0, nodeUrls, log: silentLogger })
    stops.push(() => listed.stop())
    const plain = await node(key)
    const doc = async (r: RunningRelay) =>
      (await (await fetch(`${r.url.replace(/^ws/, 'http')}/.well-known/peerchat.json`)).json()) as {
        nodeUrls: unknown
      }
    expect((await doc(listed)).nodeUrls).toEqual(nodeUrls)
    expect((await doc(plain)).nodeUrls).toEqual([])
  })
})

describe('RelayClient failover between the nodes of one community', () => {
  it('posts on A, and once A stops, logs in on B and posts there; its token admits on B', async () => {
    const key = await Identity.generate()
    const [a, b] = [await node(key), await node(key)]
    const c = await client([endpoint(a), endpoint(b)], key.publicKey)
    await c.start()
    await until(() => c.state === 'online', 'login on A')
    expect(c.url).toBe(endpoint(a))
    const first = await c.publish({ channel: 'general', kind: 'message', body: utf8('on A') })
    expect(first.author).toEqual(c.identityKey)

    await a.stop()
    await until(() => c.state === 'online' && c.url === endpoint(b), 'login on B')
    const second = await c.publish({ channel: 'general', kind: 'message', body: utf8('on B') })
    expect(second.author).toEqual(c.identityKey)
    expect(c.outboxSize).toBe(0)
    expect(c.stats.reconnects).toBeGreaterThanOrEqual(1)

    // Signaling goes to the node of the session: the token names B and B admits it.
    const t = await c.requestToken()
    expect(t.url).toBe(endpoint(b))
    expect(await admits(`${b.url}/signal?token=${toBase64url(t.token)}`)).toBe(true)
  })

  it('gets past a dead address to the live node', async () => {
    const key = await Identity.generate()
    const b = await node(key)
    const dead = `ws://127.0.0.1:${await deadPort()}/relay`
    const c = await client([dead, endpoint(b)], key.publicKey)
    const states: string[] = []
    c.on('state', (s) => states.push(s))
    await c.start()
    await until(() => c.state === 'online', 'login on B')
    expect(c.url).toBe(endpoint(b))
    // The dead node was tried first and failed (offline), then B.
    expect(states.slice(0, 2)).toEqual(['connecting', 'offline'])
    await c.publish({ channel: 'general', kind: 'message', body: utf8('past the dead node') })
  })

  it('refuses a node presenting another relay key with an error naming it, and moves on', async () => {
    const key = await Identity.generate()
    const other = await node(await Identity.generate())
    const b = await node(key)
    const c = await client([endpoint(other), endpoint(b)], key.publicKey)
    const errors: { code: string; message: string }[] = []
    const sessions: string[] = []
    c.on('error', (e) => errors.push(e))
    c.on('welcome', () => sessions.push(c.url))
    await c.start()
    await until(() => c.state === 'online', 'login on B')
    const mismatch = errors.find((e) => e.code === 'relay_key_mismatch')
    expect(mismatch?.message).toContain(endpoint(other))
    // Never logged in to the other community: the only session is on B, under the pinned key.
    expect(sessions).toEqual([endpoint(b)])
    expect(c.pinnedRelayKey).toEqual(key.publicKey)
    await c.publish({ channel: 'general', kind: 'message', body: utf8('on the right community') })
  })

  it("moves the mesh's signaling socket to the node the session failed over to", async () => {
    const key = await Identity.generate()
    const nodes = [await node(key), await node(key)]
    const identity = await Identity.generate()
    const replica = await Replica.open({
      store: new MemoryStore(),
      relayKeys: [key.publicKey],
      signer: identity,
    })
    stops.push(() => replica.stop())
    const conn = connectReplica(replica, {
      relayUrl: nodes.map((n) => n.url),
      relayKey: key.publicKey,
      identity,
      ...nodeWebrtc({ WebSocket }),
    })
    stops.push(() => conn.stop())
    await conn.meshReady
    // connectReplica starts at a random node: whichever it is, the other one takes over.
    const first = nodes.find((n) => endpoint(n) === conn.relay.url)!
    const next = nodes.find((n) => n !== first)!
    await until(async () => (await signalingSockets(first)) === 1, 'signaling on the first node')
    expect(await signalingSockets(next)).toBe(0)

    await first.stop()
    await until(() => conn.relay.state === 'online' && conn.relay.url === endpoint(next), 'login on the next')
    await until(async () => (await signalingSockets(next)) === 1, 'signaling on the next node')
  })
})
