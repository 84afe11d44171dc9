import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { concatBytes, equalBytes } from '../src/bytes.ts'
import { Kind } from '../src/chat/kinds.ts'
import { createWriter, finish, writeBytes, writeU8, writeVarBytes, writeVarString } from '../src/codec.ts'
import { DecodeError } from '../src/errors.ts'
import {
  type Authored,
  decodeEvent,
  decodeRequest,
  EVENT_VERSION,
  encodeAuthored,
  encodeEvent,
  encodeRequest,
  eventDigest,
  Limits,
  MAX_EVENT_BYTES,
  MAX_SINGLE_EVENT_BYTES,
  type SignedRequest,
  type StampedEvent,
  sameContent,
  signRequest,
  stamp,
  verifyAuthor,
  verifyRelayStamp,
} from '../src/event.ts'
import { Identity } from '../src/identity/keys.ts'
import { nobleBackend } from '../src/identity/noble.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import { MAX_PROOF_DEPTH, MAX_STAMP_BATCH } from '../src/stamp-proof.ts'
import { monotonicUlid, type Ulid, ulidFromBytes, ulidTime } from '../src/ulid.ts'

useNodeCrypto()

const bytesOf = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const channelArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
const kindArb = fc.oneof(
  fc.constantFrom(...Object.values(Kind)),
  fc.stringMatching(/^[a-z][a-z0-9._-]{0,31}$/),
)
const bodyArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ minLength: 200, maxLength: 3000 }),
)
const requestArb: fc.Arbitrary<SignedRequest> = fc.record({
  channel: channelArb,
  kind: kindArb,
  author: bytesOf(32),
  clientNonce: bytesOf(16),
  body: bodyArb,
  authorSig: bytesOf(64),
})
const eventArb: fc.Arbitrary<StampedEvent> = fc
  .tuple(requestArb, bytesOf(16), bytesOf(64))
  .map(([req, id, relaySig]) => {
    const ulid = ulidFromBytes(id)
    return { ...req, id: ulid, ts: ulidTime(ulid), relaySig }
  })

/** Builds Authored bytes field by field, bypassing the encoder's checks (to hand decoders bad input). */
function rawAuthored(over: Partial<Authored> & { version?: number } = {}): Uint8Array {
  const w = createWriter()
  writeU8(w, over.version ?? EVENT_VERSION)
  writeVarString(w, over.channel ?? 'general')
  writeVarString(w, over.kind ?? 'message')
  writeBytes(w, over.author ?? new Uint8Array(32))
  writeBytes(w, over.clientNonce ?? new Uint8Array(16))
  writeVarBytes(w, over.body ?? new Uint8Array(0))
  return finish(w)
}
const rawRequest = (over: Parameters<typeof rawAuthored>[0] = {}) =>
  concatBytes(rawAuthored(over), new Uint8Array(64))
const rawEvent = (over: Parameters<typeof rawAuthored>[0] = {}) =>
  concatBytes(new Uint8Array(16), rawAuthored(over), new Uint8Array(128))
const baseRequest = (over: Partial<SignedRequest> = {}): SignedRequest => ({
  channel: 'general',
  kind: 'message',
  author: new Uint8Array(32),
  clientNonce: new Uint8Array(16),
  body: new Uint8Array(0),
  authorSig: new Uint8Array(64),
  ...over,
})

/** A single-step byte mutation; applied repeatedly to valid encodings. */
const mutationArb = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
)
type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never

function mutate(input: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = [...input]
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length
    if (m.op === 'flip' && b.length > 0) b[at]! ^= 1 << m.bit
    else if (m.op === 'set' && b.length > 0) b[at] = m.value
    else if (m.op === 'insert') b.splice(at, 0, m.value)
    else if (m.op === 'delete') b.splice(at, 1)
    else if (m.op === 'truncate') b = b.slice(0, at)
  }
  return Uint8Array.from(b)
}

