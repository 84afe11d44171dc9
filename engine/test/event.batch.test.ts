/**
 * Batch-stamped events: one relay signature over the Merkle root of a batch of stamps, each
 * event with its proof (docs/protocol/identity-event.md §8). The frozen example is checked
 * against an independent reading of the spec (node:crypto's SHA-256 and Ed25519).
 */
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { concatBytes, fromHex, toHex, utf8 } from '../src/bytes.ts'
import { DecodeError } from '../src/errors.ts'
import {
  appendStamp,
  decodeEvent,
  encodeEvent,
  eventDigest,
  type SignedRequest,
  type StampedEvent,
  signRequest,
  signStamps,
  stamp,
  stampBatch,
  stampPayload,
  verifyAuthor,
  verifyRelayStamp,
} from '../src/event.ts'
import type { Ed25519Backend } from '../src/identity/backend.ts'
import { Domain } from '../src/identity/domains.ts'
import { Identity } from '../src/identity/keys.ts'
import { verifySignature } from '../src/identity/verify.ts'
import { ChannelLog, RejectReason } from '../src/log.ts'
import { nodeCryptoBackend, useNodeCrypto } from '../src/node/index.ts'
import { batchRootPayload, VerifiedRoots } from '../src/stamp-proof.ts'
import { MemoryStore } from '../src/store/memory.ts'
import { monotonicUlid, parseUlid, type Ulid } from '../src/ulid.ts'
import { counting, rawVerify } from './signature-fixtures.ts'
import { BATCH_VECTOR as B } from './vectors/peerchat-batch.ts'
import { EVENT_VECTOR as V } from './vectors/peerchat-event.ts'

useNodeCrypto()

let author: Identity
let relay: Identity
let bob: Identity
const nextId = monotonicUlid()

beforeAll(async () => {
  author = await Identity.fromSeed(fromHex(V.authorSeed), nodeCryptoBackend)
  relay = await Identity.fromSeed(fromHex(V.relaySeed), nodeCryptoBackend)
  bob = await Identity.fromSeed(new Uint8Array(32).fill(0x44))
})

const request = (i: number, who = author): Promise<SignedRequest> =>
  signRequest(who, {
    channel: 'general',
    kind: 'message',
    clientNonce: new Uint8Array(16).fill(i),
    body: utf8(`message ${i}`),
  })

async function batchOf(n: number, who = author): Promise<StampedEvent[]> {
  const items = await Promise.all(
    Array.from({ length: n }, async (_, i) => ({ id: nextId(), req: await request(i, who) })),
  )
  return stampBatch(relay, items)
}

const sha256 = (...parts: string[]) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(fromHex(p))
  return h.digest('hex')
}

describe('frozen batch vector', () => {
  it('our signer and encoder produce exactly the vector bytes', async () => {
    const items = await Promise.all(
      B.ids.map(async (id, i) => ({
        id: parseUlid(id),
        req: await signRequest(author, {
          channel: 'general',
          kind: 'message',
          clientNonce: fromHex(B.nonces[i]!.repeat(16)),
          body: utf8(B.bodies[i]!),
        }),
      })),
    )
    const events = await stampBatch(relay, items)
    events.forEach((e, i) => {
      expect(toHex(encodeEvent(e))).toBe(
        B.idHex[i]! + B.authored[i]! + B.authorSigs[i]! + B.stamps[i]! + B.rootSig,
      )
      expect(toHex(eventDigest(e))).toBe(B.digests[i])
      expect(decodeEvent(encodeEvent(e))).toEqual(e)
    })
    // The first request is the single-stamp vector's: its author signature is the same bytes.
    expect(B.authorSigs[0]).toBe(V.authorSig)
  })

  it('the tree, root and signature follow from the spec with plain node:crypto', () => {
    const leaves = B.ids.map((_, i) => sha256('00', B.idHex[i]!, B.authored[i]!, B.authorSigs[i]!))
    expect(leaves).toEqual([...B.leaves])
    expect(sha256('01', B.leaves[0], B.leaves[1])).toBe(B.node01)
    expect(sha256('01', B.node01, B.leaves[2])).toBe(B.root)
    expect(B.rootPayload).toBe(`0103${B.root}`)
    const signed = concatBytes(utf8('peerchat/1/stamp-batch\0'), fromHex(B.rootPayload))
    expect(rawVerify(V.relayPub, signed, B.rootSig)).toBe(true)
    // Each stamp: version 01, size 03, its index, then its path (leaf to root).
    expect(B.stamps).toEqual([
      `010300${B.leaves[1]}${B.leaves[2]}`,
      `010301${B.leaves[0]}${B.leaves[2]}`,
      `010302${B.node01}`,
    ])
  })

  it('every event of the vector verifies, and the v1 single stamp is unchanged', async () => {
    for (let i = 0; i < 3; i++) {
      const e = decodeEvent(
        fromHex(B.idHex[i]! + B.authored[i]! + B.authorSigs[i]! + B.stamps[i]! + B.rootSig),
      )
      expect(e.batch).toMatchObject({ size: 3, index: i })
      expect(await verifyRelayStamp(e, relay.publicKey, undefined, new VerifiedRoots())).toBe(true)
      expect(await verifyAuthor(e)).toBe(true)
    }
    const single = await stampBatch(relay, [{ id: parseUlid(V.id), req: await request(0x33) }])
    expect(single[0]!.batch).toBeUndefined()
  })
})

