/** The messages relay nodes exchange through Redis: round trips, and hostile bytes refused cleanly. */
import { DecodeError } from '@peerchat/engine'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nodeOfPeerId, signalPeerId } from '../src/cluster/cluster.ts'
import {
  ClusterLimits,
  type ClusterMessage,
  decodeClusterMessage,
  encodeClusterMessage,
} from '../src/cluster/messages.ts'

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const origin = fc.stringMatching(/^[0-9a-f]{8}$/)
const topic = fc.string({ minLength: 1, maxLength: 40 })
const join = fc.record({
  channel: topic,
  sessionId: bytes(16),
  joinId: bytes(16),
  attestation: fc.uint8Array({ minLength: 1, maxLength: 300 }),
})
const leave = fc.record({ channel: topic, sessionId: bytes(16) })

const message: fc.Arbitrary<ClusterMessage> = fc.oneof(
  fc.record({ type: fc.constant('heartbeat' as const), origin, presenceSeq: fc.nat() }),
  fc.record({ type: fc.constant('channelAdded' as const), origin, channel: topic }),
  fc.record({
    type: fc.constant('presence' as const),
    origin,
    seq: fc.nat(),
    joins: fc.array(join, { maxLength: 5 }),
    leaves: fc.array(leave, { maxLength: 5 }),
  }),
  fc.record({
    type: fc.constant('event' as const),
    origin,
    channel: topic,
    frame: fc.uint8Array({ maxLength: 400 }),
  }),
  fc.record({
    type: fc.constant('signalAnnounce' as const),
    origin,
    room: topic,
    peerId: fc.string({ maxLength: 60 }),
  }),
  fc.record({
    type: fc.constant('signalDeliver' as const),
    origin,
    room: topic,
    to: fc.string({ maxLength: 60 }),
    data: fc.string({ maxLength: 200 }),
  }),
  fc.record({
    type: fc.constant('forward' as const),
    origin,
    to: bytes(16),
    frame: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({ type: fc.constant('adminAppended' as const), origin, length: fc.nat() }),
)

describe('cluster messages', () => {
  it('round-trip every message', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeClusterMessage(encodeClusterMessage(m))).toEqual(m)
      }),
    )
  })

  it('any bytes decode to a message or a DecodeError, never another throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        try {
          decodeClusterMessage(b)
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
        }
      }),
    )
  })

  it('a truncated or extended message is refused', () => {
    fc.assert(
      fc.property(message, fc.nat(), (m, cut) => {
        const full = encodeClusterMessage(m)
        const short = full.subarray(0, cut % full.length)
        expect(() => decodeClusterMessage(short)).toThrow(DecodeError)
        expect(() => decodeClusterMessage(new Uint8Array([...full, 0]))).toThrow(DecodeError)
      }),
    )
  })

  it('counts beyond the limit are refused before anything is allocated', () => {
    const m = encodeClusterMessage({ type: 'presence', origin: 'abcdef01', seq: 1, joins: [], leaves: [] })
    // Replace the joins count (0) with the limit + 1, as a varuint.
    const over = ClusterLimits.presenceChanges + 1
    const at = m.length - 2
    const bad = new Uint8Array([...m.subarray(0, at), 0x80 | (over & 0x7f), over >> 7, 0])
    expect(() => decodeClusterMessage(bad)).toThrow(/exceeds limit|cannot fit/)
  })

  it('signaling peer ids name their node only in a cluster', () => {
    const id = signalPeerId('KEY', 35, 'abcdef01')
    expect(id).toBe('KEY.abcdef01-z')
    expect(nodeOfPeerId(id)).toBe('abcdef01')
    expect(nodeOfPeerId(signalPeerId('KEY', 35, undefined))).toBeUndefined()
  })
})
