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
  { type: 'presence', channel: 'general', attestations: [encodeSigned(session)], last: true },
  { type: 'presenceJoin', channel: 'general', attestation: encodeSigned(session) },
  { type: 'presenceLeave', channel: 'general', sessionId: session.value.sessionId },
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
    // count = 200 attestations but no bytes follow
    expect(() => decodeFrame(Uint8Array.of(1, Tag.presence, 1, 0x61, 1, 200, 1))).toThrow(/cannot fit/)
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
