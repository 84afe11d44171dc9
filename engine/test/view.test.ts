/** ChannelView scenarios: each rule once, by name, with real signed and stamped events. */
import { beforeAll, describe, expect, it } from 'vitest'
import {
  encodeChannelMeta,
  encodeEdit,
  encodeMessage,
  encodeProfile,
  encodeReaction,
  encodeRedact,
  encodeYjs,
} from '../src/chat/bodies.ts'
import { ChannelView, type ViewChange } from '../src/chat/channel-view.ts'
import { Kind } from '../src/chat/kinds.ts'
import { SORTED_IDS_CHUNK, SortedIds } from '../src/chat/sorted-ids.ts'
import type { Identity } from '../src/identity/keys.ts'
import { publicKeyToText } from '../src/identity/keys.ts'
import type { Ulid } from '../src/ulid.ts'
import { CHANNEL, cast, moderatorRoles, prng, stamper } from './projection-fixtures.ts'

let mod: Identity
let alice: Identity
let bob: Identity
let stampAs: ReturnType<typeof stamper>
let view: () => ChannelView

beforeAll(async () => {
  const c = await cast(3)
  ;[mod, alice, bob] = c.users as [Identity, Identity, Identity]
  stampAs = stamper(c.relay)
  const roles = moderatorRoles(mod)
  view = () => new ChannelView(CHANNEL, { roles })
})

const say = (who: Identity, text: string, replyTo?: Ulid) =>
  stampAs(
    who,
    Kind.message,
    encodeMessage(replyTo ? { text, replyTo, mentions: [] } : { text, mentions: [] }),
  )
const edit = (who: Identity, target: Ulid, text: string) =>
  stampAs(who, Kind.edit, encodeEdit({ target, text }))
const redact = (who: Identity, target: Ulid, reason?: string) =>
  stampAs(who, Kind.redact, encodeRedact(reason === undefined ? { target } : { target, reason }))
const react = (who: Identity, target: Ulid, emoji: string, on: boolean) =>
  stampAs(who, Kind.reaction, encodeReaction({ target, emoji, on }))

