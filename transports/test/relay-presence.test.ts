/**
 * The client side of presence that scales (issue #13, docs/protocol/relay.md §5): RelayClient
 * holds a snapshot and the ticks after it, pages and finds on request (refusals name the query),
 * forgets a looked-up session a forward finds gone; MemberLookup batches keys and asks each at
 * most once per retry period; the relay fallback holds a stranger's frames until it is found.
 */
import {
  type ClientFrame,
  encodeSigned,
  FrameLimits,
  Identity,
  publicKeyToText,
  queryRef,
  type RelayFrame,
  randomBytes,
  type Session,
  signSession,
  TypedEmitter,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterEach, describe, expect, it } from 'vitest'
import { chunkFrame } from '../src/chunker.ts'
import { ChannelPresence } from '../src/relay/channel-presence.ts'
import { RelayForwardTransport } from '../src/relay/forward-transport.ts'
import { MemberLookup } from '../src/relay/member-lookup.ts'
import type { RelayClient, RelayClientEvents, WebSocketLike } from '../src/relay/relay-client.ts'
import { clientOf, FakeRelay } from './fake-relay.ts'

useNodeCrypto()

/** A relay that answers a join with the snapshot it is given, and queries as the test says. */
class PresenceRelay extends FakeRelay {
  snapshot: Uint8Array[] = []
  count = 0
  /** What a query or find is answered with: a page, or an error code. */
  answer: { attestations: Uint8Array[]; next: Uint8Array | null } | string = { attestations: [], next: null }
  socket: WebSocketLike | undefined
  readonly asked: RelayFrame[] = []

  protected override async onPublish(): Promise<void> {}

  protected override onOther(ws: WebSocketLike, frame: ClientFrame): void {
    this.socket = ws
    if (frame.type === 'join')
      this.reply(ws, {
        type: 'presenceSnapshot',
        channel: frame.channel,
        count: this.count,
        attestations: this.snapshot,
      })
    if (frame.type !== 'presenceQuery' && frame.type !== 'presenceFind') return
    const { q, channel } = frame
    if (typeof this.answer === 'string')
      this.reply(ws, { type: 'error', code: this.answer, message: 'no', ref: queryRef(q) })
    else this.reply(ws, { type: 'presencePage', q, channel, count: this.count, ...this.answer })
  }

  send(frame: RelayFrame): void {
    this.reply(this.socket!, frame)
  }

  async attestation(
    o: { key?: Uint8Array; relay?: Identity } = {},
  ): Promise<{ bytes: Uint8Array; session: Session }> {
    const signed = await signSession(o.relay ?? this.identity, {
      relayKey: this.identity.publicKey,
      publicKey: o.key ?? (await Identity.generate()).publicKey,
      sessionId: randomBytes(16),
      privileges: 1,
      issued: Date.now(),
      expires: Date.now() + 3_600_000,
    })
    return { bytes: encodeSigned(signed), session: signed.value }
  }
}

const running: RelayClient[] = []
afterEach(async () => {
  for (const c of running.splice(0)) await c.stop()
})

