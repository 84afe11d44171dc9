/**
 * `MlsConversations` on a real relay: Ann, Bob, Cara and Dave hold engine Replicas joined with
 * `connectReplica`, and each opens their encrypted conversations over it (a `MemoryMlsStorage`).
 * Invitations travel as Welcomes, key packages are published in the background, and what each
 * device keeps is read back through `plain`: a direct message (anyone in it may add), a private
 * channel (its creator alone manages it: title, adds, removes), a restart from the kept state, a
 * member's key change, a member offline across three epochs who catches up from peers (the relay
 * keeps no history), and a canary that no WebSocket frame carries. An invitee's replica gets
 * the group channel's commit by the engine's own catch-up when it opens the channel (peers that
 * do not hold it say so at once, and the next is asked): nothing here syncs by hand.
 */
import {
  Identity,
  MemoryOutboxStore,
  MemoryStore,
  type PublicKey,
  publicKeyToText,
  Replica,
  toHex,
} from '@peerchat/engine'
import {
  type Conversation,
  keyPackageOf,
  MemoryMlsStorage,
  MlsConversations,
  NOTICE_KIND,
  type Notice,
  type PlainEvent,
  refOf,
  TITLE_KIND,
} from '@peerchat/engine/mls'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, silentLogger, startRelay } from '@peerchat/relay'
import { type Connection, connectReplica } from '@peerchat/transports/connect'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { recordingWebSocket } from './recording-ws.ts'

const CANARY = 'canary-7e2c-conversations'
const WAIT = { timeout: 20_000, interval: 50 }
const enc = new TextEncoder()
const dec = new TextDecoder()

/** Every frame a client sent or received, as bytes. */
const { WebSocket: RecordingWebSocket, frames } = recordingWebSocket()

/** `vi.waitFor`, its failure saying what was waited for. */
async function until<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await vi.waitFor(fn, WAIT)
  } catch (e) {
    throw new Error(`timed out waiting for ${what}: ${(e as Error).message}`, { cause: e })
  }
}

interface Person {
  name: string
  identity: Identity
  hex: string
  replica: Replica
  connection: Connection
  storage: MemoryMlsStorage
  conv: MlsConversations
  /** What the listeners were told: `plain` events and `changed` channels. */
  heard: { plain: PlainEvent[]; changed: string[] }
}

let relay: RunningRelay
const people: Person[] = []
const cleanups: (() => unknown)[] = []

async function openConversations(p: Omit<Person, 'conv'>): Promise<MlsConversations> {
  const conv = await MlsConversations.open({ replica: p.replica, signer: p.identity, storage: p.storage })
  conv.on({
    plain: (_channel, events) => p.heard.plain.push(...events),
    changed: (channel) => p.heard.changed.push(channel),
  })
  return conv
}

async function enter(name: string): Promise<Person> {
  const identity = await Identity.generate()
  const replica = await Replica.open({
    store: new MemoryStore(),
    outbox: new MemoryOutboxStore(),
    relayKeys: [relay.relayKey],
    signer: identity,
  })
  const connection = connectReplica(replica, {
    relayUrl: relay.url,
    relayKey: relay.relayKey,
    identity,
    room: 'mls-conversations',
    webrtc: false,
    WebSocket: RecordingWebSocket as never,
  })
  await until(`${name} online`, () => expect(connection.relay.state).toBe('online'))
  const base = {
    name,
    identity,
    hex: toHex(identity.publicKey),
    replica,
    connection,
    storage: new MemoryMlsStorage(),
    heard: { plain: [], changed: [] },
  }
  const p: Person = { ...base, conv: await openConversations(base) }
  people.push(p)
  cleanups.push(async () => {
    p.conv.close()
    await connection.stop()
    await replica.stop()
  })
  return p
}

/** Key packages (by ref) an inviter took already: a Welcome uses one up. */
const used = new Set<string>()

/**
 * Waits until `viewer`'s replica holds a key package of `user` that no one used yet (each one
 * joined publishes a fresh one in the background), and notes it used: the next `create`/`add`
 * of `viewer` takes the newest.
 */