describe('batch stamps', () => {
  it('a batch of one is a single stamp: the bytes of `stamp`, no proof', async () => {
    const req = await request(1)
    const id = nextId()
    const [batched] = await stampBatch(relay, [{ id, req }])
    const single = await stamp(relay, id, req)
    expect(toHex(encodeEvent(batched!))).toBe(toHex(encodeEvent(single)))
    expect(batched!.batch).toBeUndefined()
    const [proof] = await signStamps(relay, [stampPayload(id, req)])
    expect(toHex(appendStamp(stampPayload(id, req), proof!))).toBe(toHex(encodeEvent(single)))
  })

  it('every event of a batch verifies; its bytes are `stampPayload | BatchStamp`', async () => {
    for (const n of [2, 3, 7, 64]) {
      const events = await batchOf(n)
      for (const e of events) {
        expect(e.batch!.size).toBe(n)
        expect(await verifyRelayStamp(e, relay.publicKey, undefined, new VerifiedRoots())).toBe(true)
        expect(await verifyRelayStamp(e, bob.publicKey, undefined, new VerifiedRoots())).toBe(false)
        const bytes = encodeEvent(e)
        expect(decodeEvent(bytes)).toEqual(e)
        expect(toHex(bytes)).toBe(toHex(appendStamp(stampPayload(e.id, e), e)))
      }
      expect(new Set(events.map((e) => toHex(e.relaySig))).size).toBe(1)
    }
  })

  it('property: a tampered field, leaf, path, index, size or root signature is refused', async () => {
    const events = await batchOf(12)
    const others = await batchOf(5)
    type Tamper = (e: StampedEvent, k: number) => StampedEvent
    const flip = (b: Uint8Array, k: number) => {
      const c = b.slice()
      c[k % c.length]! ^= 1 << (k % 8)
      return c
    }
    const tampers: Tamper[] = [
      (e, k) => ({ ...e, body: flip(e.body.length ? e.body : new Uint8Array(1), k) }),
      (e, k) => ({ ...e, authorSig: flip(e.authorSig, k) }),
      (e, k) => ({ ...e, id: nextId() as Ulid, ts: e.ts + (k % 2) }),
      (e, k) => ({ ...e, relaySig: flip(e.relaySig, k) }),
      (e, k) => {
        const at = k % e.batch!.path.length
        return {
          ...e,
          batch: { ...e.batch!, path: e.batch!.path.map((h, i) => (i === at ? flip(h, k) : h)) },
        }
      },
      // Another event's place in the same batch (an index whose path has the same length).
      (e, k) => {
        const sibling = events.find(
          (o) => o.batch!.index !== e.batch!.index && o.batch!.path.length === e.batch!.path.length,
        )!
        return k % 2
          ? { ...e, batch: sibling.batch! }
          : { ...e, batch: { ...e.batch!, index: sibling.batch!.index } }
      },
      (e) => ({ ...e, batch: { ...e.batch!, size: e.batch!.size - 1 } }),
      (e) => ({ ...e, batch: { ...e.batch!, size: e.batch!.size + 1 } }),
      // Another batch's root signature, or the batch's signature used as a single stamp.
      (e) => ({ ...e, relaySig: others[0]!.relaySig }),
      (e) => {
        const { batch: _, ...single } = e
        return single
      },
    ]
    await fc.assert(
      fc.asyncProperty(fc.nat(events.length - 1), fc.nat(tampers.length - 1), fc.nat(), async (i, t, k) => {
        const bad = tampers[t]!(events[i]!, k)
        const ok =
          (await verifyRelayStamp(bad, relay.publicKey, undefined, new VerifiedRoots())) &&
          (await verifyAuthor(bad))
        expect(ok).toBe(false)
      }),
      { numRuns: 200 },
    )
  })

  it('the root signature is domain-separated: not a single stamp, and no single stamp passes for it', async () => {
    const [e] = await batchOf(4)
    const proofRoot = batchRootPayload(4, fromHex(toHex(new Uint8Array(32))))
    expect(await verifySignature(Domain.stamp, relay.publicKey, proofRoot, e!.relaySig)).toBe(false)
    // A relay signature over the same bytes in the `stamp` domain does not verify as a root.
    const single = await relay.sign(Domain.stamp, proofRoot)
    expect(await verifySignature(Domain.stampBatch, relay.publicKey, proofRoot, single)).toBe(false)
  })

  it('refuses a batch beyond MAX_STAMP_BATCH and a malformed proof on encode', async () => {
    await expect(
      signStamps(
        relay,
        Array.from({ length: 1025 }, () => new Uint8Array(1)),
      ),
    ).rejects.toThrow(RangeError)
    const [e] = await batchOf(2)
    expect(() => encodeEvent({ ...e!, batch: { ...e!.batch!, index: 2 } })).toThrow(RangeError)
    const bytes = encodeEvent(e!)
    expect(() => decodeEvent(concatBytes(bytes, Uint8Array.of(0)))).toThrow(DecodeError)
    expect(() => decodeEvent(bytes.subarray(0, -1))).toThrow(DecodeError)
  })
})

