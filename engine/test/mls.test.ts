/**
 * MLS groups over a channel log (engine/src/mls): members join by Welcome and read each other;
 * a removed member reads nothing after; the log's order decides concurrent commits and the loser
 * proposes again; forged, replayed and misattributed events are refused; a member offline across
 * epochs catches up; messages that reach the log after later ones are decrypted, once; and, as a
 * property, random schedules of adds, removes and messages end with every member in the same
 * epoch, the same commits and the same plaintexts.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { concatBytes, equalBytes } from '../src/bytes.ts'
import { DecodeError } from '../src/errors.ts'
import { Identity } from '../src/identity/keys.ts'
import { type CommitPolicy, MlsDevice, MlsGroup, MlsKind, readKeyPackage } from '../src/mls/index.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import {
  crowd,
  GROUP,
  type Person,
  person,
  publishedKeyPackage,
  say,
  settle,
  startGroup,
  TestLog,
} from './mls-fixtures.ts'

beforeAll(() => useNodeCrypto())

const text = (s: string) => new TextEncoder().encode(s)
const names = (p: Person) => p.channel.group?.members().map((k) => k[0]) ?? []

describe('MLS over a channel log', () => {
  it('adds members by Welcome; everyone reads everyone; the relay sees no plaintext', {
    timeout: 60_000,
  }, async () => {
    const log = new TestLog()
    const { ann, bob, cara } = await crowd(log, 'ann', 'bob', 'cara')
    await startGroup(log, ann, bob, cara)
    expect(bob.channel.group?.epoch).toBe(1n)
    expect(cara.channel.group?.members()).toHaveLength(3)
    await say(ann, 'canary-7f3e hello from ann')
    await say(bob, 'hi from bob')
    await say(cara, 'hi from cara')
    await settle([ann, bob, cara], log)
    const sent = { ann: 'canary-7f3e hello from ann', bob: 'hi from bob', cara: 'hi from cara' }
    // Each reads the others' (a device keeps what it sent itself: MLS does not decrypt one's own).
    for (const p of [ann, bob, cara])
      expect([...p.got.values()].sort()).toEqual(
        Object.entries(sent)
          .filter(([who]) => who !== p.name)
          .map(([, t]) => t)
          .sort(),
      )
    const all = concatBytes(...log.events.map((e) => e.body))
    expect(Buffer.from(all).includes(Buffer.from('canary-7f3e'))).toBe(false)
  })

  it('a removed member cannot read what is sent after, even with its state from before', {
    timeout: 60_000,
  }, async () => {
    const log = new TestLog()
    const { ann, bob, cara } = await crowd(log, 'ann', 'bob', 'cara')
    await startGroup(log, ann, bob, cara)
    const caraBefore = cara.channel.group!.save()
    await ann.channel.remove([cara.id.publicKey])
    await settle([ann, bob, cara], log)
    expect(cara.channel.group?.active).toBe(false)
    expect(bob.channel.group?.members()).toHaveLength(2)
    await say(bob, 'after cara left')
    await settle([ann, bob, cara], log)
    const last = log.events.at(-1)!
    expect(ann.got.get(last.id)).toBe('after cara left')
    expect(cara.got.has(last.id)).toBe(false)
    // Her state from before the removal: the new epoch is beyond it, and the old epoch's keys do not open it.
    const stale = MlsGroup.load(cara.device, caraBefore)
    expect(await stale.receive(last)).toMatchObject({ type: 'behind' })
    const removal = log.events.filter((e) => e.kind === MlsKind.commit).at(-1)!
    const r = await stale.receive(removal)
    expect(r).toMatchObject({ type: 'commit', removedMe: true })
    expect((await stale.receive(last)).type).not.toBe('message')
    await expect(stale.encrypt('message', text('still here?'))).rejects.toThrow()
  })

  it('two commits of one epoch: the log order wins, the loser proposes again, all converge', {
    timeout: 60_000,
  }, async () => {
    const log = new TestLog()
    const { ann, bob, cara, dave } = await crowd(log, 'ann', 'bob', 'cara', 'dave')
    await startGroup(log, ann, bob, cara)
    // Both commit on epoch 1 before seeing each other's: Bob's is stamped first.
    const daveKp = await publishedKeyPackage(dave, log)
    await bob.channel.remove([cara.id.publicKey])
    await ann.channel.add([daveKp])
    await settle([ann, bob, cara, dave], log)
    for (const p of [ann, bob, dave]) {
      expect(p.channel.group?.epoch).toBe(3n)
      expect(p.channel.group?.members().map((k) => Buffer.from(k).toString('hex'))).toEqual(
        ann.channel.group!.members().map((k) => Buffer.from(k).toString('hex')),
      )
    }
    expect(names(ann)).toHaveLength(3) // Ann, Bob, Dave
    expect(cara.channel.group?.active).toBe(false)
    // Same commit per epoch for everyone who saw it.
    expect(ann.epochs.get(2n)).toBe(bob.epochs.get(2n))
    expect(ann.epochs.get(3n)).toBe(dave.epochs.get(3n))
    await say(dave, 'dave is in')
    await settle([ann, bob, cara, dave], log)
    expect(ann.got.get(log.events.at(-1)!.id)).toBe('dave is in')
  })

  it('refuses forged, replayed and misattributed events', { timeout: 60_000 }, async () => {
    const log = new TestLog()
    const { ann, bob, eve } = await crowd(log, 'ann', 'bob', 'eve')
    await startGroup(log, ann, bob)
    const group = bob.channel.group!
    const commit = log.events.find((e) => e.kind === MlsKind.commit)!
    // Replayed commit (an earlier epoch now).
    expect(await group.receive(commit)).toMatchObject({ type: 'ignored' })
    // Ann's message re-posted under Eve's name: the inner author is not the event's.
    await say(ann, 'from ann')
    const msg = log.events.at(-1)!
    const copy = {
      ...msg,
      id: log.append(eve.id.publicKey, msg.kind, msg.body).id,
      author: eve.id.publicKey,
    }
    expect(await group.receive(copy)).toMatchObject({ type: 'ignored', reason: /another author/ })
    // Garbage and truncated bodies.
    expect(await group.receive({ ...msg, body: new Uint8Array([1, 2, 3]) })).toMatchObject({
      type: 'ignored',
    })
    expect(await group.receive({ ...msg, body: msg.body.subarray(0, msg.body.length - 5) })).toMatchObject({
      type: 'ignored',
    })
    // A commit in Ann's name posted by Eve (the relay says Eve wrote the event).
    const annGroup = MlsGroup.load(ann.device, ann.channel.group!.save())
    const forged = await annGroup.commit({ add: [await publishedKeyPackage(eve, log)], remove: [] })
    const fake = log.append(eve.id.publicKey, MlsKind.commit, forged!.commit)
    expect(await bob.channel.group!.receive(fake)).toMatchObject({
      type: 'ignored',
      reason: /not made by its author/,
    })
    // A key package whose credential is not its author's.
    const kp = await eve.device.keyPackage()
    await expect(readKeyPackage(kp, ann.id.publicKey)).rejects.toThrow(DecodeError)
    // A device whose credential is vouched by another key never enters a group.
    const mallory = await Identity.generate()
    const liar = await MlsDevice.create(mallory, eve.device.key)
    const liarKp = await liar.keyPackage()
    await expect(readKeyPackage(liarKp, eve.id.publicKey)).rejects.toThrow(DecodeError)
  })

  it("a private channel's policy: only its admin adds and removes; others' commits are refused", {
    timeout: 60_000,
  }, async () => {
    const log = new TestLog()
    let admin: Uint8Array = new Uint8Array()
    const onlyAdmin: CommitPolicy = ({ committer }) => equalBytes(committer, admin)
    const ann = await person('ann', log, onlyAdmin)
    const bob = await person('bob', log, onlyAdmin)
    const cara = await person('cara', log, onlyAdmin)
    admin = ann.id.publicKey
    await startGroup(log, ann, bob, cara)
    await expect(bob.channel.remove([cara.id.publicKey])).rejects.toThrow(/may not change/)
    // Bob commits anyway, around his channel: the others ignore it and stay where they were.
    const rogue = MlsGroup.load(bob.device, bob.channel.group!.save())
    const made = await rogue.commit({ add: [], remove: [cara.id.publicKey] })
    const event = log.append(bob.id.publicKey, MlsKind.commit, made!.commit)
    expect(
      await MlsGroup.load(ann.device, ann.channel.group!.save()).receive(event, onlyAdmin),
    ).toMatchObject({
      type: 'ignored',
      reason: /policy refuses/,
    })
    await settle([ann, cara], log)
    expect(cara.channel.group?.active).toBe(true)
    expect(ann.channel.group?.epoch).toBe(1n)
    // Without the policy (a direct message), the same commit counts.
    expect(await MlsGroup.load(cara.device, cara.channel.group!.save()).receive(event)).toMatchObject({
      type: 'commit',
      removedMe: true,
    })
  })

  it('a member offline across several epochs catches up from the log', { timeout: 60_000 }, async () => {
    const log = new TestLog()
    const { ann, bob, cara, dave, erin } = await crowd(log, 'ann', 'bob', 'cara', 'dave', 'erin')
    await startGroup(log, ann, bob)
    // Bob is away while three epochs pass, with messages in each.
    for (const p of [cara, dave, erin]) {
      await ann.channel.add([await publishedKeyPackage(p, log)])
      await settle([ann, cara, dave, erin], log)
      await say(ann, `epoch ${ann.channel.group!.epoch}`)
    }
    await settle([ann, cara, dave, erin], log)
    expect(bob.channel.group!.epoch).toBe(1n)
    await bob.channel.take(log.events)
    expect(bob.channel.group!.epoch).toBe(4n)
    expect([...bob.got.values()]).toEqual(['epoch 2', 'epoch 3', 'epoch 4'])
    // A gap: events of a later epoch wait until what is missing arrives.
    const late = await person('late', log)
    await ann.channel.add([await publishedKeyPackage(late, log)])
    await ann.channel.take(log.events) // her commit is hers once the log has it
    await say(ann, 'epoch 5')
    const tail = log.events.slice(-3) // commit, welcome, message
    const bobGroup = bob.channel.group!
    expect(await MlsGroup.load(bob.device, bobGroup.save()).receive(tail[2]!)).toMatchObject({
      type: 'behind',
      epoch: 5n,
    })
  })

  it('messages that reach the log after later ones are decrypted once, late', {
    timeout: 60_000,
  }, async () => {
    const log = new TestLog()
    const { ann, bob } = await crowd(log, 'ann', 'bob')
    await startGroup(log, ann, bob)
    for (let i = 1; i <= 5; i++) await say(ann, `m${i}`)
    const [m1, m2, m3, m4, m5] = log.events.slice(-5)
    const heard: string[] = []
    bob.channel.on({ message: (id) => heard.push(id) })
    // Bob gets 3..5 live; 1..2 come after by a catch-up, with ids below the last he took.
    await bob.channel.take([m3!, m4!, m5!])
    expect(heard).toEqual([m3!.id, m4!.id, m5!.id])
    expect(bob.channel.last).toBe(m5!.id)
    // Through `take` they are old news (log order); as late arrivals (`takeLate`) they are read.
    await bob.channel.take([m1!, m2!])
    expect(heard).toEqual([m3!.id, m4!.id, m5!.id])
    await bob.channel.takeLate([m1!, m2!])
    expect(heard).toEqual([m3, m4, m5, m1, m2].map((e) => e!.id))
    expect([m1, m2].map((e) => bob.got.get(e!.id))).toEqual(['m1', 'm2'])
    expect(bob.channel.last).toBe(m5!.id) // `last` does not move back
    expect(bob.channel.group!.epoch).toBe(1n)
    // Taken again (the whole log, or the late ones once more): nothing is decrypted twice.
    await bob.channel.take(log.events)
    await bob.channel.takeLate([m1!, m2!, m3!])
    expect(heard).toHaveLength(5)
    expect(bob.channel.last).toBe(m5!.id)
    // The group reads on.
    await say(ann, 'm6')
    await bob.channel.take(log.events)
    expect(heard).toHaveLength(6)
    expect(bob.got.get(log.events.at(-1)!.id)).toBe('m6')
  })

  it('a message sent right after an own commit waits for it, and the added member reads it', {
    timeout: 60_000,
  }, async () => {
    const log = new TestLog()
    const { ann, bob } = await crowd(log, 'ann', 'bob')
    await ann.channel.create()
    await ann.channel.add([await publishedKeyPackage(bob, log)])
    // Ann's commit is in the log but not applied by her yet: a message now would be of the epoch
    // that commit ends, which Bob never sees.
    let sent = false
    const sending = say(ann, 'right after the add').then(() => {
      sent = true
    })
    await new Promise((r) => setTimeout(r, 50))
    expect(sent).toBe(false)
    expect(log.events.filter((e) => e.kind === MlsKind.message)).toHaveLength(0)
    await ann.channel.take(log.events) // her commit, applied
    await sending
    await settle([ann, bob], log)
    expect([...bob.got.values()]).toEqual(['right after the add'])
  })

  it('a Welcome of a commit that lost the race joins nothing', { timeout: 60_000 }, async () => {
    const log = new TestLog()
    const { ann, bob, cara, dave } = await crowd(log, 'ann', 'bob', 'cara', 'dave')
    await startGroup(log, ann, bob)
    // Bob's add of Cara is first; Ann's add of Dave (same epoch) loses, its Welcome is stale.
    const caraKp = await publishedKeyPackage(cara, log)
    const daveKp = await publishedKeyPackage(dave, log)
    await bob.channel.add([caraKp])
    // Ann commits on epoch 1 too, but her retry is switched off by refusing her next publishes.
    const annStale = MlsGroup.load(ann.device, ann.channel.group!.save())
    const lost = await annStale.commit({ add: [daveKp], remove: [] })
    log.append(ann.id.publicKey, MlsKind.commit, lost!.commit)
    const { encodeWelcomeEnvelope } = await import('../src/mls/wire.ts')
    const { sha256 } = await import('@noble/hashes/sha2.js')
    log.append(
      ann.id.publicKey,
      MlsKind.welcome,
      encodeWelcomeEnvelope({ channel: GROUP, commit: sha256(lost!.commit), welcome: lost!.welcome! }),
    )
    await dave.channel.take(log.events)
    expect(dave.channel.group).toBeUndefined()
    await cara.channel.take(log.events)
    expect(cara.channel.group?.epoch).toBe(2n)
  })

  it('a device and its group survive a restart: exported secrets join, a saved group reads on', {
    timeout: 60_000,
  }, async () => {
    const log = new TestLog()
    const { ann, bob } = await crowd(log, 'ann', 'bob')
    const kp = await publishedKeyPackage(bob, log)
    // Bob's device restarts before the Welcome comes: its key package secrets were kept.
    const restored = await MlsDevice.import(bob.id, bob.device.export())
    expect(restored.key.publicKey).toEqual(bob.device.key.publicKey)
    await ann.channel.create()
    await ann.channel.add([kp])
    await ann.channel.take(log.events)
    const welcome = log.events.find((e) => e.kind === MlsKind.welcome)!
    const { decodeWelcomeEnvelope } = await import('../src/mls/wire.ts')
    const joined = await MlsGroup.join(restored, decodeWelcomeEnvelope(welcome.body).welcome)
    expect(joined?.epoch).toBe(1n)
    // The group saved and loaded (a reload) reads what follows.
    const again = MlsGroup.load(restored, joined!.save())
    await say(ann, 'after the restart')
    expect(await again.receive(log.events.at(-1)!)).toMatchObject({ type: 'message' })
    await expect(MlsDevice.import(bob.id, new Uint8Array([9, 9]))).rejects.toThrow(DecodeError)
  })

  it('property: random adds, removes and messages end with everyone in the same epoch and transcript', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            op: fc.constantFrom('add', 'remove', 'send', 'sync', 'sync', 'race'),
            who: fc.nat(4),
            target: fc.nat(4),
          }),
          { minLength: 6, maxLength: 24 },
        ),
        async (steps) => {
          const log = new TestLog()
          const people = await Promise.all(['p0', 'p1', 'p2', 'p3', 'p4'].map((n) => person(n, log)))
          await people[0]!.channel.create()
          let sent = 0
          for (const s of steps) {
            // Anyone reads the log (a newcomer joins from its Welcome then).
            if (s.op === 'sync') {
              await people[s.who]!.channel.take(log.events)
              continue
            }
            // The actor of a change or message is one of the members now; the target anyone.
            const actors = people.filter((p) => p.channel.group?.active)
            const p = actors[s.who % actors.length]!
            const t = people[s.target]!
            const g = p.channel.group!
            // A member with a commit in flight reads the log first (its commit may win or lose).
            if (g.committing) await p.channel.take(log.events)
            else if (s.op === 'send') await say(p, `m${sent++} by ${p.name}`)
            else if (s.op === 'add' && !g.isMember(t.id.publicKey))
              await p.channel.add([await publishedKeyPackage(t, log)])
            else if (s.op === 'remove' && t !== p && g.isMember(t.id.publicKey))
              await p.channel.remove([t.id.publicKey])
            else if (s.op === 'race') {
              // Two members commit on what each holds, before either reads the other's commit.
              const other = actors.find((a) => a !== p && !a.channel.group!.committing)
              if (!other) continue
              const outsiders = people.filter((x) => !g.isMember(x.id.publicKey))
              const victim = people.find((x) => x !== p && x !== other && g.isMember(x.id.publicKey))
              if (outsiders[0]) await p.channel.add([await publishedKeyPackage(outsiders[0], log)])
              else if (victim) await p.channel.remove([victim.id.publicKey])
              if (outsiders[1]) await other.channel.add([await publishedKeyPackage(outsiders[1], log)])
              else await other.channel.remove([p.id.publicKey])
            }
          }
          await settle(people, log)
          const members = people.filter((p) => p.channel.group?.active)
          expect(members.length).toBeGreaterThan(0)
          const epoch = members[0]!.channel.group!.epoch
          const roster = members[0]!.channel
            .group!.members()
            .map((k) => Buffer.from(k).toString('hex'))
            .sort()
          for (const m of members) {
            expect(m.channel.group!.epoch).toBe(epoch)
            expect(
              m.channel
                .group!.members()
                .map((k) => Buffer.from(k).toString('hex'))
                .sort(),
            ).toEqual(roster)
            expect(roster).toContain(Buffer.from(m.id.publicKey).toString('hex'))
          }
          // The same commit for every epoch two people both saw, the same text for every message two both read.
          for (const a of people)
            for (const b of people) {
              for (const [e, id] of a.epochs) if (b.epochs.has(e)) expect(b.epochs.get(e)).toBe(id)
              for (const [id, t] of a.got) if (b.got.has(id)) expect(b.got.get(id)).toBe(t)
            }
        },
      ),
      { numRuns: 60 },
    )
  }, 240_000)
})
