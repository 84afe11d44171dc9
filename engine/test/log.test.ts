import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeEvent, Limits, type StampedEvent, signRequest, stamp } from '../src/event.ts'
import { Identity } from '../src/identity/keys.ts'
import { ChannelLog, RejectReason } from '../src/log.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import { fingerprintOfDigests } from '../src/store/fingerprint.ts'
import { MemoryStore } from '../src/store/memory.ts'
import { fixtureUlid, signedPool, toStored } from '../src/testing/index.ts'

useNodeCrypto()

const CH = 'general'
const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n)
let relay: Identity
let otherRelay: Identity
let alice: Identity
let bob: Identity
let pool: StampedEvent[]

beforeAll(async () => {
  relay = await Identity.fromSeed(seed(90))
  otherRelay = await Identity.fromSeed(seed(91))
  alice = await Identity.fromSeed(seed(1))
  bob = await Identity.fromSeed(seed(2))
  pool = await signedPool({ channel: CH, relay, authors: [alice, bob], count: 40 })
})

const newLog = (store = new MemoryStore(), verifyAuthors = true): ChannelLog =>
  new ChannelLog({ channel: CH, store, relayKeys: [relay.publicKey], verifyAuthors })

const flip = (b: Uint8Array, at = 0): Uint8Array => {
  const c = b.slice()
  c[at]! ^= 1
  return c
}

/** An event with a chosen id and nonce, stamped by `signer` over a request by `author`. */
async function made(
  n: number,
  nonce: number,
  body: string,
  author = alice,
  signer = relay,
): Promise<StampedEvent> {
  const clientNonce = new Uint8Array(16).fill(nonce)
  const req = await signRequest(author, {
    channel: CH,
    kind: 'message',
    clientNonce,
    body: new TextEncoder().encode(body),
  })
  return stamp(signer, fixtureUlid(1_800_000_000_000 + n, n), req)
}