describe('ChannelView', () => {
  it('orders messages by ULID whatever the arrival order, and ignores duplicates', async () => {
    const [a, b, c] = [await say(alice, 'a'), await say(bob, 'b'), await say(alice, 'c')]
    const v = view()
    v.apply([c, a])
    v.apply([b, a, c])
    expect(v.messages().map((m) => m.text)).toEqual(['a', 'b', 'c'])
    expect(v.latest(2).map((m) => m.text)).toEqual(['b', 'c'])
    expect(v.size).toBe(3)
  })

  it('applies an edit that arrives before its message, keeping every version', async () => {
    const m = await say(alice, 'helo')
    const e1 = await edit(alice, m.id, 'hello')
    const e2 = await edit(alice, m.id, 'hello!')
    const v = view()
    v.apply([e2])
    expect(v.has(m.id)).toBe(false)
    v.apply([e1, m])
    const msg = v.message(m.id)!
    expect(msg.text).toBe('hello!')
    expect(msg.versions.map((x) => [x.id, x.text])).toEqual([
      [m.id, 'helo'],
      [e1.id, 'hello'],
      [e2.id, 'hello!'],
    ])
  })

  it("never shows an edit by someone other than the author (not even a moderator's)", async () => {
    const m = await say(alice, 'mine')
    const v = view()
    v.apply([m, await edit(bob, m.id, 'hijacked'), await edit(mod, m.id, 'moderated')])
    expect(v.message(m.id)!.text).toBe('mine')
    expect(v.message(m.id)!.versions).toHaveLength(1)
  })

  it('lets the author or a moderator redact, drops the content and reports what to erase', async () => {
    const m = await say(alice, 'secret')
    const e = await edit(alice, m.id, 'secret v2')
    const byBob = await redact(bob, m.id)
    const v = view()
    v.apply([m, e, byBob])
    expect(v.message(m.id)!.redacted).toBeUndefined()
    expect(v.redactedIds()).toEqual([])
    const changes: ViewChange[] = []
    v.onChange((c) => changes.push(c))
    const byMod = await redact(mod, m.id, 'spam')
    v.apply([byMod])
    const msg = v.message(m.id)!
    expect(msg.text).toBe('')
    expect(msg.versions).toEqual([])
    expect(msg.redacted).toEqual({
      id: byMod.id,
      ts: byMod.ts,
      by: publicKeyToText(mod.publicKey),
      reason: 'spam',
    })
    expect(v.redactedIds()).toEqual([m.id, e.id].sort())
    expect(changes).toHaveLength(1)
    expect(changes[0]!.erase).toEqual([m.id, e.id].sort())
    expect(changes[0]!.messages).toEqual([m.id])
    // A late edit of a redacted message is erased too, and never shown.
    const late = await edit(alice, m.id, 'resurrected?')
    expect(v.apply([late]).erase).toEqual([late.id])
    expect(v.message(m.id)!.text).toBe('')
  })

  it('keeps a tombstone for a message whose stored body was erased', async () => {
    const m = await say(alice, 'gone')
    const r = await redact(alice, m.id)
    const v = view()
    v.apply([{ ...m, body: new Uint8Array(0) }, r])
    expect(v.message(m.id)).toMatchObject({ id: m.id, text: '', redacted: { id: r.id } })
  })

  it('toggles reactions per user, last writer (by ULID) wins in any order', async () => {
    const m = await say(alice, 'react to me')
    const on = await react(bob, m.id, '👍', true)
    const off = await react(bob, m.id, '👍', false)
    const heart = await react(alice, m.id, '❤️', true)
    const heartBob = await react(bob, m.id, '❤️', true)
    for (const order of [
      [m, on, off, heart, heartBob],
      [heartBob, off, heart, on, m],
    ]) {
      const v = view()
      v.apply(order)
      expect(v.message(m.id)!.reactions).toEqual([
        { emoji: '❤️', users: [publicKeyToText(alice.publicKey), publicKeyToText(bob.publicKey)].sort() },
      ])
    }
  })

  it('links replies both ways, even when the reply arrives first', async () => {
    const root = await say(alice, 'question')
    const reply = await say(bob, 'answer', root.id)
    const v = view()
    v.apply([reply])
    v.apply([root])
    expect(v.message(reply.id)!.replyTo).toBe(root.id)
    expect(v.message(root.id)!.replies).toEqual([reply.id])
  })

  it('keeps the latest profile per key and channel.meta only from moderators', async () => {
    const p1 = await stampAs(bob, Kind.profile, encodeProfile({ name: 'Bob' }))
    const p2 = await stampAs(
      bob,
      Kind.profile,
      encodeProfile({ name: 'Robert', avatar: new Uint8Array(32).fill(1) }),
    )
    const meta = await stampAs(mod, Kind.channelMeta, encodeChannelMeta({ topic: 'rules', pinned: [] }))
    const sneaky = await stampAs(bob, Kind.channelMeta, encodeChannelMeta({ topic: 'bob rules', pinned: [] }))
    const v = view()
    const change = v.apply([p2, meta, p1, sneaky])
    expect(v.profile(publicKeyToText(bob.publicKey))).toMatchObject({
      name: 'Robert',
      avatar: '01'.repeat(32),
    })
    expect(v.channelMeta()).toMatchObject({ topic: 'rules' })
    expect(change.ignored).toEqual([{ id: sneaky.id, reason: 'not-allowed' }])
    expect(change.profiles).toEqual([publicKeyToText(bob.publicKey)])
  })

  it('reports malformed bodies, unknown kinds and other channels without failing', async () => {
    const bad = await stampAs(alice, Kind.message, Uint8Array.of(9, 9))
    const unknown = await stampAs(alice, 'whiteboard.stroke', Uint8Array.of(1))
    const elsewhere = await stampAs(
      alice,
      Kind.message,
      encodeMessage({ text: 'hi', mentions: [] }),
      'random',
    )
    const doc = await stampAs(alice, Kind.yjs, encodeYjs({ doc: 'notes', update: Uint8Array.of(0, 0) }))
    const v = view()
    const change = v.apply([bad, unknown, elsewhere, doc])
    expect(change.ignored).toEqual([
      { id: bad.id, reason: 'malformed' },
      { id: unknown.id, reason: 'unknown-kind' },
      { id: elsewhere.id, reason: 'wrong-channel' },
    ])
    expect(v.size).toBe(0)
  })

  it('takes back events the log replaced, restoring what they had overridden', async () => {
    const m = await say(alice, 'once')
    const retried = await stampAs.restamp(m) // the same send, stamped twice
    const on = await react(bob, m.id, '👍', true)
    const off = await react(bob, m.id, '👍', false)
    const p1 = await stampAs(bob, Kind.profile, encodeProfile({ name: 'Bob' }))
    const p2 = await stampAs(bob, Kind.profile, encodeProfile({ name: 'Bobby' }))
    const meta1 = await stampAs(mod, Kind.channelMeta, encodeChannelMeta({ topic: 'one', pinned: [] }))
    const meta2 = await stampAs(mod, Kind.channelMeta, encodeChannelMeta({ topic: 'two', pinned: [] }))
    const reply = await say(bob, 'reply', retried.id)
    const v = view()
    v.apply([m, retried, on, off, p1, p2, meta1, meta2, reply])
    expect(v.size).toBe(3)
    const change = v.remove([retried.id, off.id, p2.id, meta2.id, retried.id])
    expect(change.messages).toEqual([m.id, retried.id].sort())
    expect(change.profiles).toEqual([publicKeyToText(bob.publicKey)])
    expect(change.meta).toBe(true)
    expect(v.has(retried.id)).toBe(false)
    expect(v.messages().map((x) => x.id)).toEqual([m.id, reply.id])
    expect(v.message(m.id)!.reactions).toEqual([{ emoji: '👍', users: [publicKeyToText(bob.publicKey)] }])
    expect(v.profile(publicKeyToText(bob.publicKey))!.name).toBe('Bob')
    expect(v.channelMeta()!.topic).toBe('one')
    // A removed event stays out even if delivered again; unknown ids are ignored.
    v.apply([retried])
    expect(v.has(retried.id)).toBe(false)
    expect(v.remove(['01HZZZZZZZZZZZZZZZZZZZZZZZ' as Ulid]).messages).toEqual([])
  })

  it('notifies listeners with the changed ids only, until unsubscribed', async () => {
    const m = await say(alice, 'x')
    const v = view()
    const seen: Ulid[][] = []
    const off = v.onChange((c) => seen.push(c.messages))
    v.apply([m])
    v.apply([m]) // duplicate: no change, no notification
    off()
    v.apply([await say(alice, 'y')])
    expect(seen).toEqual([[m.id]])
  })
})