/** Decoding is total: a value that re-encodes to exactly the input (one encoding per value), or DecodeError. */
function expectValueOrDecodeError<T>(
  bytes: Uint8Array,
  decode: (b: Uint8Array) => T,
  encode: (v: T) => Uint8Array,
): void {
  let value: T
  try {
    value = decode(bytes)
  } catch (e) {
    if (!(e instanceof DecodeError)) throw new Error(`non-DecodeError escaped: ${String(e)}`)
    return
  }
  expect(equalBytes(encode(value), bytes)).toBe(true)
}

describe('round trips', () => {
  it('property: requests decode to what was encoded, in one canonical encoding', () => {
    fc.assert(
      fc.property(requestArb, (req) => {
        const bytes = encodeRequest(req)
        const back = decodeRequest(bytes)
        expect(back).toEqual(req)
        expect(encodeRequest(back)).toEqual(bytes)
      }),
      { numRuns: 500 },
    )
  })

  it('property: stamped events decode to what was encoded; ts is the id time', () => {
    fc.assert(
      fc.property(eventArb, (ev) => {
        const bytes = encodeEvent(ev)
        const back = decodeEvent(bytes)
        expect(back).toEqual(ev)
        expect(back.ts).toBe(ulidTime(back.id))
        expect(encodeEvent(back)).toEqual(bytes)
      }),
      { numRuns: 500 },
    )
  })
})

describe('untrusted bytes only ever give a value or a DecodeError', () => {
  it('property: random bytes -> decodeEvent', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) =>
        expectValueOrDecodeError(b, decodeEvent, encodeEvent),
      ),
      { numRuns: 2000 },
    )
  })

  it('property: random bytes -> decodeRequest', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) =>
        expectValueOrDecodeError(b, decodeRequest, encodeRequest),
      ),
      { numRuns: 2000 },
    )
  })

  it('property: mutated event encodings -> decodeEvent', () => {
    fc.assert(
      fc.property(eventArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (ev, muts) =>
        expectValueOrDecodeError(mutate(encodeEvent(ev), muts), decodeEvent, encodeEvent),
      ),
      { numRuns: 2000 },
    )
  })

  it('property: mutated request encodings -> decodeRequest', () => {
    fc.assert(
      fc.property(requestArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (req, muts) =>
        expectValueOrDecodeError(mutate(encodeRequest(req), muts), decodeRequest, encodeRequest),
      ),
      { numRuns: 2000 },
    )
  })

  it('non-byte input is a DecodeError too', () => {
    expect(() => decodeEvent(null as unknown as Uint8Array)).toThrow(DecodeError)
    expect(() => decodeRequest([1, 2] as unknown as Uint8Array)).toThrow(DecodeError)
  })
})

