import {
  outboxKey,
  type PublicKey,
  type StampedEvent,
  type Ulid,
  ulidFromBytes,
  type Write,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type ChatBody, encodeBody } from '../src/client/bodies.ts'
import { ChannelTimeline, writeKeyOf } from '../src/client/channel-view.ts'

// The view consumes events that were already verified, so signatures are left zero here.
const key = (n: number): PublicKey => new Uint8Array(32).fill(n)
const ME = key(1)
const PEOPLE = [ME, key(2), key(3)]

function idAt(seq: number): Ulid {
  const b = new Uint8Array(16)
  const t = 1_700_000_000_000 + seq * 1000
  let x = t
  for (let i = 5; i >= 0; i--) {
    b[i] = x % 256
    x = Math.floor(x / 256)
  }
  b[15] = seq % 256
  return ulidFromBytes(b)
}

function event(seq: number, author: PublicKey, body: ChatBody, nonce = seq): StampedEvent {
  const clientNonce = new Uint8Array(16)
  new DataView(clientNonce.buffer).setUint32(0, nonce)
  return {
    id: idAt(seq),
    ts: 1_700_000_000_000 + seq * 1000,
    channel: 'general',
    kind: body.kind,
    author,
    clientNonce,
    body: encodeBody(body),
    authorSig: new Uint8Array(64),
    relaySig: new Uint8Array(64),
  }
}

/** A random history: messages first mentioned by index, then effects on them. */
const historyArb = fc
  .array(
    fc.record({
      who: fc.nat(2),
      op: fc.constantFrom('message', 'message', 'edit', 'reaction', 'unreact', 'redact'),
      target: fc.nat(),
      emoji: fc.constantFrom('👍', '🎉'),
    }),
    { minLength: 1, maxLength: 40 },
  )
  .map((ops) => {
    const events: StampedEvent[] = []
    const messages: Ulid[] = []
    ops.forEach((op, seq) => {
      const author = PEOPLE[op.who]!
      const target = messages[op.target % Math.max(1, messages.length)]
      if (op.op === 'message' || !target) {
        events.push(event(seq, author, { kind: Kind.message, text: `m${seq}`, replyTo: target }))
        messages.push(idAt(seq))
      } else if (op.op === 'edit')
        events.push(event(seq, author, { kind: Kind.edit, target, text: `e${seq}` }))
      else if (op.op === 'redact') events.push(event(seq, author, { kind: Kind.redact, target }))
      else
        events.push(
          event(seq, author, { kind: Kind.reaction, target, emoji: op.emoji, on: op.op === 'reaction' }),
        )
    })
    return events
  })

const snapshot = (view: ChannelTimeline) => view.messages()