describe('SortedIds', () => {
  it(`stays sorted across chunk splits (more than ${SORTED_IDS_CHUNK} ids, random order)`, () => {
    const rnd = prng(42)
    const ids = Array.from(
      { length: SORTED_IDS_CHUNK * 5 + 3 },
      (_, i) => `01H${String(i).padStart(23, '0')}` as Ulid,
    )
    const shuffled = [...ids].sort(() => rnd() - 0.5)
    const s = new SortedIds()
    for (const id of shuffled) expect(s.add(id)).toBe(true)
    expect(s.add(ids[7]!)).toBe(false)
    expect(s.size).toBe(ids.length)
    expect(s.toArray()).toEqual(ids)
    expect([...s]).toEqual(ids)
    expect(s.last(3)).toEqual(ids.slice(-3))
    expect(s.has(ids[1000]!)).toBe(true)
    expect(s.has('01H99999999999999999999999' as Ulid)).toBe(false)
    for (const id of ids.slice(0, SORTED_IDS_CHUNK + 10)) expect(s.delete(id)).toBe(true)
    expect(s.delete(ids[0]!)).toBe(false)
    expect(s.toArray()).toEqual(ids.slice(SORTED_IDS_CHUNK + 10))
    expect(s.has(ids[3]!)).toBe(false)
  })
})
