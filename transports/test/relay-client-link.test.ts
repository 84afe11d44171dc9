/**
 * RelayClient's link logins (issue #14, docs/protocol/admin.md §4) against a scripted in-process
 * relay: a claim or invite link's 32-byte secret rides in the login's `invite` field; right after
 * the welcome the client publishes `admin.claim` or `invite.redeem {id: inviteIdOf(secret)}`
 * before any other queued request (the relay refuses the session's other requests until then);
 * once that event is answered the secret is forgotten (the next login carries none). A close
 * with REMOVED_CLOSE_CODE (kicked or banned) stops the client instead of reconnecting.
 */
import { Identity, randomBytes, type SignedRequest, stamp, toHex, utf8 } from '@peerchat/engine'
import { decodeAdminBody, inviteIdOf } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type LinkOutcome,
  type LinkSecret,
  REMOVED_CLOSE_CODE,
  RelayClient,
  type WebSocketLike,
} from '../src/relay/relay-client.ts'
import { clientOf, FakeRelay } from './fake-relay.ts'

useNodeCrypto()

/** Logs everyone in; stamps every publish (or refuses admin ones when `refuseAdmin`); records what it got. */
class LinkRelay extends FakeRelay {
  readonly logins: (Uint8Array | null)[] = []
  readonly published: SignedRequest[] = []
  refuseAdmin = false

  protected override onLogin(frame: { invite: Uint8Array | null }): void {
    this.logins.push(frame.invite)
  }

  protected override async onPublish(ws: WebSocketLike, req: SignedRequest): Promise<void> {
    this.published.push(req)
    if (this.refuseAdmin && req.channel === 'admin')
      return this.reply(ws, {
        type: 'error',
        code: 'forbidden',
        message: 'already-owned',
        ref: req.clientNonce,
      })
    this.reply(ws, { type: 'event', event: await stamp(this.identity, this.nextId(), req) })
  }
}

const running: RelayClient[] = []
afterEach(async () => {
  for (const c of running.splice(0)) await c.stop()
})

async function setup(link?: LinkSecret) {
  const relay = new LinkRelay(await Identity.generate())
  const client = await clientOf(relay, running, {
    channels: ['general', 'admin'],
    backoff: { initialMs: 1, maxMs: 5 },
    ...(link ? { link } : {}),
  })
  return { relay, client }
}

const nextLink = (client: RelayClient): Promise<LinkOutcome> =>
  new Promise((resolve) => {
    const off = client.on('link', (o) => {
      off()
      resolve(o)
    })
  })

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

describe('RelayClient link logins', () => {
  it('logs in with an invite secret, redeems it before anything else, then forgets it', async () => {
    const secret = randomBytes(32)
    const { relay, client } = await setup({ kind: 'invite', secret })
    expect(client.linkKind).toBe('invite')
    // Requests queued before the login wait behind the redeem.
    const sends = [1, 2, 3].map((i) =>
      client.publish({ channel: 'general', kind: 'message', body: utf8(`m${i}`) }),
    )
    const outcome = nextLink(client)
    await client.start()
    const done = await outcome
    expect(done.ok).toBe(true)
    await Promise.all(sends)
    expect(toHex(relay.logins[0]!)).toBe(toHex(secret))
    const [first, ...rest] = relay.published
    expect(first?.kind).toBe('invite.redeem')
    expect(first?.channel).toBe('admin')
    const action = decodeAdminBody(first!.kind, first!.body)
    expect(action?.kind === 'invite.redeem' && toHex(action.body.id)).toBe(toHex(inviteIdOf(secret)))
    expect(rest.map((r) => r.kind)).toEqual(['message', 'message', 'message'])
    expect(client.linkKind).toBeUndefined()
    // The next login carries no secret.
    relay.sockets.at(-1)!.closeWith(1006, '')
    await until(() => relay.logins.length === 2, 'a second login')
    expect(relay.logins[1]).toBeNull()
  })

  it('publishes admin.claim after a claim login; a refusal is reported and the secret forgotten', async () => {
    const { relay, client } = await setup({ kind: 'claim', secret: randomBytes(32) })
    relay.refuseAdmin = true
    const outcome = nextLink(client)
    await client.start()
    const o = await outcome
    expect(o).toMatchObject({ kind: 'claim', ok: false, code: 'forbidden' })
    expect(relay.published.map((r) => r.kind)).toEqual(['admin.claim'])
    expect(client.linkKind).toBeUndefined()
  })

  it('checks the secret at construction', async () => {
    const relay = new LinkRelay(await Identity.generate())
    const make = (link: LinkSecret) =>
      new RelayClient({ url: 'ws://r/relay', identity: relay.identity, WebSocket: relay.Socket, link })
    expect(() => make({ kind: 'invite', secret: randomBytes(16) })).toThrow(RangeError)
    expect(() => make({ kind: 'nope' as 'invite', secret: randomBytes(32) })).toThrow(TypeError)
  })

  it('stops on a close with REMOVED_CLOSE_CODE (kicked or banned) instead of reconnecting', async () => {
    const { relay, client } = await setup()
    const removed = new Promise<{ reason: string }>((resolve) => client.on('removed', resolve))
    await client.start()
    await until(() => client.state === 'online', 'online')
    relay.sockets[0]!.closeWith(REMOVED_CLOSE_CODE, 'spam')
    expect(await removed).toEqual({ reason: 'spam' })
    expect(client.state).toBe('stopped')
    await new Promise((r) => setTimeout(r, 30))
    expect(relay.sockets).toHaveLength(1)
    // It may start again (a rejoin after a kick).
    await client.start()
    await until(() => client.state === 'online', 'online again')
    expect(relay.logins).toHaveLength(2)
  })
})