describe('limits and field rules', () => {
  it(`body: ${Limits.body} bytes pass; one more is refused by encoder and decoder`, () => {
    const max = new Uint8Array(Limits.body)
    expect(decodeRequest(encodeRequest(baseRequest({ body: max }))).body).toEqual(max)
    const over = new Uint8Array(Limits.body + 1)
    expect(() => encodeRequest(baseRequest({ body: over }))).toThrow(RangeError)
    expect(() => decodeRequest(rawRequest({ body: over }))).toThrow(
      new RegExp(`body length ${Limits.body + 1} exceeds limit`),
    )
    expect(() => decodeEvent(rawEvent({ body: over }))).toThrow(DecodeError)
  })

  it(`channel: ${Limits.channel} bytes pass; one more is refused`, () => {
    const max = 'c'.repeat(Limits.channel)
    expect(decodeRequest(encodeRequest(baseRequest({ channel: max }))).channel).toBe(max)
    expect(() => encodeRequest(baseRequest({ channel: `${max}c` }))).toThrow(/invalid channel/)
    expect(() => decodeRequest(rawRequest({ channel: `${max}c` }))).toThrow(/channel length 65 exceeds limit/)
    expect(() => decodeEvent(rawEvent({ channel: `${max}c` }))).toThrow(DecodeError)
  })

  it(`kind: ${Limits.kind} bytes pass; one more is refused`, () => {
    const max = 'k'.repeat(Limits.kind)
    expect(decodeRequest(encodeRequest(baseRequest({ kind: max }))).kind).toBe(max)
    expect(() => encodeRequest(baseRequest({ kind: `${max}k` }))).toThrow(/invalid event kind/)
    expect(() => decodeRequest(rawRequest({ kind: `${max}k` }))).toThrow(/kind length 33 exceeds limit/)
  })

  it.each(['', 'Message', '1st', 'a b', 'café', '.x', 'x/y'])('bad kind %j is refused both ways', (kind) => {
    expect(() => encodeRequest(baseRequest({ kind }))).toThrow(RangeError)
    expect(() => decodeRequest(rawRequest({ kind }))).toThrow(DecodeError)
    expect(() => decodeEvent(rawEvent({ kind }))).toThrow(DecodeError)
  })

  it.each(['', '.hidden', '-x', 'a b', 'a/b', 'café', 'x\u0000'])(
    'bad channel %j is refused both ways',
    (channel) => {
      expect(() => encodeRequest(baseRequest({ channel }))).toThrow(RangeError)
      expect(() => decodeRequest(rawRequest({ channel }))).toThrow(DecodeError)
    },
  )

  it(`the largest event is MAX_EVENT_BYTES (${MAX_EVENT_BYTES}) long: batch-stamped, with the longest path`, () => {
    const biggest = decodeEvent(
      rawEvent({
        channel: 'c'.repeat(Limits.channel),
        kind: 'k'.repeat(Limits.kind),
        body: new Uint8Array(Limits.body),
      }),
    )
    expect(encodeEvent(biggest).length).toBe(MAX_SINGLE_EVENT_BYTES)
    expect(MAX_SINGLE_EVENT_BYTES).toBe(49_446)
    const path = Array.from({ length: MAX_PROOF_DEPTH }, () => new Uint8Array(32))
    const batched = { ...biggest, batch: { size: MAX_STAMP_BATCH, index: MAX_STAMP_BATCH - 1, path } }
    expect(encodeEvent(batched).length).toBe(MAX_EVENT_BYTES)
    expect(MAX_EVENT_BYTES).toBe(49_446 + 1 + 2 + 2 + 32 * 10)
    expect(decodeEvent(encodeEvent(batched))).toEqual(batched)
  })

  it('unknown versions, wrong field sizes and trailing bytes are refused', () => {
    expect(() => decodeRequest(rawRequest({ version: 2 }))).toThrow(/unsupported event version 2/)
    expect(() => decodeRequest(rawRequest().subarray(1))).toThrow(DecodeError)
    expect(() => decodeRequest(concatBytes(rawRequest(), Uint8Array.of(0)))).toThrow(/trailing/)
    expect(() => decodeEvent(rawEvent().subarray(0, -1))).toThrow(/truncated relaySig/)
    expect(() => encodeRequest(baseRequest({ author: new Uint8Array(31) }))).toThrow(RangeError)
    expect(() => encodeRequest(baseRequest({ clientNonce: new Uint8Array(17) }))).toThrow(RangeError)
    expect(() => encodeRequest(baseRequest({ authorSig: new Uint8Array(63) }))).toThrow(
      /authorSig must be 64 bytes/,
    )
    const ev = decodeEvent(rawEvent())
    expect(() => encodeEvent({ ...ev, relaySig: new Uint8Array(65) })).toThrow(/relaySig must be 64 bytes/)
    expect(() => encodeEvent({ ...ev, id: 'not-a-ulid' as Ulid })).toThrow(RangeError)
  })
})