const until = async (cond: () => boolean, what: string) => {
  const end = Date.now() + 10_000
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function online(count = 3) {
  const relay = new PresenceRelay(await Identity.generate())
  const head = [await relay.attestation(), await relay.attestation()]
  relay.snapshot = head.map((h) => h.bytes)
  relay.count = count
  const client = await clientOf(relay, running, {
    channels: ['general'],
    backoff: { initialMs: 1, maxMs: 5 },
  })
  const events: RelayClientEvents['presence'][] = []
  client.on('presence', (e) => events.push(e))
  await client.start()
  await until(() => client.memberCount('general') !== undefined, 'the snapshot')
  return { relay, client, head, events }
}

describe('RelayClient presence', () => {
  it('holds the snapshot, then applies each tick: entered, left and the count', async () => {
    const { relay, client, head, events } = await online(40)
    // The head, and this client (outside it).
    const own = client.session!.value.sessionId
    expect(client.members('general').size).toBe(3)
    expect(client.memberCount('general')).toBe(40)
    expect(events.at(-1)).toMatchObject({ channel: 'general', count: 40 })
    const next = await relay.attestation()
    relay.send({
      type: 'presenceTick',
      channel: 'general',
      count: 41,
      entered: [next.bytes],
      left: [head[0]!.session.sessionId],
    })
    await until(() => client.memberCount('general') === 41, 'the tick')
    expect([...client.members('general').values()].map((s) => s.sessionId)).toEqual([
      own,
      head[1]!.session.sessionId,
      next.session.sessionId,
    ])
    // A tick about a channel never joined is ignored; so is a forged attestation.
    const forged = await relay.attestation({ relay: await Identity.generate() })
    relay.send({ type: 'presenceTick', channel: 'other', count: 9, entered: [next.bytes], left: [] })
    relay.send({ type: 'presenceTick', channel: 'general', count: 42, entered: [forged.bytes], left: [] })
    await until(() => client.memberCount('general') === 42, 'the second tick')
    expect(client.memberCount('other')).toBeUndefined()
    expect(client.members('general').size).toBe(3)
    // A snapshot sent to every member (a reset: the head alone) keeps this client.
    relay.send({ type: 'presenceSnapshot', channel: 'general', count: 7, attestations: [next.bytes] })
    await until(() => client.memberCount('general') === 7, 'the reset')
    expect([...client.members('general').values()].map((s) => s.sessionId)).toEqual([
      own,
      next.session.sessionId,
    ])
  })

  it('ticks before the snapshot are left to it', () => {
    const p = new ChannelPresence()
    expect(p.tick([], [], 5)).toBe(false)
    expect(p.count).toBeUndefined()
    expect(p.add([], 5)).toBe(false)
  })

  it('pages and finds bring members in; a refusal rejects the query with its code', async () => {
    const { relay, client } = await online(300)
    const far = await relay.attestation()
    const cursor = randomBytes(32)
    relay.answer = { attestations: [far.bytes], next: cursor }
    const page = await client.queryMembers('general', null, 10)
    expect(page.next).toEqual(cursor)
    expect(page.count).toBe(300)
    expect(page.members.map((s) => s.sessionId)).toEqual([far.session.sessionId])
    expect(client.members('general').size).toBe(4) // the head, itself, and the one paged
    const other = await relay.attestation()
    relay.answer = { attestations: [other.bytes], next: null }
    expect(await client.findMembers('general', [other.session.publicKey])).toHaveLength(1)
    expect(client.members('general').has(toHexId(other.session))).toBe(true)
    relay.answer = 'rate_limited'
    await expect(client.findMembers('general', [other.session.publicKey])).rejects.toMatchObject({
      code: 'rate_limited',
    })
    expect(() => client.queryMembers('general', null, FrameLimits.presencePerFrame + 1)).toThrow(RangeError)
    await expect(
      client.findMembers(
        'general',
        Array.from({ length: 33 }, () => randomBytes(32)),
      ),
    ).rejects.toThrow(RangeError)
    expect(await client.findMembers('general', [])).toEqual([])
  })

  it('a forward that finds no such session forgets it; stop rejects the queries still out', async () => {
    const { relay, client } = await online(300)
    const far = await relay.attestation()
    relay.answer = { attestations: [far.bytes], next: null }
    await client.findMembers('general', [far.session.publicKey])
    relay.send({ type: 'error', code: 'unknown_peer', message: 'gone', ref: far.session.sessionId })
    await until(() => !client.members('general').has(toHexId(far.session)), 'the stale member dropped')
    relay.answer = { attestations: [], next: null }
    // An answer that never comes: stopping rejects it.
    relay.reply = () => {}
    const waiting = client.queryMembers('general')
    await client.stop()
    await expect(waiting).rejects.toThrow(/stopped/)
  })
})

const toHexId = (s: Session) => Buffer.from(s.sessionId).toString('hex')

describe('MemberLookup', () => {
  function fakeClient(found: Map<string, Session[]>) {
    const calls: { channel: string; keys: string[] }[] = []
    const client = {
      state: 'online' as RelayClient['state'],
      members: () => new Map<string, Session>(),
      async findMembers(channel: string, keys: readonly Uint8Array[]): Promise<Session[]> {
        const hex = keys.map((k) => Buffer.from(k).toString('hex'))
        calls.push({ channel, keys: hex })
        return hex.flatMap((k) => found.get(`${channel}/${k}`) ?? [])
      },
    }
    return { client, calls }
  }
  const key = (n: number) => new Uint8Array(32).fill(n)
  const hexOf = (n: number) => Buffer.from(key(n)).toString('hex')

  it('batches keys (32 per find), asks channel by channel until found, and each key once per retry period', async () => {
    const found = new Map<string, Session[]>([[`b/${hexOf(1)}`, [{ publicKey: key(1) } as Session]]])
    const { client, calls } = fakeClient(found)
    let now = 0
    const lookup = new MemberLookup(client, () => ['a', 'b', 'c'], { retryMs: 1000, now: () => now })
    for (let n = 1; n <= 40; n++) lookup.want(key(n))
    await until(() => calls.length === 6, 'two batches over three channels')
    expect(calls.map((c) => [c.channel, c.keys.length])).toEqual([
      ['a', 32],
      ['b', 32],
      ['c', 31], // key 1 was found in b
      ['a', 8],
      ['b', 8],
      ['c', 8],
    ])
    lookup.want(key(2)) // asked lately, not found: not again
    lookup.want(key(1)) // found: may be asked again (a new session)
    await until(() => calls.length === 8, 'key 1 again')
    expect(calls.slice(6).map((c) => c.keys)).toEqual([[hexOf(1)], [hexOf(1)]])
    now = 1000
    lookup.want(key(2))
    await until(() => calls.length === 11, 'key 2 after the retry period')
    lookup.stop()
    lookup.want(key(3))
    expect(lookup.pending).toBe(0)
  })

  it('offline, nothing is asked and nothing is remembered', async () => {
    const { client, calls } = fakeClient(new Map())
    client.state = 'offline'
    const lookup = new MemberLookup(client, () => ['a'])
    lookup.want(key(1))
    await new Promise((r) => setTimeout(r, 10))
    expect(calls).toHaveLength(0)
    client.state = 'online'
    lookup.want(key(1))
    await until(() => calls.length === 1, 'asked once online')
  })
})

describe('RelayForwardTransport and strangers', () => {
  it("holds a stranger's frames while it is looked up, and serves them once it is in presence", async () => {
    const relayId = await Identity.generate()
    const me = await Identity.generate()
    const stranger = await Identity.generate()
    const members = new Map<string, Session>()
    const emitter = new TypedEmitter<RelayClientEvents>()
    const client = {
      state: 'online',
      identityKey: me.publicKey,
      members: () => members,
      on: emitter.on.bind(emitter),
      forward: () => true,
    } as unknown as RelayClient
    const looked: string[] = []
    const t = new RelayForwardTransport(client, ['general'], {
      lookup: (k) => looked.push(publicKeyToText(k)),
    })
    const frames: Uint8Array[] = []
    t.on('frame', ({ bytes }) => frames.push(bytes))
    await t.start()
    const session = (
      await signSession(relayId, {
        relayKey: relayId.publicKey,
        publicKey: stranger.publicKey,
        sessionId: randomBytes(16),
        privileges: 1,
        issued: 1,
        expires: 2,
      })
    ).value
    const frame = randomBytes(50_000)
    for (const chunk of chunkFrame(frame, FrameLimits.forwardPayload))
      emitter.emit('forwarded', { from: session.sessionId, fromKey: stranger.publicKey, payload: chunk })
    expect(frames).toHaveLength(0)
    expect(looked[0]).toBe(publicKeyToText(stranger.publicKey))
    members.set('s', session)
    emitter.emit('presence', { channel: 'general', members, count: 2 })
    expect(frames).toEqual([frame])
    expect(t.peers().has(publicKeyToText(stranger.publicKey) as never)).toBe(true)
    await t.stop()
    expect(t.openHandles).toBe(0)
  })
})
