/** The verify -> stamp path on its own. */
import {
  Identity,
  monotonicUlid,
  Privilege,
  randomBytes,
  type Session,
  signRequest,
  ulidTime,
  verifyAuthor,
  verifyRelayStamp,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { IdempotencyCache } from '../src/core/idempotency.ts'
import { ChannelRegistry } from '../src/core/policy.ts'
import { type StampContext, stampRequest } from '../src/core/stamper.ts'
import { RateLimiter } from '../src/core/token-bucket.ts'

useNodeCrypto()
const relay = await Identity.generate()
const alice = await Identity.generate()

function setup(
  o: { rate?: number; burst?: number; maxChannels?: number; now?: () => number } = {},
): StampContext {
  const now = o.now ?? Date.now
  return {
    relay,
    nextId: monotonicUlid(now),
    cache: new IdempotencyCache(1000, 60_000, now),
    eventLimiter: new RateLimiter(o.rate ?? 1000, o.burst ?? 1000, 100, now),
    channels: new ChannelRegistry(['general'], o.maxChannels ?? 10),
  }
}
const session = (privileges: number, who = alice): Session => ({
  relayKey: relay.publicKey,
  publicKey: who.publicKey,
  sessionId: randomBytes(16),
  privileges,
  issued: 0,
  expires: Number.MAX_SAFE_INTEGER,
})
const msg = (
  o: { channel?: string; kind?: string; body?: Uint8Array; nonce?: Uint8Array } = {},
  who = alice,
) =>
  signRequest(who, {
    channel: o.channel ?? 'general',
    kind: o.kind ?? Kind.message,
    clientNonce: o.nonce ?? randomBytes(16),
    body: o.body ?? new Uint8Array([1]),
  })

describe('stampRequest', () => {
  it('stamps with a relay signature that verifies and an id whose time is ts', async () => {
    const r = await stampRequest(setup(), session(Privilege.post), await msg())
    if (r.kind !== 'stamped') throw new Error(JSON.stringify(r))
    expect(await verifyRelayStamp(r.event, relay.publicKey)).toBe(true)
    expect(r.event.ts).toBe(ulidTime(r.event.id))
  })

  it('ids are monotonic even when the wall clock steps back', async () => {
    let t = 1_700_000_000_000
    const ctx = setup({ now: () => t })
    const ids: string[] = []
    for (const step of [0, 5, -1000, 0, -1, 2000]) {
      t += step
      const r = await stampRequest(ctx, session(Privilege.post), await msg())
      if (r.kind !== 'stamped') throw new Error(r.kind)
      ids.push(r.event.id)
    }
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('a retry with the same clientNonce gets the same stamp; other content under it is refused', async () => {
    const ctx = setup()
    const s = session(Privilege.post)
    const nonce = randomBytes(16)
    const req = await msg({ nonce })
    const [a, b] = await Promise.all([stampRequest(ctx, s, req), stampRequest(ctx, s, req)])
    const again = await stampRequest(ctx, s, req)
    expect(a.kind === 'stamped' || b.kind === 'stamped').toBe(true)
    const ids = [a, b, again].map((r) => (r.kind === 'rejected' ? null : r.event.id))
    expect(new Set(ids).size).toBe(1)
    expect(again.kind).toBe('retry')
    const other = await stampRequest(ctx, s, await msg({ nonce, body: new Uint8Array([2]) }))
    expect(other).toMatchObject({ kind: 'rejected', code: 'nonce_reused' })
  })

  it('refuses requests authored by another key than the session', async () => {
    const bob = await Identity.generate()
    const r = await stampRequest(setup(), session(Privilege.post), await msg({}, bob))
    expect(r).toMatchObject({ kind: 'rejected', code: 'forbidden' })
  })

  it('privileges: posting needs post, creating needs create; unknown channels are refused', async () => {
    const ctx = setup()
    expect(await stampRequest(ctx, session(0), await msg())).toMatchObject({ code: 'forbidden' })
    expect(await stampRequest(ctx, session(Privilege.post), await msg({ channel: 'nope' }))).toMatchObject({
      code: 'unknown_channel',
    })
    const create = await msg({ channel: 'dev', kind: Kind.channelCreate })
    expect(await stampRequest(ctx, session(Privilege.post), create)).toMatchObject({ code: 'forbidden' })
    const made = await stampRequest(ctx, session(Privilege.create), create)
    expect(made).toMatchObject({ kind: 'stamped', createdChannel: true })
    expect(ctx.channels.has('dev')).toBe(true)
    expect(await stampRequest(ctx, session(Privilege.post), await msg({ channel: 'dev' }))).toMatchObject({
      kind: 'stamped',
    })
  })

  it('a channel.create with a bad signature creates nothing', async () => {
    const ctx = setup()
    const req = await msg({ channel: 'dev', kind: Kind.channelCreate })
    req.authorSig = randomBytes(64)
    expect(await stampRequest(ctx, session(Privilege.create), req)).toMatchObject({ code: 'bad_signature' })
    expect(ctx.channels.has('dev')).toBe(false)
  })

  it('refuses a channel.create with a bad author signature; a later correct request under that nonce is stamped', async () => {
    const ctx = setup()
    const nonce = randomBytes(16)
    const good = await msg({ nonce, channel: 'dev', kind: Kind.channelCreate })
    const bad = { ...good, authorSig: randomBytes(64) }
    expect(await stampRequest(ctx, session(Privilege.create), bad)).toMatchObject({ code: 'bad_signature' })
    await new Promise((r) => setTimeout(r, 0))
    expect(await stampRequest(ctx, session(Privilege.create), good)).toMatchObject({ kind: 'stamped' })
  })

  it('stamps an ordinary event without checking its author signature: the session vouches for the author, peers check the signature', async () => {
    const ctx = setup()
    const bad = { ...(await msg()), authorSig: randomBytes(64) }
    const r = await stampRequest(ctx, session(Privilege.post), bad)
    if (r.kind !== 'stamped') throw new Error(JSON.stringify(r))
    expect(await verifyRelayStamp(r.event, relay.publicKey)).toBe(true)
    expect(await verifyAuthor(r.event)).toBe(false) // what every peer's log refuses (engine log.test.ts)
    // Another key's event is refused whatever its signature: the session is what the relay vouches for.
    const bob = await Identity.generate()
    expect(await stampRequest(ctx, session(Privilege.post), await msg({}, bob))).toMatchObject({
      code: 'forbidden',
    })
  })

  it('the per-key event rate limit (eventsPerSecondPerKey / eventBurstPerKey) is enforced', async () => {
    const ctx = setup({ rate: 1, burst: 3, now: () => 0 })
    const s = session(Privilege.post)
    const results = []
    for (let i = 0; i < 5; i++) results.push((await stampRequest(ctx, s, await msg())).kind)
    expect(results).toEqual(['stamped', 'stamped', 'stamped', 'rejected', 'rejected'])
  })

  it('maxChannels bounds the channels created at run time', async () => {
    const ctx = setup({ maxChannels: 2 })
    const s = session(Privilege.create | Privilege.post)
    expect(await stampRequest(ctx, s, await msg({ channel: 'a', kind: Kind.channelCreate }))).toMatchObject({
      kind: 'stamped',
    })
    expect(await stampRequest(ctx, s, await msg({ channel: 'b', kind: Kind.channelCreate }))).toMatchObject({
      code: 'limit_exceeded',
    })
  })
})