describe('ChannelLog with batch stamps', () => {
  const newLog = (backend?: Ed25519Backend, roots = new VerifiedRoots()) =>
    new ChannelLog({
      channel: 'general',
      store: new MemoryStore(),
      relayKeys: [relay.publicKey, bob.publicKey],
      checkpoints: false,
      roots,
      ...(backend ? { backend } : {}),
    })

  it('checks one root signature per batch, and every author signature', async () => {
    const events = await batchOf(32)
    const backend = counting()
    const log = newLog(backend)
    const r = await log.add(events)
    expect(r.rejected).toEqual([])
    expect(r.added).toHaveLength(32)
    // 32 author signatures + the root's.
    expect(backend.calls).toBe(32 + 1)
    // Live events of the same batch, one at a time: no signature check but the author's.
    const again = newLog(backend, new VerifiedRoots())
    backend.calls = 0
    for (const e of events) await again.add([e])
    expect(backend.calls).toBe(32 + 1)
  })

  it('refuses a batch event with a bad author signature or a tampered proof; keeps the rest', async () => {
    const events = await batchOf(8)
    const forged = { ...events[3]!, authorSig: events[4]!.authorSig }
    const moved = { ...events[5]!, batch: events[6]!.batch! }
    const log = newLog()
    const r = await log.add([...events.slice(0, 3), forged, events[4]!, moved, ...events.slice(6)])
    expect(r.rejected.map((x) => [x.id, x.reason])).toEqual([
      [forged.id, RejectReason.badRelaySig], // the leaf covers authorSig: the stamp breaks first
      [moved.id, RejectReason.badRelaySig],
    ])
    expect(r.added).toHaveLength(6)
  })

  it('an event the relay stamped with a bad author signature is refused (the relay does not check it)', async () => {
    const req = { ...(await request(9)), authorSig: new Uint8Array(64).fill(3) }
    const [ok, bad] = await stampBatch(relay, [
      { id: nextId(), req: await request(8) },
      { id: nextId(), req },
    ])
    const r = await newLog().add([ok!, bad!])
    expect(r.rejected).toEqual([expect.objectContaining({ id: bad!.id, reason: RejectReason.badAuthorSig })])
    expect(r.added.map((e) => e.id)).toEqual([ok!.id])
  })

  it('a re-delivered batch event is a duplicate; the same id with another proof is an id conflict', async () => {
    const [a, b] = await batchOf(2)
    const log = newLog()
    await log.add([a!, b!])
    expect((await log.add([a!])).duplicates).toBe(1)
    // The relay stamped the same request twice under one id: singly and in a batch.
    const { batch: _, ...request } = a!
    const twice = await stamp(relay, a!.id, request)
    const r = await log.add([twice])
    expect(r.rejected.map((x) => x.reason)).toEqual([RejectReason.idConflict])
    expect(await log.addEncoded([encodeEvent(b!)])).toMatchObject({ duplicates: 1, rejected: [] })
  })
})
