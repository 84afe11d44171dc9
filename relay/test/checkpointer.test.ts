/** Relay checkpoints: windows per channel, in id order whatever the signing order, and their events. */

import { createHash } from 'node:crypto'
import {
  CHECKPOINT_KIND,
  ChannelLog,
  type Checkpoint,
  checkpointRoot,
  Domain,
  encodeEvent,
  encodeFrame,
  encodeLoginPayload,
  eventDigest,
  Identity,
  MemoryStore,
  monotonicUlid,
  Privilege,
  randomBytes,
  type Session,
  type StampedEvent,
  signRequest,
  type Ulid,
  verifyCheckpointEvent,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Checkpointer } from '../src/core/checkpointer.ts'
import { createContext } from '../src/core/context.ts'
import { IdempotencyCache } from '../src/core/idempotency.ts'
import { ChannelRegistry } from '../src/core/policy.ts'
import { RelayCore } from '../src/core/relay-core.ts'
import { type StampContext, stampRequest } from '../src/core/stamper.ts'
import { RateLimiter } from '../src/core/token-bucket.ts'
import { FakeIo, FakeSocket } from './fake-io.ts'

useNodeCrypto()
const relay = await Identity.generate()
const alice = await Identity.generate()

function setup(o: { every?: number; idleMs?: number; minEvents?: number; now?: () => number } = {}) {
  const now = o.now ?? Date.now
  const nextId = monotonicUlid(now)
  const checkpoints = new Checkpointer({
    relay,
    nextId,
    now,
    every: o.every ?? 8,
    idleMs: o.idleMs ?? 2000,
    minEvents: o.minEvents ?? 1,
  })
  const emitted: StampedEvent[] = []
  checkpoints.onCheckpoint((e, bytes) => {
    expect(encodeEvent(e)).toEqual(bytes)
    emitted.push(e)
  })
  const ctx: StampContext = {
    relay,
    nextId,
    cache: new IdempotencyCache(1000, 60_000, now),
    eventLimiter: new RateLimiter(1e6, 1e6, 100, now),
    channels: new ChannelRegistry(['general', 'random'], 10),
    checkpoints,
  }
  return { ctx, checkpoints, emitted }
}
const session: Session = {
  relayKey: relay.publicKey,
  publicKey: alice.publicKey,
  sessionId: randomBytes(16),
  privileges: Privilege.post | Privilege.create,
  issued: 0,
  expires: Number.MAX_SAFE_INTEGER,
}
const post = async (ctx: StampContext, channel = 'general', kind: string = Kind.message) => {
  const r = await stampRequest(
    ctx,
    session,
    await signRequest(alice, { channel, kind, clientNonce: randomBytes(16), body: new Uint8Array([1]) }),
  )
  if (r.kind !== 'stamped') throw new Error(`${r.kind}: ${JSON.stringify(r)}`)
  return r.event
}
const checkpointOf = async (e: StampedEvent): Promise<Checkpoint> => {
  const cp = await verifyCheckpointEvent(e, [relay.publicKey])
  if (!cp) throw new Error('not a valid checkpoint')
  return cp
}

