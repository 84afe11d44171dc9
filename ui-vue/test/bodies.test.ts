import { DecodeError, type Ulid, ulidAtTime } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type ChatBody, ChatLimits, decodeBody, encodeBody } from '../src/client/bodies.ts'

const target = ulidAtTime(1_700_000_000_000) as Ulid

describe('chat bodies', () => {
  it('round-trip every kind', () => {
    const bodies: ChatBody[] = [
      { kind: Kind.message, text: 'hello\nworld' },
      { kind: Kind.message, text: 'a reply', replyTo: target },
      { kind: Kind.edit, target, text: 'fixed' },
      { kind: Kind.redact, target },
      { kind: Kind.reaction, target, emoji: '🎉', on: true },
      { kind: Kind.reaction, target, emoji: '👍', on: false },
      { kind: Kind.profile, name: 'Ada' },
      {
        kind: Kind.profile,
        name: 'Ada',
        avatar: {
          digest: new Uint8Array(32).fill(1),
          size: 900,
          chunkRoot: new Uint8Array(32).fill(2),
          mime: 'image/webp',
        },
      },
    ]
    for (const body of bodies) expect(decodeBody(body.kind, encodeBody(body))).toEqual(body)
  })

  it('refuse texts, emoji and names over their limits', () => {
    expect(() => encodeBody({ kind: Kind.message, text: 'x'.repeat(ChatLimits.text + 1) })).toThrow(
      RangeError,
    )
    expect(() => encodeBody({ kind: Kind.edit, target, text: 'é'.repeat(ChatLimits.text / 2 + 1) })).toThrow(
      RangeError,
    )
    expect(() =>
      encodeBody({ kind: Kind.reaction, target, emoji: '🎉'.repeat(ChatLimits.emoji / 4 + 1), on: true }),
    ).toThrow(RangeError)
    expect(() => encodeBody({ kind: Kind.profile, name: 'n'.repeat(ChatLimits.name + 1) })).toThrow(
      RangeError,
    )
    // At the limit is fine.
    expect(() => encodeBody({ kind: Kind.message, text: 'x'.repeat(ChatLimits.text) })).not.toThrow()
  })

  it('a decoder refuses oversized fields even from a hand-made body', () => {
    const big = encodeBody({ kind: Kind.message, text: 'x'.repeat(ChatLimits.text) })
    // Bump the length varint (its first byte is 0x80 for a multiple of 128) by one.
    const forged = big.slice()
    forged[1] = 0x81
    expect(() => decodeBody(Kind.message, forged)).toThrow(DecodeError)
  })

  it('only DecodeError escapes for arbitrary bytes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(Kind.message, Kind.edit, Kind.redact, Kind.reaction, Kind.profile, 'yjs'),
        fc.uint8Array({ maxLength: 64 }),
        (kind, bytes) => {
          try {
            decodeBody(kind, bytes)
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError)
          }
        },
      ),
      { numRuns: 2000 },
    )
  })
})
