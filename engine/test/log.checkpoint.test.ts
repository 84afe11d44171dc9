/**
 * ChannelLog with relay checkpoints: covered events skip their relay stamp check (hashed), their
 * author signatures are checked all the same, anything else is verified one by one, and the
 * accepted set is always the one per-event verification gives.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  CHECKPOINT_KIND,
  CheckpointWindow,
  checkpointAuthored,
  stampCheckpoint,
  ulidAfter,
  verifyCheckpointEvent,
} from '../src/checkpoint.ts'
import { encodeAuthored, eventDigest, type StampedEvent, signRequest, stamp } from '../src/event.ts'
import type { Ed25519Backend } from '../src/identity/backend.ts'
import { Domain } from '../src/identity/domains.ts'
import { Identity } from '../src/identity/keys.ts'
import { ChannelLog, RejectReason } from '../src/log.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import { MemoryStore } from '../src/store/memory.ts'
import { fixtureUlid, signedPool, withCheckpoints } from '../src/testing/index.ts'
import { counting } from './signature-fixtures.ts'

useNodeCrypto()

const CH = 'general'
const EVERY = 16
let relay: Identity
let otherRelay: Identity
let alice: Identity
let bob: Identity
/** 100 events with a checkpoint after every 16 stamps (the checkpoints included), ids ascending. */
let pool: StampedEvent[]
let plain: StampedEvent[]
/** Each checkpoint's window: the pool indices it covers (the previous checkpoint included) and its own. */
let windows: { members: number[]; cp: number }[]

beforeAll(async () => {
  relay = await Identity.fromSeed(new Uint8Array(32).fill(90))
  otherRelay = await Identity.fromSeed(new Uint8Array(32).fill(91))
  alice = await Identity.fromSeed(new Uint8Array(32).fill(1))
  bob = await Identity.fromSeed(new Uint8Array(32).fill(2))
  plain = await signedPool({ channel: CH, relay, authors: [alice, bob], count: 100 })
  pool = await withCheckpoints(plain, relay, EVERY)
  windows = []
  let members: number[] = []
  pool.forEach((e, i) => {
    if (e.kind === CHECKPOINT_KIND) {
      windows.push({ members, cp: i })
      members = []
    }
    members.push(i)
  })
})

/** Non-checkpoint events in windows, i.e. what `vouched` counts. */
const plainIn = (members: number[]) => members.filter((i) => pool[i]!.kind !== CHECKPOINT_KIND).length

const newLog = (o: { checkpoints?: boolean; verifyAuthors?: boolean; backend?: Ed25519Backend } = {}) =>
  new ChannelLog({ channel: CH, store: new MemoryStore(), relayKeys: [relay.publicKey], ...o })

const checkpointsOf = (events: StampedEvent[]) => events.filter((e) => e.kind === CHECKPOINT_KIND)
const flip = (b: Uint8Array, at = 0): Uint8Array => {
  const c = b.slice()
  c[at % c.length]! ^= 1
  return c
}
const ids = async (log: ChannelLog) => (await log.range({})).map((e) => e.id)

/** Adds `batches` in order to a checkpoint log and a per-event log; both must end equal. */
async function both(batches: StampedEvent[][]) {
  const fast = newLog()
  const slow = newLog({ checkpoints: false })
  let vouched = 0
  const rejected: string[] = []
  for (const b of batches) {
    const [r, s] = await Promise.all([fast.add(b), slow.add(b)])
    vouched += r.vouched
    rejected.push(...r.rejected.map((x) => `${x.id}:${x.reason}`))
    expect(r.rejected.map((x) => x.id).sort()).toEqual(s.rejected.map((x) => x.id).sort())
    expect(s.vouched).toBe(0)
  }
  expect(await ids(fast)).toEqual(await ids(slow))
  expect(await fast.fingerprint({})).toEqual(await slow.fingerprint({}))
  return { fast, slow, vouched, rejected }
}

