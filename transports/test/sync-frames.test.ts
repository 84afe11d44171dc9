import {
  DecodeError,
  Identity,
  type StampedEvent,
  signRequest,
  stamp,
  ulidAtTime,
  utf8,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  decodeSyncFrame,
  encodePushFrames,
  encodeSyncFrame,
  MAX_PUSH_EVENTS,
  MAX_SYNC_COUNTER,
  MAX_SYNC_PAYLOAD,
  SYNC_ENVELOPE_OVERHEAD,
  type SyncFrame,
  SyncType,
} from '../src/memory/sync-frames.ts'

let event: StampedEvent

beforeAll(async () => {
  useNodeCrypto()
  const author = await Identity.generate()
  const relay = await Identity.generate()
  const req = await signRequest(author, {
    channel: 'c',
    kind: 'message',
    clientNonce: new Uint8Array(16),
    body: utf8('hi'),
  })
  event = await stamp(relay, ulidAtTime(1_700_000_000_000), req)
})

const varuint = (n: number) => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

describe('sync frames', () => {
  it('round-trips every frame type', () => {
    const frames: SyncFrame[] = [
      { type: SyncType.push, events: [event, event] },
      { type: SyncType.request, session: 7, seq: 0, payload: Uint8Array.of(1, 2, 3) },
      { type: SyncType.reply, session: MAX_SYNC_COUNTER, seq: 3, payload: null },
      { type: SyncType.reply, session: 1, seq: 1, payload: new Uint8Array(0) },
    ]
    for (const f of frames) expect(decodeSyncFrame(encodeSyncFrame(f))).toEqual(f)
  })

  it('random and mutated bytes decode to a frame or a DecodeError, nothing else', () => {
    const valid = encodeSyncFrame({ type: SyncType.push, events: [event] })
    const mutated = fc
      .tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(valid.length))
      .map(([at, value, cut]) => {
        const b = valid.slice(0, Math.max(cut, at + 1))
        b[at] = value
        return b
      })
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (bytes) => {
        try {
          decodeSyncFrame(bytes)
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it(`refuses pushes of more than MAX_PUSH_EVENTS (${MAX_PUSH_EVENTS}) events, and empty ones`, () => {
    const many = Array.from({ length: MAX_PUSH_EVENTS + 1 }, () => event)
    expect(() => encodeSyncFrame({ type: SyncType.push, events: many })).toThrow(RangeError)
    expect(() => encodeSyncFrame({ type: SyncType.push, events: [] })).toThrow(RangeError)
    expect(() => decodeSyncFrame(Uint8Array.of(1, 1, ...varuint(MAX_PUSH_EVENTS + 1)))).toThrow(
      /exceeds limit/,
    )
    expect(() => decodeSyncFrame(Uint8Array.of(1, 1, 0))).toThrow(/empty push/)
    // A count the remaining bytes cannot hold is refused before anything is allocated.
    expect(() => decodeSyncFrame(Uint8Array.of(1, 1, 100, 0))).toThrow(/cannot fit/)
  })

  it(`refuses counters above MAX_SYNC_COUNTER and payloads above MAX_SYNC_PAYLOAD (${MAX_SYNC_PAYLOAD})`, () => {
    expect(() => decodeSyncFrame(Uint8Array.of(1, 2, ...varuint(MAX_SYNC_COUNTER + 1), 0, 0))).toThrow(
      /session/,
    )
    expect(() => decodeSyncFrame(Uint8Array.of(1, 2, 0, ...varuint(MAX_SYNC_COUNTER + 1), 0))).toThrow(/seq/)
    expect(() => decodeSyncFrame(Uint8Array.of(1, 2, 0, 0, ...varuint(MAX_SYNC_PAYLOAD + 1)))).toThrow(
      /exceeds limit/,
    )
  })

  it('splits pushes to fit a frame size and refuses an event that cannot fit', () => {
    const size = encodeSyncFrame({ type: SyncType.push, events: [event] }).length
    const frames = encodePushFrames(Array(10).fill(event), 3 * size + SYNC_ENVELOPE_OVERHEAD)
    expect(frames.length).toBeGreaterThan(1)
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(3 * size + SYNC_ENVELOPE_OVERHEAD)
    const back = frames.flatMap((f) => (decodeSyncFrame(f) as { events: StampedEvent[] }).events)
    expect(back).toEqual(Array(10).fill(event))
    expect(encodePushFrames(Array(MAX_PUSH_EVENTS + 1).fill(event), 1 << 30)).toHaveLength(2)
    expect(() => encodePushFrames([event], size)).toThrow(RangeError)
  })

  it('refuses another version, an unknown type, a bad flag and trailing bytes', () => {
    expect(() => decodeSyncFrame(Uint8Array.of(2, 2, 0, 0, 0))).toThrow(/version/)
    expect(() => decodeSyncFrame(Uint8Array.of(1, 9))).toThrow(/unknown sync frame type/)
    expect(() => decodeSyncFrame(Uint8Array.of(1, 3, 0, 0, 2))).toThrow(/flag/)
    expect(() => decodeSyncFrame(Uint8Array.of(1, 3, 0, 0, 0, 0))).toThrow(/trailing/)
  })
})
