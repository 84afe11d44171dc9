/** The checkpoint body codec, the window hash, and what makes a checkpoint event valid. */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { equalBytes } from '../src/bytes.ts'
import {
  CHECKPOINT_KIND,
  type Checkpoint,
  CheckpointWindow,
  checkpointAuthored,
  checkpointRoot,
  decodeCheckpointBody,
  encodeCheckpointBody,
  MAX_CHECKPOINT_EVENTS,
  stampCheckpoint,
  ulidAfter,
  verifyCheckpointEvent,
} from '../src/checkpoint.ts'
import { DecodeError } from '../src/errors.ts'
import { encodeAuthored, eventDigest, stamp } from '../src/event.ts'
import { Domain } from '../src/identity/domains.ts'
import { Identity } from '../src/identity/keys.ts'
import { verifySignature } from '../src/identity/verify.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import { fixtureUlid, signedPool, withCheckpoints } from '../src/testing/index.ts'
import { ULID_MAX, ULID_MIN, type Ulid, ulidFromBytes } from '../src/ulid.ts'

useNodeCrypto()

const CH = 'general'
let relay: Identity
let other: Identity
let alice: Identity

beforeAll(async () => {
  relay = await Identity.fromSeed(new Uint8Array(32).fill(90))
  other = await Identity.fromSeed(new Uint8Array(32).fill(91))
  alice = await Identity.fromSeed(new Uint8Array(32).fill(1))
})

const ulidArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(ulidFromBytes)
const checkpointArb: fc.Arbitrary<Checkpoint> = fc
  .tuple(
    ulidArb,
    ulidArb,
    fc.integer({ min: 2, max: MAX_CHECKPOINT_EVENTS }),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
  )
  .filter(([a, b]) => a !== b)
  .map(([a, b, count, root]) => {
    const [first, last] = [a, b].sort() as [Ulid, Ulid]
    return { first, last, count, root }
  })

describe('checkpoint body', () => {
  it('property: round-trips in one canonical encoding', () => {
    fc.assert(
      fc.property(checkpointArb, (cp) => {
        const bytes = encodeCheckpointBody(cp)
        expect(bytes.length).toBeLessThanOrEqual(1 + 16 + 16 + 2 + 32)
        const back = decodeCheckpointBody(bytes)
        expect(back).toEqual(cp)
        expect(encodeCheckpointBody(back)).toEqual(bytes)
      }),
    )
  })

  it('property: random and mutated bytes give a checkpoint or a DecodeError, never anything else', () => {
    fc.assert(
      fc.property(
        checkpointArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
        fc.integer({ min: -3, max: 3 }),
        (cp, flips, resize) => {
          let b = encodeCheckpointBody(cp)
          for (const [at, x] of flips) b[at % b.length]! ^= x
          b =
            resize >= 0
              ? Uint8Array.from([...b, ...new Uint8Array(resize)])
              : b.subarray(0, b.length + resize)
          try {
            const back = decodeCheckpointBody(b)
            expect(encodeCheckpointBody(back)).toEqual(b)
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError)
          }
        },
      ),
    )
  })

  it('refuses counts out of bounds, reversed ranges and a count that disagrees with first = last', () => {
    const root = new Uint8Array(32)
    const a = fixtureUlid(1_800_000_000_000, 1)
    const b = fixtureUlid(1_800_000_000_001, 2)
    expect(() => encodeCheckpointBody({ first: a, last: b, count: 0, root })).toThrow(RangeError)
    expect(() => encodeCheckpointBody({ first: a, last: b, count: MAX_CHECKPOINT_EVENTS + 1, root })).toThrow(
      RangeError,
    )
    expect(() => encodeCheckpointBody({ first: b, last: a, count: 2, root })).toThrow(RangeError)
    expect(() => encodeCheckpointBody({ first: a, last: a, count: 2, root })).toThrow(RangeError)
    expect(() => encodeCheckpointBody({ first: a, last: b, count: 1, root })).toThrow(RangeError)
    // The same rules on the decoding side.
    const good = encodeCheckpointBody({ first: a, last: b, count: 2, root })
    const reversed = good.slice()
    reversed.set(good.subarray(17, 33), 1)
    reversed.set(good.subarray(1, 17), 17)
    expect(() => decodeCheckpointBody(reversed)).toThrow(DecodeError)
    const tooMany = encodeCheckpointBody({ first: a, last: b, count: MAX_CHECKPOINT_EVENTS, root })
    tooMany[33]! += 1 // 4097 as a varuint
    expect(() => decodeCheckpointBody(tooMany)).toThrow(DecodeError)
  })

  it('ulidAfter is id + 1 and refuses the largest id', () => {
    expect(ulidAfter(ULID_MIN)).toBe('00000000000000000000000001')
    expect(ulidAfter('0000000000000000000000000Z' as Ulid)).toBe('00000000000000000000000010')
    expect(() => ulidAfter(ULID_MAX)).toThrow(RangeError)
  })
})