async function freshKeyPackage(viewer: Person, user: Person): Promise<void> {
  const ref = await until(`a fresh key package of ${user.name} on ${viewer.name}'s replica`, async () => {
    const kp = await keyPackageOf(viewer.replica, user.identity.publicKey)
    expect(kp, `${user.name} has a key package`).toBeDefined()
    const ref = await refOf(kp!)
    expect(used.has(ref), `${user.name}'s newest key package is unused`).toBe(false)
    return ref
  })
  used.add(ref)
}

const say = (p: Person, channel: string, text: string) => p.conv.send(channel, 'message', enc.encode(text))

/** The chat texts a device keeps of a channel, with their ids, in id order. */
async function texts(p: Person, channel: string): Promise<[string, string][]> {
  return (await p.conv.plain(channel))
    .filter((e) => e.kind === 'message')
    .map((e) => [e.id, dec.decode(e.body)] as [string, string])
}

async function notices(p: Person, channel: string): Promise<(Notice & { id: string; author: string })[]> {
  return (await p.conv.plain(channel))
    .filter((e) => e.kind === NOTICE_KIND)
    .map((e) => ({ id: e.id, author: toHex(e.author), ...(JSON.parse(dec.decode(e.body)) as Notice) }))
}

async function joined(p: Person, channel: string): Promise<Conversation> {
  return until(`${p.name} in ${channel}`, () => {
    const c = p.conv.get(channel)
    expect(c?.member, `${p.name} joined`).toBe(true)
    return c!
  })
}

const hexes = (keys: readonly PublicKey[]) => keys.map(toHex)