describe('ChannelLog', () => {
  it('stores valid events in id order and summarises them like the store', async () => {
    const log = newLog()
    const result = await log.add([...pool].reverse())
    expect(result.added.map((e) => e.id)).toEqual(pool.map((e) => e.id))
    expect(result.rejected).toEqual([])
    expect(await log.count()).toBe(pool.length)
    expect((await log.range({})).map((e) => e.id)).toEqual(pool.map((e) => e.id))
    expect(await log.fingerprint({})).toEqual(fingerprintOfDigests(pool.map((e) => toStored(e).digest)))
    const again = await log.add(pool.slice(0, 5))
    expect(again).toMatchObject({ added: [], duplicates: 5, rejected: [] })
  })

  it('rejects each kind of invalid event with its reason and never stores it', async () => {
    const e = pool[0]!
    const forgedAuthor = await stamp(relay, fixtureUlid(1_750_000_000_000, 1), {
      ...e,
      authorSig: flip(e.authorSig),
    })
    const foreignChannel = (await signedPool({ channel: 'random', relay, authors: [alice], count: 1 }))[0]!
    const cases: [StampedEvent, RejectReason][] = [
      [{ ...e, relaySig: flip(e.relaySig) }, RejectReason.badRelaySig],
      [{ ...e, body: flip(e.body) }, RejectReason.badRelaySig],
      [await stamp(otherRelay, e.id, e), RejectReason.badRelaySig],
      [forgedAuthor, RejectReason.badAuthorSig],
      [foreignChannel, RejectReason.channelMismatch],
      [{ ...e, ts: e.ts + 1 }, RejectReason.malformed],
      [{ ...e, author: e.author.subarray(0, 31) }, RejectReason.malformed],
      [{ ...e, id: 'not-a-ulid' as StampedEvent['id'] }, RejectReason.malformed],
      [{ ...e, kind: 'Not A Kind' }, RejectReason.malformed],
      [{ ...e, body: new Uint8Array(Limits.body + 1) }, RejectReason.tooLarge],
    ]
    for (const [event, reason] of cases) {
      const log = newLog()
      const result = await log.add([event])
      expect(
        result.rejected.map((r) => r.reason),
        reason,
      ).toEqual([reason])
      expect(result.added).toEqual([])
      expect(await log.count()).toBe(0)
    }
  })

  it('reports a relay that stamps two different events with one id, and keeps the first', async () => {
    const first = await made(50, 20, 'one')
    const second = await stamp(
      relay,
      first.id,
      await signRequest(bob, { ...first, body: new Uint8Array([9]) }),
    )
    const log = newLog()
    await log.add([first])
    const result = await log.add([second, { ...second, relaySig: flip(second.relaySig) }, first])
    expect(result.rejected.map((r) => r.reason)).toEqual([RejectReason.badRelaySig, RejectReason.idConflict])
    expect(result.duplicates).toBe(1)
    expect((await log.range({}))[0]!.body).toEqual(first.body)
    // The same clash inside one batch: the earlier arrival is kept.
    const fresh = newLog()
    const both = await fresh.add([first, second])
    expect(both.added.map((e) => e.body)).toEqual([first.body])
    expect(both.rejected.map((r) => r.reason)).toEqual([RejectReason.idConflict])
  })

  it('accepts a bad author signature only when author verification is off', async () => {
    const e = pool[0]!
    const forged = await stamp(relay, e.id, { ...e, authorSig: flip(e.authorSig, 40) })
    expect((await newLog(new MemoryStore(), false).add([forged])).added).toHaveLength(1)
    expect((await newLog(new MemoryStore(), true).add([forged])).rejected[0]?.reason).toBe(
      RejectReason.badAuthorSig,
    )
  })

  it('accepts any of several relay keys', async () => {
    const log = new ChannelLog({
      channel: CH,
      store: new MemoryStore(),
      relayKeys: [otherRelay.publicKey, relay.publicKey],
    })
    expect((await log.add(pool.slice(0, 3))).added).toHaveLength(3)
  })

  it('decodes frames and rejects bytes that do not decode as malformed', async () => {
    const log = newLog()
    const good = encodeEvent(pool[1]!)
    const result = await log.addEncoded([good, good.subarray(0, 30), new Uint8Array([1, 2, 3])])
    expect(result.added.map((e) => e.id)).toEqual([pool[1]!.id])
    expect(result.rejected.map((r) => r.reason)).toEqual([RejectReason.malformed, RejectReason.malformed])
  })

  it('keeps the smaller id per (author, clientNonce), whatever the arrival order', async () => {
    const early = await made(1, 7, 'hello')
    const lateSame = await made(2, 7, 'hello')
    const lateDifferent = await made(3, 7, 'changed')
    const otherAuthor = await made(4, 7, 'hello', bob)

    const a = newLog()
    await a.add([lateDifferent])
    const r1 = await a.add([lateSame, early, otherAuthor])
    expect(r1.added.map((e) => e.id).sort()).toEqual([early.id, otherAuthor.id].sort())
    expect(r1.replaced).toEqual([lateDifferent.id])
    expect(r1.duplicates).toBe(1) // lateSame has the same content as early
    expect(r1.rejected).toEqual([
      expect.objectContaining({ id: lateDifferent.id, reason: RejectReason.duplicateNonce }),
    ])
    expect((await a.range({})).map((e) => e.id)).toEqual([early.id, otherAuthor.id])

    const b = newLog()
    await b.add([early])
    const r2 = await b.add([lateDifferent, lateSame])
    expect(r2.added).toEqual([])
    expect(r2.rejected.map((r) => r.reason)).toEqual([RejectReason.duplicateNonce])
    expect(r2.duplicates).toBe(1)
    expect(await b.fingerprint({})).toEqual(fingerprintOfDigests([toStored(early).digest]))
  })

  it('converges to the same set for any order and batching of conflicting deliveries', async () => {
    const events = await Promise.all(
      Array.from({ length: 10 }, (_, i) => made(10 + i, i % 3, i % 2 ? 'x' : 'y', i % 4 === 0 ? bob : alice)),
    )
    const reference = newLog()
    await reference.add(events)
    const expected = (await reference.range({})).map((e) => e.id)
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(
          events.map((_, i) => i),
          { minLength: events.length },
        ),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 10, maxLength: 10 }),
        async (order, sizes) => {
          const log = newLog()
          let at = 0
          for (const size of sizes) {
            await log.add(order.slice(at, at + size).map((i) => events[i]!))
            at += size
          }
          await log.add(order.slice(at).map((i) => events[i]!))
          expect((await log.range({})).map((e) => e.id)).toEqual(expected)
        },
      ),
      { numRuns: 40 },
    )
  })

  it('serialises concurrent adds so the dedup rule still holds', async () => {
    const x = await made(30, 9, 'one')
    const y = await made(31, 9, 'two')
    const log = newLog()
    await Promise.all([log.add([y]), log.add([x])])
    expect((await log.range({})).map((e) => e.id)).toEqual([x.id])
  })

  it('resolves duplicate pairs already in the store when it builds its index', async () => {
    const store = new MemoryStore()
    const x = await made(40, 5, 'one')
    const y = await made(41, 5, 'two')
    await store.putMany(CH, [toStored(x), toStored(y)])
    const log = newLog(store)
    await log.add([pool[0]!])
    expect((await log.range({})).map((e) => e.id)).toEqual([x.id, pool[0]!.id].sort())
  })

  it('notifies listeners of new events until they unsubscribe', async () => {
    const log = newLog()
    const seen: string[][] = []
    const off = log.onAdded((events) => seen.push(events.map((e) => e.id)))
    await log.add(pool.slice(0, 2))
    await log.add(pool.slice(0, 2))
    off()
    await log.add(pool.slice(2, 3))
    expect(seen).toEqual([pool.slice(0, 2).map((e) => e.id)])
  })

  it('refuses an invalid channel name at construction', () => {
    expect(() => new ChannelLog({ channel: 'no spaces', store: new MemoryStore(), relayKeys: [] })).toThrow(
      RangeError,
    )
  })
})
