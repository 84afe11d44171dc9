/**
 * ChannelView convergence: for any random history (messages, replies, edits, reactions,
 * redactions, profiles, channel.meta, malformed bodies) delivered to 2-8 replicas with any
 * permutation, duplication, batching and partition-then-heal schedule, every replica's
 * canonical snapshot is identical and equals a naive re-fold written independently of the
 * incremental code (which also checks that unauthorised edits and redactions never show).
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../src/bytes.ts'
import {
  type ChatBody,
  decodeChatBody,
  encodeChannelMeta,
  encodeEdit,
  encodeMessage,
  encodeProfile,
  encodeReaction,
  encodeRedact,
} from '../src/chat/bodies.ts'
import { ChannelView, type MessageView } from '../src/chat/channel-view.ts'
import { Kind } from '../src/chat/kinds.ts'
import type { StampedEvent } from '../src/event.ts'
import type { Identity } from '../src/identity/keys.ts'
import { publicKeyToText } from '../src/identity/keys.ts'
import type { Ulid } from '../src/ulid.ts'
import { CHANNEL, cast, moderatorRoles, nonceKey, schedule, stamper } from './projection-fixtures.ts'

const RUNS = 200

type Op =
  | { t: 'msg'; user: number; text: string; reply: number | null; mention: boolean }
  | { t: 'edit'; user: number; own: boolean; target: number; text: string }
  | { t: 'redact'; user: number; own: boolean; target: number; reason: string | null }
  | { t: 'react'; user: number; target: number; emoji: string; on: boolean }
  | { t: 'profile'; user: number; name: string }
  | { t: 'meta'; user: number; topic: string; pins: number[] }
  | { t: 'garbage'; user: number; kind: string; bytes: Uint8Array }
  | { t: 'retry'; of: number }

const user = fc.nat(3)
const text = fc.string({ maxLength: 12 })
const target = fc.nat(12)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('msg' as const),
      user,
      text,
      reply: fc.option(target),
      mention: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('edit' as const), user, own: fc.boolean(), target, text }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('redact' as const),
      user,
      own: fc.boolean(),
      target,
      reason: fc.option(text),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('react' as const),
      user,
      target,
      emoji: fc.constantFrom('👍', '❤️', 'a\nb'),
      on: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('profile' as const), user, name: text }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('meta' as const),
      user,
      topic: text,
      pins: fc.array(target, { maxLength: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('garbage' as const),
      user,
      kind: fc.constantFrom(Kind.message, Kind.edit, Kind.reaction),
      bytes: fc.uint8Array({ maxLength: 20 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('retry' as const), of: fc.nat() }) },
)

let users: Identity[]
let stampAs: ReturnType<typeof stamper>
let roles: ReturnType<typeof moderatorRoles>

beforeAll(async () => {
  const c = await cast(4)
  users = c.users
  stampAs = stamper(c.relay)
  roles = moderatorRoles(users[0]!)
})

/** Turns ops into stamped events; targets index earlier messages (or one id that never exists). */
async function realise(ops: Op[]): Promise<StampedEvent[]> {
  const events: StampedEvent[] = []
  const messages: { id: Ulid; author: number }[] = []
  const ghost = '7ZZZZZZZZZZZZZZZZZZZZZZZZZ' as Ulid
  const pick = (i: number) =>
    messages.length === 0 || i % (messages.length + 1) === messages.length
      ? undefined
      : messages[i % (messages.length + 1)]
  const ref = (i: number): Ulid => pick(i)?.id ?? ghost
  for (const op of ops) {
    let ev: StampedEvent
    switch (op.t) {
      case 'msg': {
        const body = encodeMessage({
          text: op.text,
          mentions: op.mention ? [users[(op.user + 1) % 4]!.publicKey] : [],
          ...(op.reply !== null && messages.length > 0 ? { replyTo: ref(op.reply) } : {}),
        })
        ev = await stampAs(users[op.user]!, Kind.message, body)
        messages.push({ id: ev.id, author: op.user })
        break
      }
      case 'edit': {
        const who = op.own ? (pick(op.target)?.author ?? op.user) : op.user
        ev = await stampAs(users[who]!, Kind.edit, encodeEdit({ target: ref(op.target), text: op.text }))
        break
      }
      case 'redact': {
        const who = op.own ? (pick(op.target)?.author ?? op.user) : op.user
        const body = encodeRedact(
          op.reason === null ? { target: ref(op.target) } : { target: ref(op.target), reason: op.reason },
        )
        ev = await stampAs(users[who]!, Kind.redact, body)
        break
      }
      case 'react':
        ev = await stampAs(
          users[op.user]!,
          Kind.reaction,
          encodeReaction({ target: ref(op.target), emoji: op.emoji, on: op.on }),
        )
        break
      case 'profile':
        ev = await stampAs(users[op.user]!, Kind.profile, encodeProfile({ name: op.name }))
        break
      case 'meta':
        ev = await stampAs(
          users[op.user]!,
          Kind.channelMeta,
          encodeChannelMeta({ topic: op.topic, pinned: op.pins.map(ref) }),
        )
        break
      case 'garbage':
        ev = await stampAs(users[op.user]!, op.kind, op.bytes)
        break
      case 'retry':
        if (events.length === 0) continue
        ev = await stampAs.restamp(events[op.of % events.length]!)
        if (ev.kind === Kind.message)
          messages.push({ id: ev.id, author: users.findIndex((u) => u.publicKey === ev.author) })
        break
    }
    events.push(ev)
  }
  return events
}

