/** Relay frames and credentials: round trips, bounds, and hostile bytes that only ever yield DecodeError. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { randomBytes } from '../src/bytes.ts'
import { DecodeError } from '../src/errors.ts'
import { encodeEvent, signRequest, stamp } from '../src/event.ts'
import { Domain } from '../src/identity/domains.ts'
import { Identity } from '../src/identity/keys.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import {
  decodeClientFrame,
  decodeFrame,
  decodeRelayFrame,
  encodeFrame,
  eventFrameFromBytes,
  type Frame,
  FrameLimits,
  queryRef,
  RELAY_PROTOCOL_VERSION,
  Tag,
} from '../src/protocol/relay.ts'
import {
  decodeInvite,
  decodeSession,
  decodeToken,
  encodeLoginPayload,
  encodeSigned,
  MAX_CREDENTIAL_BYTES,
  MAX_ORIGIN_BYTES,
  Privilege,
  signInvite,
  signSession,
  signToken,
  tokenFromText,
  tokenToText,
  verifyInviteSignature,
  verifySession,
  verifyTokenSignature,
} from '../src/protocol/session.ts'
import { ulidAtTime } from '../src/ulid.ts'

useNodeCrypto()

const relay = await Identity.generate()
const alice = await Identity.generate()
const now = 1_700_000_000_000

const session = await signSession(relay, {
  relayKey: relay.publicKey,
  publicKey: alice.publicKey,
  sessionId: randomBytes(16),
  privileges: Privilege.post,
  issued: now,
  expires: now + 60_000,
})
const request = await signRequest(alice, {
  channel: 'general',
  kind: 'message',
  clientNonce: randomBytes(16),
  body: new Uint8Array([1, 2, 3]),
})
const event = await stamp(relay, ulidAtTime(now), request)

const everyFrame: Frame[] = [
  { type: 'login', publicKey: alice.publicKey, clientTime: now, sig: randomBytes(64), invite: null },
  {
    type: 'login',
    publicKey: alice.publicKey,
    clientTime: now,
    sig: randomBytes(64),
    invite: randomBytes(100),
  },
  { type: 'publish', request },
  { type: 'join', channel: 'general' },
  { type: 'leave', channel: 'random' },
  { type: 'tokenRequest' },
  { type: 'ping', n: 42 },
  { type: 'challenge', relayKey: relay.publicKey, nonce: randomBytes(32), serverTime: now },
  { type: 'welcome', attestation: encodeSigned(session), channels: ['general', 'dev'] },
  { type: 'event', event },
  { type: 'presenceQuery', q: 0, channel: 'general', after: null, limit: 256 },
  { type: 'presenceQuery', q: 2 ** 32 - 1, channel: 'general', after: randomBytes(32), limit: 1 },
  { type: 'presenceFind', q: 7, channel: 'general', keys: [alice.publicKey, relay.publicKey] },
  { type: 'presenceSnapshot', channel: 'general', count: 20_000, attestations: [encodeSigned(session)] },
  { type: 'presenceSnapshot', channel: 'general', count: 0, attestations: [] },
  {
    type: 'presenceTick',
    channel: 'general',
    count: 3,
    entered: [encodeSigned(session)],
    left: [randomBytes(16), randomBytes(16)],
  },
  { type: 'presenceTick', channel: 'general', count: 2 ** 32 - 1, entered: [], left: [] },
  {
    type: 'presencePage',
    q: 9,
    channel: 'general',
    count: 300,
    next: randomBytes(32),
    attestations: [encodeSigned(session)],
  },
  { type: 'presencePage', q: 10, channel: 'general', count: 1, next: null, attestations: [] },
  { type: 'token', token: randomBytes(150), expires: now },
  { type: 'error', code: 'rate_limited', message: 'slow down', ref: request.clientNonce },
  { type: 'pong', n: 7 },
  { type: 'channelAdded', channel: 'new' },
]

describe('relay frames', () => {
  it('every frame round-trips and starts with the version byte', () => {
    for (const f of everyFrame) {
      const bytes = encodeFrame(f)
      expect(bytes[0]).toBe(RELAY_PROTOCOL_VERSION)
      expect(decodeFrame(bytes)).toEqual(f)
    }
  })

  it('the fan-out frame built from event bytes equals the encoded event frame', () => {
    expect(eventFrameFromBytes(encodeEvent(event))).toEqual(encodeFrame({ type: 'event', event }))
  })

  it('direction guards refuse frames of the other side', () => {
    expect(() => decodeClientFrame(encodeFrame({ type: 'pong', n: 1 }))).toThrow(DecodeError)
    expect(() => decodeRelayFrame(encodeFrame({ type: 'ping', n: 1 }))).toThrow(DecodeError)
  })

  it('refuses another version, an unknown tag, trailing bytes and truncation', () => {
    const ping = encodeFrame({ type: 'ping', n: 1 })
    expect(() => decodeFrame(Uint8Array.of(2, Tag.ping, 1))).toThrow(/version/)
    expect(() => decodeFrame(Uint8Array.of(1, 0x3f))).toThrow(/unknown frame tag/)
    expect(() => decodeFrame(Uint8Array.of(...ping, 0))).toThrow(/trailing/)
    for (const f of everyFrame) {
      const b = encodeFrame(f)
      expect(() => decodeFrame(b.subarray(0, b.length - 1))).toThrow(DecodeError)
    }
  })

  it('refuses a channel name over the limit and an invite over its bound', () => {
    const long = 'a'.repeat(65)
    const w = [1, Tag.join, long.length, ...new TextEncoder().encode(long)]
    expect(() => decodeFrame(Uint8Array.from(w))).toThrow(/exceeds limit/)
    const tooBig = encodeFrame({
      type: 'login',
      publicKey: alice.publicKey,
      clientTime: now,
      sig: randomBytes(64),
      invite: randomBytes(FrameLimits.invite + 1),
    })
    expect(() => decodeFrame(tooBig)).toThrow(/exceeds limit/)
  })

  it('a presence count larger than the frame can hold is refused before allocating', () => {
    // channel "a", member count 1, then 200 attestations but no bytes follow
    expect(() => decodeFrame(Uint8Array.of(1, Tag.presenceSnapshot, 1, 0x61, 1, 200, 1))).toThrow(
      /cannot fit/,
    )
  })

  it('presence frames are bounded: attestations, left ids, find keys, cursors and page limits', () => {
    const a = encodeSigned(session)
    const many = (n: number, b: Uint8Array) => Array.from({ length: n }, () => b)
    const over = FrameLimits.presencePerFrame + 1
    const frames: Frame[] = [
      { type: 'presenceSnapshot', channel: 'g', count: 1, attestations: many(over, a) },
      { type: 'presenceTick', channel: 'g', count: 1, entered: many(over, a), left: [] },
      {
        type: 'presenceTick',
        channel: 'g',
        count: 1,
        entered: [],
        left: many(FrameLimits.presenceLeft + 1, a.subarray(0, 16)),
      },
      { type: 'presencePage', q: 1, channel: 'g', count: 1, next: null, attestations: many(over, a) },
      {
        type: 'presenceFind',
        q: 1,
        channel: 'g',
        keys: many(FrameLimits.presenceFindKeys + 1, alice.publicKey),
      },
      { type: 'presenceQuery', q: 1, channel: 'g', after: null, limit: over },
    ]
    for (const f of frames) expect(() => decodeFrame(encodeFrame(f))).toThrow(/exceeds limit/)
    // A page limit of 0, a find of no key, and a cursor that is neither empty nor 32 bytes.
    expect(() =>
      decodeFrame(encodeFrame({ type: 'presenceQuery', q: 1, channel: 'g', after: null, limit: 0 })),
    ).toThrow(/at least 1/)
    expect(() => decodeFrame(encodeFrame({ type: 'presenceFind', q: 1, channel: 'g', keys: [] }))).toThrow(
      /at least one/,
    )
    const short = encodeFrame({ type: 'presenceQuery', q: 1, channel: 'g', after: randomBytes(31), limit: 5 })
    expect(() => decodeFrame(short)).toThrow(/empty or 32 bytes/)
    expect(() =>
      decodeFrame(
        encodeFrame({ type: 'presenceQuery', q: 1, channel: 'g', after: randomBytes(33), limit: 5 }),
      ),
    ).toThrow(/exceeds limit/)
    // The retired presence tags of before issue 13 are unknown.
    for (const tag of [0x44, 0x45, 0x46])
      expect(() => decodeFrame(Uint8Array.of(1, tag, 1, 0x61))).toThrow(/unknown frame tag/)
  })

  it('a query id is a u32; its 4 big-endian bytes are the ref of the Error refusing it', () => {
    expect(queryRef(0x01020304)).toEqual(Uint8Array.of(1, 2, 3, 4))
    const f = encodeFrame({ type: 'presenceFind', q: 0x01020304, channel: 'g', keys: [alice.publicKey] })
    expect(f.subarray(2, 6)).toEqual(queryRef(0x01020304))
    expect(() => queryRef(2 ** 32)).toThrow(RangeError)
    expect(() => queryRef(-1)).toThrow(RangeError)
  })

  it('presence frames round-trip for any content within bounds (property)', () => {
    const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
    const att = fc.uint8Array({ minLength: 1, maxLength: MAX_CREDENTIAL_BYTES })
    const channel = fc.constantFrom('general', 'a', 'dev-2')
    const frame: fc.Arbitrary<Frame> = fc.oneof(
      fc.record({
        type: fc.constant('presenceTick' as const),
        channel,
        count: fc.nat({ max: 2 ** 32 - 1 }),
        entered: fc.array(att, { maxLength: 8 }),
        left: fc.array(bytes(16), { maxLength: 8 }),
      }),
      fc.record({
        type: fc.constant('presenceSnapshot' as const),
        channel,
        count: fc.nat(),
        attestations: fc.array(att, { maxLength: 8 }),
      }),
      fc.record({
        type: fc.constant('presencePage' as const),
        q: fc.nat({ max: 2 ** 32 - 1 }),
        channel,
        count: fc.nat(),
        next: fc.option(bytes(32), { nil: null }),
        attestations: fc.array(att, { maxLength: 8 }),
      }),
      fc.record({
        type: fc.constant('presenceQuery' as const),
        q: fc.nat({ max: 2 ** 32 - 1 }),
        channel,
        after: fc.option(bytes(32), { nil: null }),
        limit: fc.integer({ min: 1, max: FrameLimits.presencePerFrame }),
      }),
      fc.record({
        type: fc.constant('presenceFind' as const),
        q: fc.nat({ max: 2 ** 32 - 1 }),
        channel,
        keys: fc.array(bytes(32), { minLength: 1, maxLength: FrameLimits.presenceFindKeys }),
      }),
    )
    fc.assert(
      fc.property(frame, (f) => {
        expect(decodeFrame(encodeFrame(f))).toEqual(f)
      }),
      { numRuns: 500 },
    )
  })

  it('random bytes and mutated frames only ever throw DecodeError', () => {
    const valid = everyFrame.map(encodeFrame)
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([b, i, v]) => {
            const c = b.slice()
            c[i % c.length] = v
            return c
          }),
          fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([b, n]) => b.subarray(0, n % (b.length + 1))),
        ),
        (bytes) => {
          try {
            decodeFrame(bytes)
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError)
          }
        },
      ),
      { numRuns: 3000 },
    )
  })
})

describe('credentials', () => {
  it('a session attestation verifies for its relay and not after it expires or for another relay', async () => {
    const decoded = decodeSession(encodeSigned(session))
    expect(decoded.value).toEqual(session.value)
    expect(await verifySession(decoded, relay.publicKey, now)).toBe(true)
    expect(await verifySession(decoded, relay.publicKey, now + 60_000)).toBe(false)
    expect(await verifySession(decoded, alice.publicKey, now)).toBe(false)
    const tampered = encodeSigned(session)
    tampered[70] = (tampered[70] ?? 0) ^ 1
    expect(await verifySession(decodeSession(tampered), relay.publicKey, now)).toBe(false)
  })

  it('a session signature does not verify as a token (domain separation)', async () => {
    const t = await signToken(relay, {
      relayKey: relay.publicKey,
      purpose: 'signal',
      publicKey: alice.publicKey,
      sessionId: session.value.sessionId,
      expires: now,
    })
    const text = tokenToText(t)
    const back = tokenFromText(text)
    expect(back.value).toEqual(t.value)
    expect(await verifyTokenSignature(back, relay.publicKey)).toBe(true)
    // Re-sign the same token body under another domain: it must fail.
    const wrongDomain = { ...back, sig: await relay.sign(Domain.session, back.body) }
    expect(await verifyTokenSignature(wrongDomain, relay.publicKey)).toBe(false)
    expect(() => tokenFromText('!!!')).toThrow(DecodeError)
    expect(() => tokenFromText('A'.repeat(1000))).toThrow(DecodeError)
    expect(() => decodeToken(randomBytes(MAX_CREDENTIAL_BYTES + 1))).toThrow(/exceeds/)
  })

  it('an invite names its admin and verifies with that key only', async () => {
    const inv = await signInvite(alice, {
      relayKey: relay.publicKey,
      invitee: new Uint8Array(32),
      inviteId: randomBytes(16),
      expires: now,
    })
    const back = decodeInvite(encodeSigned(inv))
    expect(back.value.admin).toEqual(alice.publicKey)
    expect(await verifyInviteSignature(back)).toBe(true)
    const forged = decodeInvite(
      encodeSigned({ ...inv, value: inv.value, body: inv.body, sig: randomBytes(64) }),
    )
    expect(await verifyInviteSignature(forged)).toBe(false)
  })

  it('the login payload binds relay key, nonce, origin and time; origin length is bounded', () => {
    const p = {
      relayKey: relay.publicKey,
      nonce: randomBytes(32),
      origin: 'chat.example:443',
      clientTime: now,
    }
    const a = encodeLoginPayload(p)
    expect(encodeLoginPayload({ ...p, origin: 'chat.example:444' })).not.toEqual(a)
    expect(encodeLoginPayload({ ...p, clientTime: now + 1 })).not.toEqual(a)
    expect(() => encodeLoginPayload({ ...p, origin: 'x'.repeat(MAX_ORIGIN_BYTES + 1) })).toThrow(RangeError)
    expect(() => encodeLoginPayload({ ...p, nonce: randomBytes(16) })).toThrow(RangeError)
  })

  it('credential decoders only throw DecodeError on mutations', () => {
    const bytes = [encodeSigned(session)]
    fc.assert(
      fc.property(
        fc.constantFrom(...bytes),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(),
        (b, i, v, cut) => {
          const c = b.slice(0, b.length - (cut % 4))
          c[i % c.length] = v
          for (const decode of [decodeSession, decodeToken, decodeInvite])
            try {
              decode(c)
            } catch (e) {
              expect(e).toBeInstanceOf(DecodeError)
            }
        },
      ),
      { numRuns: 1000 },
    )
  })
})
