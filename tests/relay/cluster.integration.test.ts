/**
 * Relay nodes of one community on a real redis-server (started on a free port): two nodes
 * in this process, sharing the relay key. Fan-out, channels, idempotency, rates, forwarded
 * frames, signaling and the admin log across nodes; a node whose Redis is down serves alone
 * and rejoins. The multi-process scenario (SIGKILL under load) is cluster.process.test.ts.
 */
import {
  decodeSession,
  encodeEvent,
  equalBytes,
  Identity,
  monotonicUlid,
  randomBytes,
  type SignedRequest,
  signRequest,
  toBase64url,
  toHex,
  ulidTime,
} from '@peerchat/engine'
import { AdminKind, encodeAdminBody } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, silentLogger, startRelay } from '@peerchat/relay'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { TestClient } from './client.ts'
import { type RedisProcess, startRedis } from './redis-process.ts'

useNodeCrypto()

const LIMITS = { unauthenticatedPerAddress: 1000, framesPerSecondPerAddress: 1e6, frameBurstPerAddress: 1e6 }

async function until<T>(what: string, f: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const start = Date.now()
  for (;;) {
    const v = f()
    if (v) return v
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

describe('relay nodes on Redis', () => {
  let redis: RedisProcess
  let relayKey: Identity
  const nodes: RunningRelay[] = []
  const clients: TestClient[] = []
  const node = async (claim?: Uint8Array, limits: Record<string, number> = LIMITS) => {
    const n = await startRelay({
      relay: relayKey,
      port: 0,
      channels: ['general'],
      limits,
      redisUrl: redis.url,
      log: silentLogger,
      ...(claim ? { newClaimCode: () => claim } : {}),
    })
    nodes.push(n)
    return n
  }
  const login = async (n: RunningRelay, id?: Identity, invite?: Uint8Array) => {
    const c = await TestClient.login(n.url, id, invite ? { invite } : {})
    clients.push(c)
    return c
  }
  const post = async (
    c: TestClient,
    id: Identity,
    channel: string,
    text: string,
    nonce = randomBytes(16),
  ) => {
    const req = await signRequest(id, {
      channel,
      kind: 'message',
      body: new TextEncoder().encode(text),
      clientNonce: nonce,
    })
    c.send({ type: 'publish', request: req })
    return req
  }

  beforeAll(async () => {
    redis = await startRedis()
    relayKey = await Identity.generate()
  })
  afterAll(async () => {
    for (const c of clients) c.close()
    for (const n of nodes) await n.stop()
    await redis.dispose()
  })

  it('an event stamped on one node reaches members on the other, once', async () => {
    const [n1, n2] = [await node(), await node()]
    const ann = await Identity.generate()
    const a = await login(n1, ann)
    const b = await login(n2)
    a.send({ type: 'join', channel: 'general' })
    b.send({ type: 'join', channel: 'general' })
    const req = await post(a, ann, 'general', 'hello across nodes')
    const seen = await b.next('event', 10_000)
    expect(seen.event.clientNonce).toEqual(req.clientNonce)
    expect(new TextDecoder().decode(seen.event.body)).toBe('hello across nodes')
    // Exactly once on the other node: no second copy follows.
    await new Promise((r) => setTimeout(r, 300))
    expect(b.frames.filter((f) => f.type === 'event' && f.event.id === seen.event.id)).toHaveLength(0)
  })

  it('presence: members of both nodes in one roster, joins and leaves crossing nodes', async () => {
    const [n1, n2] = nodes
    const a = await login(n1!)
    a.send({ type: 'join', channel: 'general' })
    const before = (await a.next('presenceSnapshot')).count
    const b = await login(n2!)
    b.send({ type: 'join', channel: 'general' })
    const bId = b.session!.value.sessionId
    const entered = await until('b in a tick on node 1', () =>
      a.frames.find(
        (f) =>
          f.type === 'presenceTick' &&
          f.entered.some((att) => equalBytes(decodeSession(att).value.sessionId, bId)),
      ),
    )
    expect((entered as { count: number }).count).toBeGreaterThan(before)
    // And the other way: b (on node 2) holds a (on node 1), from its snapshot or a later tick.
    const aId = a.session!.value.sessionId
    const holds = (atts: Uint8Array[]) =>
      atts.some((att) => equalBytes(decodeSession(att).value.sessionId, aId))
    await until("a in b's view on node 2", () =>
      b.frames.some(
        (f) =>
          (f.type === 'presenceSnapshot' && holds(f.attestations)) ||
          (f.type === 'presenceTick' && holds(f.entered)),
      ),
    )
    b.close()
    await until('b leaving on node 1', () =>
      a.frames.find((f) => f.type === 'presenceTick' && f.left.some((id) => equalBytes(id, bId))),
    )
  })

  it('a request retried through another node gets the first stamp, not a second event', async () => {
    const [n1, n2] = nodes
    const ann = await Identity.generate()
    const a1 = await login(n1!, ann)
    const req = await post(a1, ann, 'general', 'retry me')
    const first = await a1.next('event')
    const a2 = await login(n2!, ann)
    a2.send({ type: 'publish', request: req })
    const again = await a2.next('event')
    expect(again.event.id).toBe(first.event.id)
    expect(again.event.relaySig).toEqual(first.event.relaySig)
    // Same nonce, other content: refused on either node.
    const other = await signRequest(ann, {
      channel: 'general',
      kind: 'message',
      body: new TextEncoder().encode('something else'),
      clientNonce: req.clientNonce,
    })
    a2.send({ type: 'publish', request: other })
    expect(await a2.next('error')).toMatchObject({ code: 'nonce_reused' })
  })

  it('a channel created on one node exists on the other', async () => {
    const [n1, n2] = nodes
    // Only channel managers may create by default: give this test an owner on the shared log.
    const b = await login(n2!)
    const owner = await Identity.generate()
    const claimed = await claimOwner(n1!, owner)
    const req = await signRequest(owner, {
      channel: 'cluster-made',
      kind: 'channel.create',
      body: new Uint8Array(0),
      clientNonce: randomBytes(16),
    })
    claimed.send({ type: 'publish', request: req })
    await claimed.next('event')
    const added = await b.next('channelAdded', 10_000)
    expect(added.channel).toBe('cluster-made')
    b.send({ type: 'join', channel: 'cluster-made' })
    const refused = await b.nextOf(['error'], 1000).catch(() => null)
    expect(refused).toBeNull()
  })

  it('the cross-node rate: one key on two nodes gets one budget, not two', async () => {
    // Two more nodes with a small budget (30 at once, then 1/s): alone, each would stamp 30.
    const limits = { ...LIMITS, eventBurstPerKey: 30, eventsPerSecondPerKey: 1 }
    const [m1, m2] = [await node(undefined, limits), await node(undefined, limits)]
    const id = await Identity.generate()
    const c1 = await login(m1, id)
    const c2 = await login(m2, id)
    const started = Date.now()
    for (let i = 0; i < 120; i++) await post(i % 2 ? c2 : c1, id, 'general', `flood ${i}`)
    const answered = () =>
      [c1, c2].reduce(
        (t, c) => t + c.frames.filter((f) => f.type === 'event' || f.type === 'error').length,
        0,
      )
    await until('every answer', () => answered() >= 120)
    const seconds = (Date.now() - started) / 1000
    const stamped = [c1, c2].reduce((t, c) => t + c.frames.filter((f) => f.type === 'event').length, 0)
    // One shared bucket: its burst plus its rate over the run; two separate ones: 60 at least.
    expect(stamped).toBeLessThanOrEqual(30 + Math.ceil(seconds) + 1)
    expect(stamped).toBeGreaterThanOrEqual(30)
  })

  it('a forwarded peer frame reaches a session on the other node', async () => {
    const [n1, n2] = nodes
    const a = await login(n1!)
    const b = await login(n2!)
    a.send({ type: 'join', channel: 'general' })
    b.send({ type: 'join', channel: 'general' })
    const to = b.session!.value.sessionId
    // Presence crosses nodes once per tick: retry until the other node knows the session.
    await until('the forward to arrive', () => {
      a.send({ type: 'forward', to, payload: new Uint8Array([1, 2, 3]) })
      return b.frames.some((f) => f.type === 'forwarded')
    })
    const got = b.frames.find((f) => f.type === 'forwarded')!
    expect(got).toMatchObject({ payload: new Uint8Array([1, 2, 3]) })
    expect((got as { fromKey: Uint8Array }).fromKey).toEqual(a.session!.value.publicKey)
  })

  it('signaling: peers on two nodes are paired and their signals cross', async () => {
    const [n1, n2] = nodes
    const a = await login(n1!)
    const b = await login(n2!)
    const sa = await signalSocket(n1!, a)
    const sb = await signalSocket(n2!, b)
    sa.send({ type: 'subscribe', topics: ['general'] })
    sb.send({ type: 'subscribe', topics: ['general'] })
    sa.send({ type: 'publish', topic: 'general', data: { type: 'announce', from: 'own-a' } })
    // Wait until node 2 has heard of the room, then announce b.
    await new Promise((r) => setTimeout(r, 200))
    sb.send({ type: 'publish', topic: 'general', data: { type: 'announce', from: 'own-b' } })
    // The member with the smaller peer id gets the other's announce.
    const announce = await until('an announce', () =>
      [...sa.received, ...sb.received].find((m) => m.data?.type === 'announce'),
    )
    const [offerer, answerer] = sa.received.includes(announce) ? [sa, sb] : [sb, sa]
    const offer = {
      type: 'signal',
      from: offerer === sa ? 'own-a' : 'own-b',
      to: announce.data!.from,
      signal: { type: 'offer', sdp: 'x' },
    }
    offerer.send({ type: 'publish', topic: 'general', data: offer })
    const got = await until('the offer', () => answerer.received.find((m) => m.data?.type === 'signal'))
    expect(got.data!.to).toBe(answerer === sa ? 'own-a' : 'own-b')
    expect(got.data!.signal).toEqual({ type: 'offer', sdp: 'x' })
    expect(got.data!.from).toMatch(/\.[0-9a-f]{8}-/)
    sa.close()
    sb.close()
  })

  it('admin events on both nodes share one log: a ban on one node closes the member on the other', async () => {
    const [n1, n2] = nodes
    const owner = ownerId!
    const o1 = await login(n1!, owner)
    const eve = await Identity.generate()
    const e2 = await login(n2!, eve)
    const ban = await signRequest(owner, {
      channel: 'admin',
      kind: AdminKind.memberBan,
      body: encodeAdminBody({ kind: AdminKind.memberBan, body: { target: eve.publicKey, reason: 'spam' } }),
      clientNonce: randomBytes(16),
    })
    o1.send({ type: 'publish', request: ban })
    await o1.next('event')
    expect((await e2.closed).code).toBe(4013)
    // A fresh login of the banned key on either node is refused.
    const again = await TestClient.open(n2!.url)
    clients.push(again)
    expect(await again.doLogin(eve)).toMatchObject({ type: 'error', code: 'login_failed' })
  })

  it('admin events published on two nodes at once: all stamped, one log in id order on both', async () => {
    const [n1, n2] = nodes
    const owner = ownerId!
    const o1 = await login(n1!, owner)
    const o2 = await login(n2!, owner)
    const roleSet = () => giveRole(owner, 'moderator')
    for (let i = 0; i < 8; i++) {
      o1.send({ type: 'publish', request: await roleSet() })
      o2.send({ type: 'publish', request: await roleSet() })
    }
    const stamped = async (c: TestClient) => {
      const ids: string[] = []
      for (let i = 0; i < 8; i++) ids.push((await c.next('event', 15_000)).event.id)
      return ids
    }
    const mine = [...(await stamped(o1)), ...(await stamped(o2))]
    expect(new Set(mine).size).toBe(16)
    // A joiner of `admin` on each node gets the whole log: the same events in the same order.
    const logOf = async (n: RunningRelay) => {
      const c = await login(n)
      c.send({ type: 'join', channel: 'admin' })
      await new Promise((r) => setTimeout(r, 500))
      return c.frames.filter((f) => f.type === 'event').map((f) => (f as { event: { id: string } }).event.id)
    }
    const [l1, l2] = [await logOf(n1!), await logOf(n2!)]
    expect(l1).toEqual(l2)
    expect([...l1].sort()).toEqual(l1)
    for (const id of mine) expect(l1).toContain(id)
  })

  it('an admin event written into Redis without the relay key is skipped by every node', async () => {
    const [n1, n2] = nodes
    const owner = ownerId!
    // The owner's real signature, a made-up relay stamp: what someone with write access to Redis could add.
    const req = await giveRole(owner, 'admin')
    const id = monotonicUlid()()
    const forged = { ...req, id, ts: ulidTime(id), relaySig: randomBytes(64) }
    const raw = createClient({ url: redis.url })
    await raw.connect()
    const list = `pc:{${toHex(relayKey.publicKey).slice(0, 16)}}:admin`
    await raw.rPush(list, Buffer.from(encodeEvent(forged as never)))
    raw.destroy()
    // A real admin event after it makes every node read the log on.
    const o1 = await login(n1!, owner)
    o1.send({
      type: 'publish',
      request: await giveRole(owner, 'moderator'),
    })
    const real = (await o1.next('event', 15_000)).event.id
    for (const n of [n1!, n2!]) {
      const c = await login(n)
      c.send({ type: 'join', channel: 'admin' })
      const ids = await until(`the admin log on ${n.url}`, () => {
        const got = c.frames
          .filter((f) => f.type === 'event')
          .map((f) => (f as { event: { id: string } }).event.id)
        return got.includes(real) && got
      })
      expect(ids).not.toContain(forged.id)
    }
  })

  it('Redis down: each node serves its own members, then the cluster resumes', async () => {
    const [n1, n2] = nodes
    const ann = await Identity.generate()
    const a = await login(n1!, ann)
    const b = await login(n2!)
    a.send({ type: 'join', channel: 'general' })
    b.send({ type: 'join', channel: 'general' })
    await redis.stop(true)
    // Alone: a post is stamped and acked on its node.
    await post(a, ann, 'general', 'while redis is down')
    const acked = await a.next('event', 10_000)
    expect(new TextDecoder().decode(acked.event.body)).toBe('while redis is down')
    const down = await (await fetch(`http://127.0.0.1:${n1!.port}/healthz`)).text()
    // Healthy (it serves), and it says what it lacks.
    expect(down).toMatch(/^ok\n/)
    expect(down).toMatch(/redis down/)
    const metrics = await (await fetch(`http://127.0.0.1:${n1!.port}/metrics`)).text()
    expect(metrics).toMatch(/peerchat_relay_redis_up 0/)
    await redis.restart()
    const start = Date.now()
    for (;;) {
      const h = await (await fetch(`http://127.0.0.1:${n1!.port}/healthz`)).text()
      if (/redis up/.test(h)) break
      if (Date.now() - start > 20_000) throw new Error(`redis not back on /healthz: ${h}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    // Cross-node fan-out again.
    const before = b.frames.length
    let crossed = false
    for (let i = 0; i < 40 && !crossed; i++) {
      await post(a, ann, 'general', `after ${i}`)
      await new Promise((r) => setTimeout(r, 250))
      crossed = b.frames.slice(before).some((f) => f.type === 'event')
    }
    expect(crossed).toBe(true)
  })

  let ownerId: Identity | undefined
  /** The community's owner, claimed once through node `n`'s claim code; a logged-in client of it. */
  async function claimOwner(n: RunningRelay, owner: Identity): Promise<TestClient> {
    const code = n.claimCode!
    const c = await login(n, owner, code)
    const claim = await signRequest(owner, {
      channel: 'admin',
      kind: AdminKind.claim,
      body: encodeAdminBody({ kind: AdminKind.claim, body: {} }),
      clientNonce: randomBytes(16),
    })
    c.send({ type: 'publish', request: claim })
    await c.next('event')
    ownerId = owner
    return c
  }
})

/** `owner`'s signed request giving `role` to a new key. */
async function giveRole(owner: Identity, role: 'admin' | 'moderator'): Promise<SignedRequest> {
  const target = (await Identity.generate()).publicKey
  return signRequest(owner, {
    channel: 'admin',
    kind: AdminKind.roleSet,
    body: encodeAdminBody({ kind: AdminKind.roleSet, body: { target, role } }),
    clientNonce: randomBytes(16),
  })
}

interface SignalSocket {
  received: {
    type: string
    topic?: string
    data?: { type: string; from: string; to?: string; signal?: unknown }
  }[]
  send(m: unknown): void
  close(): void
}

async function signalSocket(n: RunningRelay, c: TestClient): Promise<SignalSocket> {
  c.send({ type: 'tokenRequest' })
  const { token } = await c.next('token')
  const ws = new WebSocket(`${n.url}/signal?token=${toBase64url(token)}`)
  const received: SignalSocket['received'] = []
  ws.on('message', (d) => received.push(JSON.parse(d.toString())))
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  return { received, send: (m) => ws.send(JSON.stringify(m)), close: () => ws.close() }
}