/** The rules, written as a naive fold over the whole sorted log (quadratic, obviously right). */
function oracle(events: StampedEvent[]) {
  const byId = new Map(events.map((e) => [e.id, e]))
  // The log keeps one event per (author, clientNonce): the smallest id.
  const keep = new Map<string, StampedEvent>()
  for (const e of [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1)))
    if (!keep.has(nonceKey(e))) keep.set(nonceKey(e), e)
  const sorted = [...keep.values()].sort((a, b) => (a.id < b.id ? -1 : 1))
  type Decoded = ChatBody | { kind: typeof Kind.message; body: null } // null: an erased message
  const decoded = sorted.flatMap((e) => {
    const base = { e, author: publicKeyToText(e.author), mod: roles(e.author, e.ts).size > 0 }
    if (e.kind === Kind.message && e.body.length === 0)
      return [{ ...base, d: { kind: Kind.message, body: null } as Decoded }]
    try {
      const d = decodeChatBody(e.kind, e.body)
      return d ? [{ ...base, d: d as Decoded }] : []
    } catch {
      return []
    }
  })
  const messages: MessageView[] = []
  for (const m of decoded) {
    if (m.d.kind !== Kind.message) continue
    const id = m.e.id
    const on = (k: string) =>
      decoded.filter(
        (x) => x.d.kind === k && x.d.body !== null && 'target' in x.d.body && x.d.body.target === id,
      )
    const view: MessageView = {
      id,
      ts: m.e.ts,
      author: m.author,
      text: '',
      mentions: [],
      versions: [],
      reactions: [],
      replies: [],
    }
    const latest = new Map<string, { emoji: string; user: string; on: boolean }>()
    for (const r of on(Kind.reaction))
      if (r.d.kind === Kind.reaction)
        latest.set(`${r.d.body.emoji}\n${r.author}`, {
          emoji: r.d.body.emoji,
          user: r.author,
          on: r.d.body.on,
        })
    const emojis = [...new Set([...latest.values()].filter((r) => r.on).map((r) => r.emoji))].sort()
    view.reactions = emojis.map((emoji) => ({
      emoji,
      users: [...latest.values()]
        .filter((r) => r.on && r.emoji === emoji)
        .map((r) => r.user)
        .sort(),
    }))
    view.replies = decoded
      .filter((x) => x.d.kind === Kind.message && x.d.body?.replyTo === id)
      .map((x) => x.e.id)
    const tomb = on(Kind.redact).find((r) => r.author === m.author || r.mod)
    if (tomb && tomb.d.kind === Kind.redact) {
      view.redacted = {
        id: tomb.e.id,
        ts: tomb.e.ts,
        by: tomb.author,
        ...(tomb.d.body.reason !== undefined ? { reason: tomb.d.body.reason } : {}),
      }
    } else if (m.d.kind === Kind.message && m.d.body !== null) {
      if (m.d.body.replyTo) view.replyTo = m.d.body.replyTo
      view.mentions = m.d.body.mentions.map(publicKeyToText)
      view.versions = [{ id, ts: m.e.ts, text: m.d.body.text }]
      for (const x of on(Kind.edit))
        if (x.author === m.author && x.d.kind === Kind.edit)
          view.versions.push({ id: x.e.id, ts: x.e.ts, text: x.d.body.text })
      view.text = view.versions.at(-1)!.text
    }
    messages.push(view)
  }
  const profiles = new Map<string, { key: string; id: Ulid; name: string; avatar?: string }>()
  let meta: { id: Ulid; by: string; topic: string; pinned: Ulid[] } | null = null
  for (const x of decoded) {
    if (x.d.kind === Kind.profile)
      profiles.set(x.author, {
        key: x.author,
        id: x.e.id,
        name: x.d.body.name,
        ...(x.d.body.avatar ? { avatar: toHex(x.d.body.avatar) } : {}),
      })
    if (x.d.kind === Kind.channelMeta && x.mod)
      meta = { id: x.e.id, by: x.author, topic: x.d.body.topic, pinned: x.d.body.pinned }
  }
  return { messages, profiles: [...profiles.values()].sort((a, b) => (a.key < b.key ? -1 : 1)), meta }
}