describe('Checkpointer', () => {
  it('closes a window every `every` stamps into a valid checkpoint over exactly those events', async () => {
    const { ctx, checkpoints, emitted } = setup({ every: 8 })
    const stamped: StampedEvent[] = []
    for (let i = 0; i < 8; i++) stamped.push(await post(ctx))
    await checkpoints.settled()
    expect(emitted).toHaveLength(1)
    const cp = await checkpointOf(emitted[0]!)
    expect(cp).toMatchObject({ first: stamped[0]!.id, last: stamped[7]!.id, count: 8 })
    expect(cp.root).toEqual(checkpointRoot(stamped.map(eventDigest)))
    expect(emitted[0]!.id > stamped[7]!.id).toBe(true)
    expect(emitted[0]!.kind).toBe(CHECKPOINT_KIND)
    // The checkpoint is a stamp of the channel: the next window starts with it.
    for (let i = 0; i < 7; i++) stamped.push(await post(ctx))
    await checkpoints.settled()
    expect(emitted).toHaveLength(2)
    const next = await checkpointOf(emitted[1]!)
    expect(next).toMatchObject({ first: emitted[0]!.id, last: stamped[14]!.id, count: 8 })
    expect(next.root).toEqual(checkpointRoot([emitted[0]!, ...stamped.slice(8)].map(eventDigest)))
  })

  it('keeps one window per channel', async () => {
    const { ctx, checkpoints, emitted } = setup({ every: 4 })
    for (let i = 0; i < 4; i++) {
      await post(ctx, 'general')
      await post(ctx, 'random')
    }
    await checkpoints.settled()
    expect(emitted.map((e) => e.channel).sort()).toEqual(['general', 'random'])
    for (const e of emitted) expect((await checkpointOf(e)).count).toBe(4)
  })

  it('closes an idle window at the sweep, only once it holds minEvents', async () => {
    let t = 1_800_000_000_000
    const { ctx, checkpoints, emitted } = setup({ every: 256, idleMs: 2000, minEvents: 3, now: () => t })
    await post(ctx)
    await post(ctx)
    t += 5000
    checkpoints.sweep()
    await checkpoints.settled()
    expect(emitted).toHaveLength(0) // 2 < minEvents: the window stays open
    await post(ctx)
    t += 1999
    checkpoints.sweep()
    await checkpoints.settled()
    expect(emitted).toHaveLength(0) // not idle long enough
    t += 1
    checkpoints.sweep()
    await checkpoints.settled()
    expect(emitted).toHaveLength(1)
    expect((await checkpointOf(emitted[0]!)).count).toBe(3)
  })

  it('property: whatever order signatures complete in (some failing), windows cover every stamp once, in id order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 9 }),
        fc.infiniteStream(fc.nat()),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        async (n, every, picks, fails) => {
          const digests = new Map<Ulid, Uint8Array>()
          // One id factory for stamps and checkpoints, as in the relay.
          const nextId = monotonicUlid(Date.now)
          const checkpoints = new Checkpointer({
            relay,
            nextId,
            now: Date.now,
            every,
            idleMs: 0,
            minEvents: 1,
          })
          const emitted: StampedEvent[] = []
          checkpoints.onCheckpoint((e) => emitted.push(e))
          const open: Ulid[] = []
          for (let i = 0; i < n; i++) {
            const id = nextId()
            checkpoints.issued('general', id)
            open.push(id)
          }
          const it = picks[Symbol.iterator]()
          const kept: Ulid[] = []
          for (let i = 0; i < n; i++) {
            const id = open.splice(it.next().value % open.length, 1)[0]!
            if (fails[i]) checkpoints.stamped('general', id, undefined)
            else {
              const bytes = randomBytes(40)
              digests.set(id, new Uint8Array(createHash('sha256').update(bytes).digest()))
              checkpoints.stamped('general', id, bytes)
              kept.push(id)
            }
            await checkpoints.settled()
          }
          checkpoints.sweep() // close the remainder
          await checkpoints.settled()
          kept.sort()
          // Every kept stamp is covered once, in order, by consecutive windows (checkpoints interleaved).
          const covered: Ulid[] = []
          for (const e of emitted) {
            const cp = await checkpointOf(e)
            digests.set(e.id, eventDigest(e))
            const mine = [...digests.keys()].filter((id) => id >= cp.first && id <= cp.last).sort()
            expect(mine).toHaveLength(cp.count)
            expect(cp.root).toEqual(checkpointRoot(mine.map((id) => digests.get(id)!)))
            covered.push(...mine)
          }
          expect(new Set(covered).size).toBe(covered.length)
          const coveredStamps = covered.filter((id) => kept.includes(id))
          expect(coveredStamps).toEqual(kept)
          expect(checkpoints.size).toBeLessThanOrEqual(1)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('a new process (restart) starts with no window: it never covers the old process stamps', async () => {
    const a = setup({ every: 8 })
    const old: StampedEvent[] = []
    for (let i = 0; i < 5; i++) old.push(await post(a.ctx))
    const b = setup({ every: 8 }) // same key, fresh state
    const fresh: StampedEvent[] = []
    for (let i = 0; i < 8; i++) fresh.push(await post(b.ctx))
    await b.checkpoints.settled()
    const cp = await checkpointOf(b.emitted[0]!)
    expect(cp.first).toBe(fresh[0]!.id)
    expect(cp.count).toBe(8)
    expect(a.emitted).toHaveLength(0)
  })

  it('a retried request (same stamp from the idempotency cache) is not counted twice', async () => {
    const { ctx, checkpoints, emitted } = setup({ every: 4 })
    const req = await signRequest(alice, {
      channel: 'general',
      kind: Kind.message,
      clientNonce: randomBytes(16),
      body: new Uint8Array([1]),
    })
    expect((await stampRequest(ctx, session, req)).kind).toBe('stamped')
    expect((await stampRequest(ctx, session, req)).kind).toBe('retry')
    for (let i = 0; i < 3; i++) await post(ctx)
    await checkpoints.settled()
    expect((await checkpointOf(emitted[0]!)).count).toBe(4)
  })

  it('clients may not publish relay.* kinds', async () => {
    const { ctx } = setup()
    const r = await stampRequest(
      ctx,
      session,
      await signRequest(alice, {
        channel: 'general',
        kind: CHECKPOINT_KIND,
        clientNonce: randomBytes(16),
        body: new Uint8Array(0),
      }),
    )
    expect(r).toMatchObject({ kind: 'rejected', code: 'forbidden' })
  })

  it('every 0 disables checkpoints', async () => {
    const { ctx, checkpoints, emitted } = setup({ every: 0 })
    for (let i = 0; i < 10; i++) await post(ctx)
    checkpoints.sweep()
    await checkpoints.settled()
    expect(emitted).toHaveLength(0)
    expect(checkpoints.size).toBe(0)
  })
})

describe('relay core with checkpoints', () => {
  it('fans checkpoints out to the channel; a peer log accepts the stream by hashing', async () => {
    const ctx = createContext({ relay, limits: { checkpointEvery: 16, eventBurstPerKey: 1000 } })
    const core = new RelayCore(ctx, new FakeIo())
    const s = new FakeSocket('10.0.0.1')
    const conn = core.newConn('10.0.0.1', 'relay.test')
    core.open(conn, s)
    const [challenge] = s.take('challenge')
    const clientTime = Date.now()
    const payload = encodeLoginPayload({
      relayKey: relay.publicKey,
      nonce: challenge!.nonce,
      origin: 'relay.test',
      clientTime,
    })
    const sig = await alice.sign(Domain.login, payload)
    await core.message(
      conn,
      encodeFrame({ type: 'login', publicKey: alice.publicKey, clientTime, sig, invite: null }),
    )
    expect(s.take('welcome')).toHaveLength(1)
    await core.message(conn, encodeFrame({ type: 'join', channel: 'general' }))
    for (let i = 0; i < 40; i++) {
      const request = await signRequest(alice, {
        channel: 'general',
        kind: Kind.message,
        clientNonce: randomBytes(16),
        body: new Uint8Array([i]),
      })
      await core.message(conn, encodeFrame({ type: 'publish', request }))
    }
    await ctx.checkpoints.settled()
    const events = s.take('event').map((f) => f.event)
    expect(events).toHaveLength(42)
    expect(events.filter((e) => e.kind === CHECKPOINT_KIND)).toHaveLength(2)
    expect(ctx.metrics.checkpoints).toBe(2)
    const log = new ChannelLog({ channel: 'general', store: new MemoryStore(), relayKeys: [relay.publicKey] })
    const r = await log.add(events)
    expect(r.rejected).toEqual([])
    expect(r.vouched).toBe(16 + 15)
  })
})