describe('ChannelLog with relay checkpoints', () => {
  it('accepts whole checkpointed windows by hashing their stamps: one signature check per event, the author one', async () => {
    const backend = counting()
    const log = newLog({ backend })
    const r = await log.add(pool)
    const cps = checkpointsOf(pool)
    expect(r.rejected).toEqual([])
    expect(r.added).toHaveLength(pool.length)
    expect(r.vouched).toBe(plain.length) // checkpoint events are checked as checkpoints, not vouched
    expect(backend.calls).toBe(2 * cps.length + plain.length)
    // Nothing is left to check later: the background audit of old is a no-op.
    expect(log.pendingAudit).toBe(0)
    expect(await log.auditAuthors()).toEqual({ checked: 0, removed: [] })
    expect(log.checkpointsTrusted).toBe(true)
  })

  it('relay-only mode accepts covered events with no signature check but the checkpoints', async () => {
    const backend = counting()
    const log = newLog({ verifyAuthors: false, backend })
    const r = await log.add(pool)
    expect(r.vouched).toBe(plain.length)
    expect(backend.calls).toBe(2 * checkpointsOf(pool).length)
  })

  it('a log with checkpoints off still accepts checkpoint events (under their own domain) and verifies all', async () => {
    const backend = counting()
    const log = newLog({ checkpoints: false, backend })
    const r = await log.add(pool)
    expect(r.added).toHaveLength(pool.length)
    expect(r.vouched).toBe(0)
    expect(backend.calls).toBe(2 * pool.length)
  })

  it('property: a tampered event inside a checkpointed range is rejected; the rest is accepted', async () => {
    const positions = pool.map((e, i) => (e.kind === CHECKPOINT_KIND ? -1 : i)).filter((i) => i >= 0)
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...positions),
        fc.constantFrom('body', 'clientNonce', 'authorSig', 'relaySig', 'author', 'restamped', 'otherRelay'),
        fc.nat(),
        async (at, how, byte) => {
          const e = pool[at]!
          let bad: StampedEvent
          if (how === 'restamped') {
            // New content signed by its author and stamped with the same id by an untrusted key.
            const req = await signRequest(alice, { ...e, body: flip(e.body, byte) })
            bad = await stamp(otherRelay, e.id, req)
          } else if (how === 'otherRelay') bad = await stamp(otherRelay, e.id, e)
          else bad = { ...e, [how]: flip(e[how], byte) }
          const batch = pool.map((x, i) => (i === at ? bad : x))
          const { fast, rejected, vouched } = await both([batch])
          expect(rejected).toHaveLength(1)
          expect(rejected[0]!.startsWith(`${e.id}:`)).toBe(true)
          expect(await fast.count()).toBe(pool.length - 1)
          // The tampered event's window falls back to per-event checks; the others are vouched.
          const mine = windows.find((w) => w.members.includes(at))!
          expect(vouched).toBe(plain.length - plainIn(mine.members))
        },
      ),
      { numRuns: 40 },
    )
  })

  it('a relay that re-stamps a different event under a covered id is refused as idConflict, not vouched', async () => {
    const e = plain[3]!
    const other = await stamp(relay, e.id, await signRequest(bob, { ...e, body: new Uint8Array([7]) }))
    const log = newLog()
    await log.add(pool)
    const r = await log.add([other])
    expect(r.rejected.map((x) => x.reason)).toEqual([RejectReason.idConflict])
    expect(r.vouched).toBe(0)
  })

  it('forged checkpoints are rejected and cover nothing; their events are verified one by one', async () => {
    const cps = checkpointsOf(pool)
    const cp0 = cps[0]!
    const decoded = (await verifyCheckpointEvent(cp0, [relay.publicKey]))!
    const authored = checkpointAuthored(relay.publicKey, CH, decoded)
    const forgeries: [string, StampedEvent, RejectReason][] = [
      ['body bit flipped', { ...cp0, body: flip(cp0.body, 40) }, RejectReason.badRelaySig],
      ['checkpoint signature flipped', { ...cp0, authorSig: flip(cp0.authorSig) }, RejectReason.badRelaySig],
      [
        'signed under the event domain',
        await stamp(relay, cp0.id, {
          ...authored,
          authorSig: await relay.sign(Domain.event, encodeAuthored(authored)),
        }),
        RejectReason.badAuthorSig,
      ],
      ['another relay key', await stampCheckpoint(otherRelay, cp0.id, CH, decoded), RejectReason.badRelaySig],
      ['re-stamped by another key', await stamp(otherRelay, cp0.id, cp0), RejectReason.badRelaySig],
    ]
    for (const [what, forged, reason] of forgeries) {
      const backend = counting()
      const log = newLog({ backend })
      const window = pool.slice(0, EVERY)
      const r = await log.add([...window, forged])
      expect(
        r.rejected.map((x) => x.reason),
        what,
      ).toEqual([reason])
      expect(r.vouched, what).toBe(0)
      expect(r.added, what).toHaveLength(EVERY)
      expect(backend.calls, what).toBeGreaterThanOrEqual(2 * EVERY)
    }
  })

  it('a validly signed checkpoint whose root does not match what is held covers nothing', async () => {
    // The trusted key signs a checkpoint over the right range but a wrong list of digests.
    const w = new CheckpointWindow()
    for (const e of plain.slice(0, EVERY)) w.add(e.id, eventDigest({ ...e, body: flip(e.body) }))
    const lying = await stampCheckpoint(relay, ulidAfter(plain[EVERY - 1]!.id), CH, w.close()!)
    const { vouched, rejected, fast } = await both([[...plain.slice(0, EVERY), lying]])
    expect(vouched).toBe(0)
    expect(rejected).toEqual([])
    expect(await fast.count()).toBe(EVERY + 1)
  })

  it('a checkpoint of another channel is refused (channel mismatch) and covers nothing', async () => {
    const other = await withCheckpoints(
      await signedPool({ channel: 'random', relay, authors: [alice], count: EVERY }),
      relay,
      EVERY,
    )
    const log = newLog()
    const r = await log.add([...pool.slice(0, EVERY), other[EVERY]!])
    expect(r.rejected.map((x) => x.reason)).toEqual([RejectReason.channelMismatch])
    expect(r.vouched).toBe(0)
  })

  it('property: any subset in any batches gives the per-event result; partial windows fall back', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: pool.length, maxLength: pool.length }),
        fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (keep, cuts, shuffle) => {
          const held = pool.filter((_, i) => keep[i])
          if (shuffle) held.reverse()
          const batches: StampedEvent[][] = []
          let from = 0
          for (const c of cuts) {
            batches.push(held.slice(from, from + c))
            from += c
          }
          batches.push(held.slice(from))
          const { fast, vouched } = await both(batches)
          expect(await fast.count()).toBe(held.length)
          // A window is vouched only if every one of its events (and its checkpoint) is held.
          let maxVouched = 0
          for (const w of windows)
            if (keep[w.cp] && w.members.every((i) => keep[i])) maxVouched += plainIn(w.members)
          expect(vouched).toBeLessThanOrEqual(maxVouched)
          // Delivered in one batch in id order, every whole window is vouched.
          if (cuts.length === 1 && !shuffle && cuts[0]! >= held.length) expect(vouched).toBe(maxVouched)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('a window completed across batches uses the held half; a checkpoint seen first covers later events', async () => {
    const cps = checkpointsOf(pool)
    // Held first half (verified per event), then the second half with the checkpoint.
    const a = newLog()
    const r1 = await a.add(pool.slice(0, 8))
    const r2 = await a.add(pool.slice(8, EVERY + 1))
    expect(r1.vouched).toBe(0)
    expect(r2.vouched).toBe(EVERY - 8)
    expect(r2.added).toHaveLength(EVERY - 8 + 1)
    // The checkpoint first, its events later.
    const b = newLog()
    expect((await b.add([cps[0]!])).added).toHaveLength(1)
    const r3 = await b.add(pool.slice(0, EVERY))
    expect(r3.vouched).toBe(EVERY)
  })

  it('a relay restart mid-window: the old window is never covered; stamps of another process in a range break it', async () => {
    // Process 1 stamped plain[0..20) with a checkpoint after 16, and died with 4 stamps in an open window.
    const p1 = await withCheckpoints(plain.slice(0, EVERY), relay, EVERY)
    const open = plain.slice(EVERY, EVERY + 4)
    // Process 2 (a fresh window) stamped the next 16 with its own checkpoint.
    const p2 = await withCheckpoints(plain.slice(EVERY + 4, 2 * EVERY + 4), relay, EVERY)
    const all = [...p1, ...open, ...p2]
    const { vouched } = await both([all])
    expect(vouched).toBe(2 * EVERY)
    // Process 2's clock stepped back: one of its stamps lies inside process 1's checkpointed range.
    const intruder = await stamp(
      relay,
      ulidAfter(plain[3]!.id),
      await signRequest(alice, { ...plain[3]!, clientNonce: new Uint8Array(16).fill(0xee) }),
    )
    expect(intruder.id > plain[3]!.id && intruder.id < plain[4]!.id).toBe(true)
    const { vouched: v2, fast } = await both([[...all, intruder]])
    expect(v2).toBe(EVERY) // only process 2's window
    expect(await fast.count()).toBe(all.length + 1)
  })

  it('a retried send stamped twice inside covered windows is deduplicated like per-event (smaller id wins)', async () => {
    const req = await signRequest(alice, {
      channel: CH,
      kind: 'message',
      clientNonce: new Uint8Array(16).fill(5),
      body: new Uint8Array([1]),
    })
    const events = [...plain.slice(0, 6)]
    const first = await stamp(relay, fixtureUlid(plain[5]!.ts + 1, 1), req)
    const again = await stamp(relay, fixtureUlid(plain[5]!.ts + 2, 2), req)
    const withDup = await withCheckpoints([...events, first, again], relay, 8)
    const { fast, vouched } = await both([[...withDup].reverse()])
    expect(vouched).toBe(8)
    expect(await ids(fast)).not.toContain(again.id)
    expect(await ids(fast)).toContain(first.id)
  })

  it('an event with a bad author signature is refused on arrival though a checkpoint covers it; the rest is vouched', async () => {
    const forged = await stamp(relay, fixtureUlid(plain[2]!.ts + 1, 77), {
      ...plain[2]!,
      clientNonce: new Uint8Array(16).fill(0xab),
      authorSig: flip(plain[2]!.authorSig, 10),
    })
    const events = await withCheckpoints(
      [...plain.slice(0, 7), forged].sort((a, b) => (a.id < b.id ? -1 : 1)),
      relay,
      8,
    )
    // The relay stamps it (it checks no author signature of an ordinary event) and checkpoints it.
    const log = newLog()
    const r = await log.add(events)
    expect(r.rejected).toEqual([
      expect.objectContaining({ id: forged.id, reason: RejectReason.badAuthorSig }),
    ])
    expect(r.vouched).toBe(7)
    expect(await ids(log)).not.toContain(forged.id)
    // Honest behaviour by the relay: checkpoints stay in use.
    expect(log.checkpointsTrusted).toBe(true)
    const again = await log.add([forged])
    expect(again.rejected.map((x) => x.reason)).toEqual([RejectReason.badAuthorSig])
    const second = windows[1]!
    const later = await log.add(pool.slice(second.members[0], second.cp + 1))
    expect(later.vouched).toBe(plainIn(second.members))
  })
})