/**
 * What the log does in front of the view: keep one event per (author, clientNonce), the
 * smallest id; a smaller one arriving later replaces the held one, which leaves the view.
 */
function logDedup(view: ChannelView): (batch: StampedEvent[]) => void {
  const held = new Map<string, Ulid>()
  return (batch) => {
    let accepted: StampedEvent[] = []
    const replaced: Ulid[] = []
    for (const ev of batch) {
      const key = nonceKey(ev)
      const prev = held.get(key)
      if (prev !== undefined && prev <= ev.id) {
        if (prev === ev.id) accepted.push(ev) // a plain duplicate: the view ignores it
        continue
      }
      if (prev !== undefined) {
        accepted = accepted.filter((e) => e.id !== prev)
        replaced.push(prev) // the view may hold it from an earlier batch
      }
      held.set(key, ev.id)
      accepted.push(ev)
    }
    if (replaced.length) view.remove(replaced)
    view.apply(accepted)
  }
}

describe('ChannelView convergence (property)', () => {
  it(`every replica converges to the naive fold, whatever the schedule (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' }),
        fc.array(fc.record({ seed: fc.integer(), partition: fc.nat(15) }), { minLength: 2, maxLength: 8 }),
        async (ops, replicas) => {
          const events = await realise(ops)
          const expected = JSON.stringify(oracle(events))
          for (const { seed, partition } of replicas) {
            const view = new ChannelView(CHANNEL, { roles })
            const deliver = logDedup(view)
            // Partition first: only events from the reachable authors, then heal with everything.
            const keys = users.map((u) => publicKeyToText(u.publicKey))
            const reachable = events.filter((e) => (partition >> keys.indexOf(publicKeyToText(e.author))) & 1)
            for (const batch of schedule(reachable, seed)) deliver(batch)
            for (const batch of schedule(events, seed ^ 0x5bd1e995)) deliver(batch)
            expect(JSON.stringify(view.toJSON())).toBe(expected)
          }
        },
      ),
      { numRuns: RUNS },
    )
  })
})