describe('checkpoint window', () => {
  it('hashes the digests in order, like checkpointRoot, and starts over when closed', async () => {
    const pool = await signedPool({ channel: CH, relay, authors: [alice], count: 5 })
    const w = new CheckpointWindow()
    expect(w.close()).toBeUndefined()
    for (const e of pool) w.add(e.id, eventDigest(e))
    const cp = w.close()!
    expect(cp).toMatchObject({ first: pool[0]!.id, last: pool[4]!.id, count: 5 })
    expect(cp.root).toEqual(checkpointRoot(pool.map(eventDigest)))
    expect(w.count).toBe(0)
    expect(() => {
      w.add(pool[1]!.id, eventDigest(pool[1]!))
      w.add(pool[0]!.id, eventDigest(pool[0]!))
    }).toThrow(RangeError)
  })
})

describe('checkpoint events', () => {
  it('a relay checkpoint verifies; its author signature is under the checkpoint domain, not event', async () => {
    const pool = await withCheckpoints(
      await signedPool({ channel: CH, relay, authors: [alice], count: 3 }),
      relay,
    )
    const cpEvent = pool[3]!
    expect(cpEvent.kind).toBe(CHECKPOINT_KIND)
    expect(cpEvent.author).toEqual(relay.publicKey)
    const cp = await verifyCheckpointEvent(cpEvent, [relay.publicKey])
    expect(cp).toMatchObject({ first: pool[0]!.id, last: pool[2]!.id, count: 3 })
    const authored = encodeAuthored(cpEvent)
    expect(await verifySignature(Domain.event, relay.publicKey, authored, cpEvent.authorSig)).toBe(false)
    expect(await verifySignature(Domain.checkpoint, relay.publicKey, authored, cpEvent.authorSig)).toBe(true)
  })

  it('refuses checkpoints of an untrusted key, with a flipped bit, under another domain, or covering their own id', async () => {
    const pool = await signedPool({ channel: CH, relay, authors: [alice], count: 3 })
    const w = new CheckpointWindow()
    for (const e of pool) w.add(e.id, eventDigest(e))
    const cp = w.close()!
    const id = ulidAfter(cp.last)
    const good = await stampCheckpoint(relay, id, CH, cp)
    expect(await verifyCheckpointEvent(good, [relay.publicKey])).toBeDefined()
    // A key the receiver does not trust.
    expect(
      await verifyCheckpointEvent(await stampCheckpoint(other, id, CH, cp), [relay.publicKey]),
    ).toBeUndefined()
    expect(await verifyCheckpointEvent(good, [other.publicKey])).toBeUndefined()
    // Any changed byte of the body, or of either signature.
    for (const field of ['body', 'authorSig', 'relaySig'] as const)
      for (const at of [0, 20, 40]) {
        const bad = good[field].slice()
        bad[at % bad.length]! ^= 1
        expect(
          await verifyCheckpointEvent({ ...good, [field]: bad }, [relay.publicKey]),
          `${field}@${at}`,
        ).toBeUndefined()
      }
    // The same content signed as an ordinary event ("event" domain) is not a checkpoint.
    const authored = checkpointAuthored(relay.publicKey, CH, cp)
    const asMessage = await stamp(relay, id, {
      ...authored,
      authorSig: await relay.sign(Domain.event, encodeAuthored(authored)),
    })
    expect(await verifyCheckpointEvent(asMessage, [relay.publicKey])).toBeUndefined()
    // Stamped by the other key although authored by the trusted one.
    const mixed = await stamp(other, id, { ...good })
    expect(await verifyCheckpointEvent(mixed, [relay.publicKey, other.publicKey])).toBeUndefined()
    // A checkpoint must come after what it covers.
    await expect(stampCheckpoint(relay, cp.last, CH, cp)).rejects.toThrow(RangeError)
    const early = await stamp(relay, cp.last, { ...good })
    expect(await verifyCheckpointEvent(early, [relay.publicKey])).toBeUndefined()
    expect(equalBytes(good.clientNonce, early.clientNonce)).toBe(true)
  })
})