describe('ChannelTimeline (rows over the engine ChannelView)', () => {
  it('reaches the same view whatever the order and duplication of arrivals', () => {
    fc.assert(
      fc.property(historyArb, fc.integer(), fc.nat(5), (events, seed, chunks) => {
        const inOrder = new ChannelTimeline('general', ME)
        inOrder.apply(events)
        const shuffled = fc.sample(fc.shuffledSubarray(events, { minLength: events.length }), {
          seed,
          numRuns: 1,
        })[0]!
        const other = new ChannelTimeline('general', ME)
        const size = Math.max(1, Math.ceil(shuffled.length / (chunks + 1)))
        for (let i = 0; i < shuffled.length; i += size) other.apply(shuffled.slice(i, i + size))
        other.apply(events.slice(0, 3)) // duplicates change nothing
        expect(snapshot(other)).toEqual(snapshot(inOrder))
        const ids = other.messages().map((m) => m.id!)
        expect([...ids].sort()).toEqual(ids)
      }),
      { numRuns: 300 },
    )
  })

  it('applies edits and redactions by the author only; reactions count once per person', () => {
    const view = new ChannelTimeline('general', ME)
    const m = idAt(1)
    view.apply([
      event(1, key(2), { kind: Kind.message, text: 'original' }),
      event(2, ME, { kind: Kind.edit, target: m, text: 'not yours' }),
      event(3, ME, { kind: Kind.redact, target: m }),
      event(4, ME, { kind: Kind.reaction, target: m, emoji: '👍', on: true }),
      event(5, key(3), { kind: Kind.reaction, target: m, emoji: '👍', on: true }),
      event(6, key(3), { kind: Kind.reaction, target: m, emoji: '👍', on: true }),
    ])
    expect(view.get(m)).toMatchObject({ text: 'original', edited: false, redacted: false })
    expect(view.get(m)?.reactions).toEqual([{ emoji: '👍', count: 2, mine: true }])
    view.apply([event(7, key(2), { kind: Kind.edit, target: m, text: 'better' })])
    expect(view.get(m)).toMatchObject({ text: 'better', edited: true })
    view.apply([event(8, key(2), { kind: Kind.redact, target: m })])
    expect(view.get(m)).toMatchObject({ text: '', redacted: true, reactions: [] })
  })

  it('drops the row of an event the log replaced, and shows the copy that stayed', () => {
    const view = new ChannelTimeline('general', ME)
    // One send stamped twice (a retry after a relay restart): same author and nonce.
    const later = event(9, key(2), { kind: Kind.message, text: 'once' }, 42)
    const earlier = event(5, key(2), { kind: Kind.message, text: 'once' }, 42)
    view.apply([later])
    expect(view.messages().map((m) => m.id)).toEqual([later.id])
    view.apply([earlier])
    expect(view.remove([later.id])).toBe(1)
    expect(view.messages().map((m) => m.id)).toEqual([earlier.id])
    expect(view.remove([later.id])).toBe(0)
  })

  it('shows the outbox as pending until the stamped copy (same author and nonce) arrives', () => {
    const view = new ChannelTimeline('general', ME)
    const stamped = event(1, ME, { kind: Kind.message, text: 'hi' }, 42)
    view.addPending({ ...stamped })
    expect(view.messages()).toHaveLength(1)
    expect(view.messages()[0]).toMatchObject({ pending: true, id: null })
    view.apply([event(0, key(2), { kind: Kind.message, text: 'earlier' })])
    expect(view.messages().map((m) => m.pending)).toEqual([false, true])
    view.apply([stamped])
    expect(view.messages().map((m) => [m.text, m.pending])).toEqual([
      ['earlier', false],
      ['hi', false],
    ])
    expect(view.newestId()).toBe(stamped.id)
  })

  it('follows a write through its states: pending, failed with the reason, pending again, stamped', () => {
    const view = new ChannelTimeline('general', ME)
    const req = event(1, ME, { kind: Kind.message, text: 'refused' }, 7)
    const key = outboxKey(req.author, req.clientNonce)
    const w: Write = { key, request: req, queuedAt: 1_700_000_000_500, state: 'pending' }
    expect(view.setWrite(w)).toBe(true)
    expect(view.messages()[0]).toMatchObject({ pending: true, failed: false, ts: 1_700_000_000_500 })
    expect(writeKeyOf(view.messages()[0]!)).toBe(key)
    view.setWrite({ ...w, state: 'failed', error: { code: 'forbidden', message: 'may not post' } })
    expect(view.messages()).toHaveLength(1)
    expect(view.messages()[0]).toMatchObject({
      pending: true,
      failed: true,
      failure: 'you may not post this here',
      text: 'refused',
    })
    view.setWrite(w) // retried
    expect(view.messages()[0]).toMatchObject({ pending: true, failed: false })
    expect(view.messages()[0]!.failure).toBeUndefined()
    view.setWrite({ ...w, state: 'stamped' })
    expect(view.messages()).toHaveLength(0)
    // A reaction has no row of its own: it shows once stamped.
    const reaction = event(2, ME, { kind: Kind.reaction, target: idAt(1), emoji: '👍', on: true }, 8)
    expect(view.setWrite({ ...w, key: 'x', request: reaction })).toBe(false)
  })

  it('drops a discarded write, and only that one', () => {
    const view = new ChannelTimeline('general', ME)
    const a = event(1, ME, { kind: Kind.message, text: 'a' }, 1)
    const b = event(2, ME, { kind: Kind.message, text: 'b' }, 2)
    view.addPending(a)
    view.addPending(b)
    expect(view.removePending(outboxKey(a.author, a.clientNonce))).toBe(true)
    expect(view.removePending(outboxKey(a.author, a.clientNonce))).toBe(false)
    expect(view.messages().map((m) => m.text)).toEqual(['b'])
    expect(writeKeyOf(view.messages()[0]!)).toBe(outboxKey(b.author, b.clientNonce))
  })

  it('refuses malformed bodies without throwing', () => {
    const view = new ChannelTimeline('general', ME)
    const bad = { ...event(1, ME, { kind: Kind.message, text: 'x' }), body: new Uint8Array([9, 9]) }
    expect(view.apply([bad])).toBe(0)
    expect(view.rejected).toBe(1)
    expect(view.messages()).toHaveLength(0)
  })
})