describe('signatures over events', () => {
  let author: Identity
  let relay: Identity
  let other: Identity
  let ev: StampedEvent
  const nextId = monotonicUlid()

  beforeAll(async () => {
    ;[author, relay, other] = await Promise.all([
      Identity.generate(),
      Identity.generate(),
      Identity.generate(),
    ])
    const req = await signRequest(author, {
      channel: 'general',
      kind: Kind.message,
      clientNonce: new Uint8Array(16).fill(3),
      body: new TextEncoder().encode('hello'),
    })
    ev = await stamp(relay, nextId(), req)
  })

  it('an honest event verifies, also after a trip over the wire and on noble', async () => {
    const back = decodeEvent(encodeEvent(ev))
    expect(await verifyAuthor(back)).toBe(true)
    expect(await verifyRelayStamp(back, relay.publicKey)).toBe(true)
    expect(await verifyAuthor(back, nobleBackend)).toBe(true)
    expect(await verifyRelayStamp(back, relay.publicKey, nobleBackend)).toBe(true)
    expect(await verifyRelayStamp(back, other.publicKey)).toBe(false)
    expect(eventDigest(back)).toEqual(eventDigest(ev))
  })

  const flip = (b: Uint8Array, i: number) => {
    const out = b.slice()
    out[i % Math.max(out.length, 1)]! ^= 1
    return out
  }
  type Tamper = (e: StampedEvent, i: number) => StampedEvent
  /** Each tamper and whether the author's signature still holds (the relay's never does). */
  const TAMPERS: Record<string, { apply: Tamper; authorStillValid: boolean }> = {
    body: {
      apply: (e, i) => ({ ...e, body: e.body.length ? flip(e.body, i) : Uint8Array.of(i & 255) }),
      authorStillValid: false,
    },
    bodyAppend: {
      apply: (e, i) => ({ ...e, body: concatBytes(e.body, Uint8Array.of(i & 255)) }),
      authorStillValid: false,
    },
    channel: { apply: (e, i) => ({ ...e, channel: `${e.channel}${i % 10}` }), authorStillValid: false },
    kind: {
      apply: (e, i) => ({ ...e, kind: [Kind.edit, Kind.redact, Kind.reaction][i % 3]! }),
      authorStillValid: false,
    },
    clientNonce: {
      apply: (e, i) => ({ ...e, clientNonce: flip(e.clientNonce, i) }),
      authorStillValid: false,
    },
    author: { apply: (e) => ({ ...e, author: other.publicKey }), authorStillValid: false },
    authorSig: { apply: (e, i) => ({ ...e, authorSig: flip(e.authorSig, i) }), authorStillValid: false },
    id: { apply: (e) => ({ ...e, id: nextId() }), authorStillValid: true },
    relaySig: { apply: (e, i) => ({ ...e, relaySig: flip(e.relaySig, i) }), authorStillValid: true },
  }

  it('property: tampering any signed field breaks the author signature, the relay stamp, or both', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(TAMPERS)), fc.nat({ max: 511 }), async (field, i) => {
        const t = TAMPERS[field]!
        const bad = t.apply(ev, i)
        expect(await verifyAuthor(bad)).toBe(t.authorStillValid)
        expect(await verifyRelayStamp(bad, relay.publicKey)).toBe(false)
        expect(equalBytes(eventDigest(bad), eventDigest(ev))).toBe(false)
      }),
      { numRuns: 300 },
    )
  })

  it('re-stamping a request under a different id needs the relay key', async () => {
    const moved = { ...ev, id: nextId() }
    moved.ts = ulidTime(moved.id)
    expect(await verifyRelayStamp(moved, relay.publicKey)).toBe(false)
    const forged = await stamp(other, moved.id, ev)
    expect(await verifyRelayStamp(forged, relay.publicKey)).toBe(false)
    expect(await verifyRelayStamp(await stamp(relay, moved.id, ev), relay.publicKey)).toBe(true)
  })

  it('verifiers return false, not an exception, for malformed event objects', async () => {
    const broken = { ...ev, channel: 'no spaces allowed', authorSig: new Uint8Array(3) }
    expect(await verifyAuthor(broken)).toBe(false)
    expect(await verifyRelayStamp(broken, relay.publicKey)).toBe(false)
    expect(await verifyRelayStamp({ ...ev, id: 'x' as Ulid }, relay.publicKey)).toBe(false)
  })

  it('sameContent compares exactly the author-signed fields', () => {
    expect(sameContent(ev, { ...ev })).toBe(true)
    expect(sameContent(ev, { ...ev, body: flip(ev.body, 0) })).toBe(false)
    expect(sameContent(ev, { ...ev, clientNonce: flip(ev.clientNonce, 0) })).toBe(false)
    expect(encodeAuthored(ev)).toEqual(encodeAuthored({ ...ev, id: nextId() } as Authored))
  })
})