beforeAll(async () => {
  useNodeCrypto()
  relay = await startRelay({ relay: await Identity.generate(), port: 0, log: silentLogger })
  cleanups.push(() => relay.stop())
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

describe('MlsConversations on a real relay', () => {
  let ann: Person
  let bob: Person
  let cara: Person
  let dm: string

  it('a direct message: invitation, both sides keep the same texts and notices, anyone may add', async () => {
    ann = await enter('ann')
    bob = await enter('bob')
    cara = await enter('cara')
    // Each published a key package in the background; Ann takes Bob's from her replica.
    await freshKeyPackage(ann, bob)
    dm = await ann.conv.create('direct', [bob.identity.publicKey])
    expect(dm).toMatch(/^mls\.01[0-9a-f]{30}$/)
    expect(ann.conv.get(dm)).toMatchObject({ kind: 'direct', member: true, title: undefined })

    await joined(bob, dm)
    const bobsList = bob.conv.list()
    expect(bobsList.map((c) => [c.channel, c.kind])).toEqual([[dm, 'direct']])
    expect(hexes(bobsList[0]!.members)).toEqual([ann.hex, bob.hex])
    expect(toHex(bobsList[0]!.creator!)).toBe(ann.hex)
    expect(bob.heard.changed).toContain(dm)

    // The commit that added Bob: a notice on both sides, under the commit's id.
    const annNotice = await until('Ann’s notice of adding Bob', async () => {
      const [n] = await notices(ann, dm)
      expect(n).toBeDefined()
      return n!
    })
    expect(annNotice).toMatchObject({
      type: 'commit',
      by: ann.hex,
      added: [bob.hex],
      removed: [],
      keyChanged: [],
    })
    const bobNotice = await until('Bob’s notice of joining', async () => {
      const [n] = await notices(bob, dm)
      expect(n).toBeDefined()
      return n!
    })
    expect(bobNotice).toMatchObject({ type: 'joined', id: annNotice.id })

    // Both talk; Ann's own message is pending until stamped, then kept.
    const w = await say(ann, dm, `${CANARY} hi bob`)
    expect(ann.conv.pending(w.key)).toMatchObject({ kind: 'message', body: enc.encode(`${CANARY} hi bob`) })
    const stamped = await ann.replica.stamped(w)
    await until('Ann’s message kept once stamped', async () =>
      expect(await texts(ann, dm)).toEqual([[stamped.id, `${CANARY} hi bob`]]),
    )
    expect(ann.conv.pending(w.key)).toBeUndefined()
    await say(bob, dm, 'hi ann')
    await say(ann, dm, 'how are you?')
    await until('both sides keeping the three texts in the same order', async () => {
      const a = await texts(ann, dm)
      expect(a.map(([, t]) => t).sort()).toEqual([`${CANARY} hi bob`, 'hi ann', 'how are you?'].sort())
      expect(await texts(bob, dm)).toEqual(a)
    })
    expect(bob.heard.plain.some((e) => dec.decode(e.body) === `${CANARY} hi bob`)).toBe(true)
    expect(ann.heard.plain.some((e) => dec.decode(e.body) === 'hi ann')).toBe(true)

    // In a direct message anyone may add: Bob adds Cara.
    await freshKeyPackage(bob, cara)
    await bob.conv.add(dm, [cara.identity.publicKey])
    const carasDm = await joined(cara, dm)
    expect(carasDm.kind).toBe('direct')
    expect(hexes(carasDm.members)).toEqual([ann.hex, bob.hex, cara.hex])
    await until('Ann’s notice of Bob adding Cara', async () =>
      expect((await notices(ann, dm)).at(-1)).toMatchObject({
        type: 'commit',
        by: bob.hex,
        author: bob.hex,
        added: [cara.hex],
        removed: [],
      }),
    )
    await until('Ann seeing Cara in the DM', () =>
      expect(hexes(ann.conv.get(dm)!.members)).toContain(cara.hex),
    )
    await say(cara, dm, 'cara joined')
    await until('Ann and Bob reading Cara', async () => {
      expect((await texts(ann, dm)).at(-1)?.[1]).toBe('cara joined')
      expect((await texts(bob, dm)).at(-1)?.[1]).toBe('cara joined')
    })
    // Cara reads nothing from before she came.
    expect((await texts(cara, dm)).map(([, t]) => t)).toEqual(['cara joined'])
  })

  it('a private channel: title from its creator, only she adds and removes, a removed member reads no more', async () => {
    // Bob and Cara joined a group since their first key packages: Ann waits for their next.
    await freshKeyPackage(ann, bob)
    await freshKeyPackage(ann, cara)
    const ch = await ann.conv.create('private', [bob.identity.publicKey, cara.identity.publicKey], 'Plans')
    expect(ch).toMatch(/^mls\.02[0-9a-f]{30}$/)
    for (const p of [ann, bob, cara]) {
      await joined(p, ch)
      await until(`${p.name} seeing the title`, () =>
        expect(p.conv.get(ch)).toMatchObject({ kind: 'private', title: 'Plans' }),
      )
      expect(toHex(p.conv.get(ch)!.creator!)).toBe(ann.hex)
    }
    expect(bob.heard.changed).toContain(ch)
    expect((await bob.conv.plain(ch)).some((e) => e.kind === TITLE_KIND)).toBe(true)

    // Bob is a member, not the creator: his adds and removes are refused before anything is sent.
    const dave = await enter('dave')
    await until('Dave’s key package on Bob’s replica', async () =>
      expect(await keyPackageOf(bob.replica, dave.identity.publicKey)).toBeDefined(),
    )
    await expect(bob.conv.add(ch, [dave.identity.publicKey])).rejects.toThrow(/may not change/)
    await expect(bob.conv.remove(ch, [cara.identity.publicKey])).rejects.toThrow(/may not change/)
    expect(hexes(ann.conv.get(ch)!.members)).toEqual([ann.hex, bob.hex, cara.hex])

    // Ann removes Cara.
    await ann.conv.remove(ch, [cara.identity.publicKey])
    await until('Cara no longer a member', () => expect(cara.conv.get(ch)?.member).toBe(false))
    expect(cara.conv.get(ch)?.members).toEqual([])
    expect(cara.heard.changed.filter((c) => c === ch).length).toBeGreaterThanOrEqual(2)
    await until('Cara’s notice of her removal', async () =>
      expect((await notices(cara, ch)).at(-1)).toMatchObject({
        type: 'commit',
        by: ann.hex,
        removed: [cara.hex],
      }),
    )
    await until('Bob seeing Cara gone', () =>
      expect(hexes(bob.conv.get(ch)!.members)).toEqual([ann.hex, bob.hex]),
    )
    const w = await say(bob, ch, 'after cara left')
    const e = await bob.replica.stamped(w)
    await until('Ann reading Bob after Cara left', async () =>
      expect((await texts(ann, ch)).map(([, t]) => t)).toContain('after cara left'),
    )
    await until('Cara’s replica holding Bob’s message (ciphertext)', async () =>
      expect((await cara.replica.open(ch).range({})).some((x) => x.id === e.id)).toBe(true),
    )
    await new Promise((r) => setTimeout(r, 500)) // her conversation took it (and could not read it)
    expect((await texts(cara, ch)).map(([, t]) => t)).not.toContain('after cara left')
    expect(cara.heard.plain.some((x) => dec.decode(x.body) === 'after cara left')).toBe(false)
    await expect(say(cara, ch, 'still here?')).rejects.toThrow(/not in this conversation/)
  })

  it('a restart: the kept plaintexts stay, and the group resumes from its saved state', async () => {
    const before = await texts(bob, dm)
    expect(before.length).toBeGreaterThanOrEqual(4)
    const kept = (await bob.conv.plain(dm)).map((e) => [e.id, e.kind])
    const conversations = bob.conv.list().map((c) => [c.channel, c.kind, c.title, c.epoch])
    bob.conv.close()
    bob.conv = await openConversations(bob)
    const heardBefore = bob.heard.plain.length
    expect(bob.conv.list().map((c) => [c.channel, c.kind, c.title, c.epoch])).toEqual(conversations)
    expect((await bob.conv.plain(dm)).map((e) => [e.id, e.kind])).toEqual(kept)
    await bob.conv.ready()

    await say(ann, dm, 'after bob restarted')
    await until('Bob’s new instance reading Ann after the restart', async () =>
      expect((await texts(bob, dm)).map(([, t]) => t)).toContain('after bob restarted'),
    )
    expect(await texts(bob, dm)).toEqual(await texts(ann, dm))
    // It read on after the last event it had taken: nothing old was taken (or kept) again.
    expect(bob.heard.plain.slice(heardBefore).map((e) => dec.decode(e.body))).toEqual(['after bob restarted'])
    await say(bob, dm, 'back')
    await until('Ann reading Bob’s new instance', async () =>
      expect((await texts(ann, dm)).at(-1)?.[1]).toBe('back'),
    )
  })

  it('a key change: a user back with a new device shows in the notice of the commit that adds him', async () => {
    const dave = people.find((p) => p.name === 'dave')!
    await freshKeyPackage(ann, dave)
    const first = await ann.conv.create('direct', [dave.identity.publicKey])
    await joined(dave, first)
    const added = await until('Ann’s notice of adding Dave', async () => {
      const [n] = await notices(ann, first)
      expect(n).toBeDefined()
      return n!
    })
    expect(added).toMatchObject({ type: 'commit', added: [dave.hex], keyChanged: [] })
    const oldKey = (await keyPackageOf(ann.replica, dave.identity.publicKey))!.leafNode.signaturePublicKey
    // Dave's first device publishes its next key package once joined; let it land before it goes.
    await until('Dave’s next key package (his first device)', async () => {
      const kp = await keyPackageOf(dave.replica, dave.identity.publicKey)
      expect(used.has(await refOf(kp!))).toBe(false)
    })

    // The same user on a new device: a fresh MLS storage, so a new MLS key.
    dave.conv.close()
    dave.storage = new MemoryMlsStorage()
    dave.conv = await openConversations(dave)
    expect(dave.conv.list()).toEqual([])
    await until('Dave’s new device’s key package on Ann’s replica', async () => {
      const kp = await keyPackageOf(ann.replica, dave.identity.publicKey)
      expect(toHex(kp!.leafNode.signaturePublicKey)).not.toBe(toHex(oldKey))
    })
    await freshKeyPackage(ann, dave)
    const second = await ann.conv.create('direct', [dave.identity.publicKey])
    await until('Ann’s notice naming Dave’s key change', async () =>
      expect((await notices(ann, second))[0]).toMatchObject({
        type: 'commit',
        added: [dave.hex],
        keyChanged: [dave.hex],
      }),
    )
    await joined(dave, second)
    await say(ann, second, 'new device?')
    await until('Dave’s new device reading Ann', async () =>
      expect((await texts(dave, second)).map(([, t]) => t)).toEqual(['new device?']),
    )
  })

  it('a member offline across several epochs catches up from peers', async () => {
    const dave = people.find((p) => p.name === 'dave')!
    const CATCH_UP = { timeout: 60_000, interval: 100 }
    await freshKeyPackage(ann, bob)
    const ch = await ann.conv.create('direct', [bob.identity.publicKey])
    await joined(bob, ch)
    await say(ann, ch, 'before bob left')
    await say(bob, ch, 'see you later')
    await until('Ann and Bob keeping the two texts', async () => {
      const a = await texts(ann, ch)
      expect(a.map(([, t]) => t).sort()).toEqual(['before bob left', 'see you later'])
      expect(await texts(bob, ch)).toEqual(a)
    })
    const bobsEpoch = bob.conv.get(ch)!.epoch
    expect(bobsEpoch).toBe(ann.conv.get(ch)!.epoch)

    // Bob goes offline: his links drop; his replica, store and conversations stay.
    await bob.connection.stop()
    expect(bob.connection.relay.state).toBe('stopped')

    // While he is away: Ann adds Cara, writes, removes Cara, adds Dave, writes twice.
    const away = ['while away: one', 'while away: two', 'while away: three']
    /** Ann says `text`; its event's id once stamped. */
    const stamp = async (text: string): Promise<string> =>
      (await ann.replica.stamped(await say(ann, ch, text))).id
    await freshKeyPackage(ann, cara)
    await ann.conv.add(ch, [cara.identity.publicKey])
    await joined(cara, ch)
    const sent = [await stamp(away[0]!)]
    await ann.conv.remove(ch, [cara.identity.publicKey])
    await freshKeyPackage(ann, dave)
    await ann.conv.add(ch, [dave.identity.publicKey])
    await joined(dave, ch)
    sent.push(await stamp(away[1]!), await stamp(away[2]!))
    const annsEpoch = ann.conv.get(ch)!.epoch
    expect(annsEpoch).toBe(bobsEpoch + 3n)
    expect(hexes(ann.conv.get(ch)!.members)).toEqual([ann.hex, bob.hex, dave.hex])
    // The relay keeps no history: what Bob missed (three commits, three messages) is on Ann's,
    // Cara's and Dave's replicas only.
    const held = new Set((await bob.replica.open(ch).range({})).map((e) => e.id))
    const missed: string[] = (await ann.replica.open(ch).range({}))
      .filter((e) => !held.has(e.id))
      .map((e) => e.id)
    expect(missed).toHaveLength(6)
    expect(missed).toEqual(expect.arrayContaining(sent))
    expect(bob.conv.get(ch)!.epoch).toBe(bobsEpoch)

    // Bob comes back: a new connection of the same replica; the engine's catch-up does the rest.
    const reportsBefore = bob.replica.peer.reports.length
    /** A peer's name by its key as sync reports and sources give it (text), or its link id. */
    const names = new Map(people.map((p) => [publicKeyToText(p.identity.publicKey), p.name]))
    const nameOf = (peer: string) => [...names].find(([key]) => peer.startsWith(key))?.[1] ?? peer
    /** Where each missed event reached Bob's replica from (a peer's name, or `relay`). */
    const arrivals = new Map<string, string>()
    const unsubscribe = await bob.replica.subscribe(
      ch,
      (change) => {
        for (const e of change.added)
          if (missed.includes(e.id))
            arrivals.set(e.id, change.source.via === 'peer' ? nameOf(change.source.peer) : change.source.via)
      },
      { replay: false },
    )
    const connection = connectReplica(bob.replica, {
      relayUrl: relay.url,
      relayKey: relay.relayKey,
      identity: bob.identity,
      room: 'mls-conversations',
      webrtc: false,
      WebSocket: RecordingWebSocket as never,
    })
    bob.connection = connection
    cleanups.push(() => connection.stop())
    await until('Bob online again', () => expect(connection.relay.state).toBe('online'))
    /** Bob's own sync sessions of the channel since he came back: whom he asked, what came. */
    const sessions = () =>
      bob.replica.peer.reports
        .slice(reportsBefore)
        .filter((r) => r.channel === ch)
        .map((r) => `${nameOf(r.source.peer)}: +${r.added}${r.complete ? '' : ` (${r.error})`}`)
    try {
      await vi.waitFor(() => {
        const c = bob.conv.get(ch)!
        expect(c.epoch, 'Bob’s epoch').toBe(annsEpoch)
        expect(hexes(c.members), 'Bob’s members').toEqual([ann.hex, bob.hex, dave.hex])
      }, CATCH_UP)
      await vi.waitFor(async () => {
        const got = (await texts(bob, ch)).map(([, t]) => t)
        for (const t of away) expect(got, 'Bob’s texts').toContain(t)
      }, CATCH_UP)
    } catch (e) {
      const candidates = bob.replica.peer
        .candidates()
        .map((c) => nameOf(c.info.key ? publicKeyToText(c.info.key) : c.peer))
      throw new Error(
        `timed out waiting for Bob to catch up from peers (epoch ${bob.conv.get(ch)?.epoch} of ${annsEpoch}; ` +
          `candidates [${candidates}]; his sessions of the channel [${sessions().join(', ')}]; ` +
          `missed events from [${[...arrivals.values()]}]): ${(e as Error).message}`,
        { cause: e },
      )
    } finally {
      unsubscribe()
    }
    // Every event he missed came from a peer: the relay sent him nothing of it.
    expect([...arrivals.keys()].sort()).toEqual([...missed].sort())
    for (const from of arrivals.values()) expect(['ann', 'cara', 'dave']).toContain(from)

    // The same texts as Ann, in the same order, and a notice for each commit he missed.
    expect(await texts(bob, ch)).toEqual(await texts(ann, ch))
    expect((await texts(bob, ch)).filter(([id]) => sent.includes(id)).map(([, t]) => t)).toEqual(away)
    const commits = (await notices(bob, ch)).slice(-3)
    expect(commits).toMatchObject([
      { type: 'commit', by: ann.hex, added: [cara.hex], removed: [] },
      { type: 'commit', by: ann.hex, added: [], removed: [cara.hex] },
      { type: 'commit', by: ann.hex, added: [dave.hex], removed: [] },
    ])
    expect(commits.map((n) => n.id)).toEqual((await notices(ann, ch)).slice(-3).map((n) => n.id))
    expect(commits.every((n) => missed.includes(n.id))).toBe(true)

    // And he is a member in step: Dave reads what he sends now.
    await say(bob, ch, 'back again')
    await until('Dave reading Bob after his catch-up', async () =>
      expect((await texts(dave, ch)).map(([, t]) => t)).toContain('back again'),
    )
  })

  it('the canary sent in the direct message is in no WebSocket frame', async () => {
    expect(frames.length).toBeGreaterThan(50)
    expect(frames.some((f) => f.includes('mls.message'))).toBe(true) // the frames carry the events
    expect(frames.some((f) => f.includes(CANARY))).toBe(false)
    // …while every member of the DM keeps it decrypted.
    for (const p of [ann, bob]) expect((await texts(p, dm)).some(([, t]) => t.includes(CANARY))).toBe(true)
  })
})
