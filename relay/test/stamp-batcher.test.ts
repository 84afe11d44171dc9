/** One relay signature per event-loop turn of stamps (stamp-batcher.ts), alone and through the core. */
import {
  Domain,
  decodeEvent,
  encodeEvent,
  encodeFrame,
  Identity,
  monotonicUlid,
  Privilege,
  randomBytes,
  type Session,
  type SignedRequest,
  type Signer,
  signRequest,
  stamp,
  VerifiedRoots,
  verifyRelayStamp,
} from '@peerchat/engine'
import { AdminKind, Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { createContext } from '../src/core/context.ts'
import { StampBatcher } from '../src/core/stamp-batcher.ts'
import { stampRequest } from '../src/core/stamper.ts'
import { community, expectOk } from './admin-fixtures.ts'

useNodeCrypto()
const relay = await Identity.generate()
const alice = await Identity.generate()
const nextId = monotonicUlid()
const request = (i = 0): Promise<SignedRequest> =>
  signRequest(alice, {
    channel: 'general',
    kind: Kind.message,
    clientNonce: randomBytes(16),
    body: Uint8Array.of(i),
  })

/** A signer that counts what it signs, by domain. */
function counting(signer: Signer = relay): Signer & { signed: string[] } {
  const signed: string[] = []
  return {
    publicKey: signer.publicKey,
    signed,
    sign(domain, payload) {
      signed.push(domain)
      return signer.sign(domain, payload)
    },
  }
}

/** A `defer` the test runs by hand: the end of the turn, when the test says so. */
function manualTurn() {
  const pending: (() => void)[] = []
  return {
    defer: (f: () => void) => void pending.push(f),
    end: () => {
      for (const f of pending.splice(0)) f()
    },
  }
}

describe('StampBatcher', () => {
  it('the stamps of one turn share one signature over their root; each event verifies', async () => {
    const signer = counting()
    const turn = manualTurn()
    const b = new StampBatcher({ relay: signer, maxBatch: 64, defer: turn.defer })
    const reqs = await Promise.all(Array.from({ length: 10 }, (_, i) => request(i)))
    const pending = reqs.map((r) => b.stamp(nextId(), r))
    expect(b.waiting).toBe(10)
    expect(signer.signed).toEqual([])
    turn.end()
    const stamped = await Promise.all(pending)
    expect(signer.signed).toEqual([Domain.stampBatch])
    for (const [i, { event, bytes }] of stamped.entries()) {
      expect(event.batch).toMatchObject({ size: 10, index: i })
      expect(decodeEvent(bytes)).toEqual(event)
      expect(await verifyRelayStamp(event, relay.publicKey, undefined, new VerifiedRoots())).toBe(true)
    }
  })

  it('a turn with one stamp signs it alone: the bytes of a single stamp, no proof', async () => {
    const signer = counting()
    const b = new StampBatcher({ relay: signer, maxBatch: 64 }) // the real end of turn: setImmediate
    const req = await request()
    const id = nextId()
    const { event, bytes } = await b.stamp(id, req)
    expect(event.batch).toBeUndefined()
    expect(signer.signed).toEqual([Domain.stamp])
    expect(bytes).toEqual(encodeEvent(await stamp(relay, id, req)))
  })

  it('a full batch is signed at once, without waiting for the end of the turn (stampBatchMax)', async () => {
    const signer = counting()
    const turn = manualTurn()
    const b = new StampBatcher({ relay: signer, maxBatch: 4, defer: turn.defer })
    const reqs = await Promise.all(Array.from({ length: 10 }, (_, i) => request(i)))
    const pending = reqs.map((r) => b.stamp(nextId(), r))
    expect(b.waiting).toBe(2)
    const first = await Promise.all(pending.slice(0, 8))
    expect(first.map((s) => s.event.batch!.size)).toEqual([4, 4, 4, 4, 4, 4, 4, 4])
    turn.end()
    const rest = await Promise.all(pending.slice(8))
    expect(rest.map((s) => s.event.batch!.size)).toEqual([2, 2])
    expect(signer.signed).toEqual([Domain.stampBatch, Domain.stampBatch, Domain.stampBatch])
  })

  it('maxBatch 1 signs every stamp alone, at once; the bound is clamped to 1..1024', async () => {
    const signer = counting()
    const b = new StampBatcher({ relay: signer, maxBatch: 1, defer: () => expect.unreachable() })
    const out = await Promise.all([b.stamp(nextId(), await request()), b.stamp(nextId(), await request())])
    expect(out.map((s) => s.event.batch)).toEqual([undefined, undefined])
    expect(signer.signed).toEqual([Domain.stamp, Domain.stamp])
    expect(new StampBatcher({ relay, maxBatch: 0 }).maxBatch).toBe(1)
    expect(new StampBatcher({ relay, maxBatch: 1e9 }).maxBatch).toBe(1024)
  })

  it('a signing failure rejects every stamp of the batch', async () => {
    const turn = manualTurn()
    const failing: Signer = { publicKey: relay.publicKey, sign: () => Promise.reject(new Error('hsm down')) }
    const b = new StampBatcher({ relay: failing, maxBatch: 8, defer: turn.defer })
    const pending = [b.stamp(nextId(), await request()), b.stamp(nextId(), await request())]
    turn.end()
    for (const p of pending) await expect(p).rejects.toThrow('hsm down')
  })
})

describe('stamping with batches', () => {
  const session = (): Session => ({
    relayKey: relay.publicKey,
    publicKey: alice.publicKey,
    sessionId: randomBytes(16),
    privileges: Privilege.post,
    issued: 0,
    expires: Number.MAX_SAFE_INTEGER,
  })

  it('a retry of a batch-stamped request gets the same id, signature and proof (the same bytes)', async () => {
    const ctx = createContext({ relay, channels: ['general'] })
    const s = session()
    const reqs = await Promise.all(Array.from({ length: 5 }, (_, i) => request(i)))
    const first = await Promise.all(reqs.map((r) => stampRequest({ ...ctx, admin: undefined }, s, r)))
    for (const [i, r] of first.entries()) {
      if (r.kind !== 'stamped') throw new Error(JSON.stringify(r))
      expect(r.event.batch?.size).toBe(5)
      const again = await stampRequest({ ...ctx, admin: undefined }, s, reqs[i]!)
      if (again.kind !== 'retry') throw new Error(again.kind)
      expect(again.event).toEqual(r.event)
      expect(again.bytes).toEqual(r.bytes)
    }
  })

  it('stampBatchMax bounds a batch: the stamps of one turn beyond it go in the next batch', async () => {
    const ctx = {
      ...createContext({ relay, channels: ['general'], limits: { stampBatchMax: 4 } }),
      admin: undefined,
    }
    const s = session()
    const reqs = await Promise.all(Array.from({ length: 10 }, (_, i) => request(i)))
    const out = await Promise.all(reqs.map((r) => stampRequest(ctx, s, r)))
    expect(out.map((r) => (r.kind === 'stamped' ? r.event.batch?.size : r.kind))).toEqual([
      4, 4, 4, 4, 4, 4, 4, 4, 2, 2,
    ])
    expect(ctx.limits.stampBatchMax).toBe(4)
  })

  it('through the core: posts of one turn share a signature and verify; admin events are signed alone', async () => {
    const c = await community()
    const owner = await c.login(undefined, c.ctx.admin.claimCode!)
    const claimed = expectOk(await c.act(owner, { kind: AdminKind.claim, body: {} }))
    expect(claimed.batch).toBeUndefined()
    const reader = await c.login()
    await c.core.message(reader.conn, encodeFrame({ type: 'join', channel: 'general' }))
    reader.s.frames = []
    const posts = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        signRequest(owner.id, {
          channel: 'general',
          kind: Kind.message,
          clientNonce: randomBytes(16),
          body: Uint8Array.of(i),
        }),
      ),
    )
    await Promise.all(
      posts.map((request) => c.core.message(owner.conn, encodeFrame({ type: 'publish', request }))),
    )
    const got = reader.s.take('event').map((f) => f.event)
    expect(got).toHaveLength(6)
    expect(new Set(got.map((e) => e.batch?.size))).toEqual(new Set([6]))
    for (const e of got)
      expect(await verifyRelayStamp(e, c.relay.publicKey, undefined, new VerifiedRoots())).toBe(true)
  })
})
