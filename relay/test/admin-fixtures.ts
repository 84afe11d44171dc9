/**
 * A relay core over the in-memory shell with a clock the test moves and an in-memory admin log:
 * logins (with or without a link secret), admin actions and posts, and what came of each.
 */
import {
  Domain,
  decodeEvent,
  encodeFrame,
  encodeLoginPayload,
  Identity,
  randomBytes,
  type SignedRequest,
  type StampedEvent,
  signRequest,
} from '@peerchat/engine'
import { type AdminAction, encodeAdminBody, Kind } from '@peerchat/engine/chat'
import type { StoredAdminEvent } from '../src/core/admin-state.ts'
import { type AdminLogStore, createContext } from '../src/core/context.ts'
import type { PolicyOptions } from '../src/core/policy.ts'
import { RelayCore } from '../src/core/relay-core.ts'
import type { RelayLimits } from '../src/limits.ts'
import { FakeIo, FakeSocket } from './fake-io.ts'

export const T0 = 1_750_000_000_000
export const MIN = 60_000
export const DAY = 24 * 60 * MIN
const ORIGIN = 'relay.test'

/** admin.log in memory: what a restarted relay reads back. */
export class MemoryAdminLog implements AdminLogStore {
  readonly events: StoredAdminEvent[] = []
  closed = false
  append(bytes: Uint8Array): void {
    this.events.push({ event: decodeEvent(bytes), bytes: bytes.slice() })
  }
  close(): void {
    this.closed = true
  }
}

/** `who`'s signed request in the admin channel for `action`. */
export const signAdminAction = (who: Identity, action: AdminAction, clientNonce = randomBytes(16)) =>
  signRequest(who, { channel: 'admin', kind: action.kind, clientNonce, body: encodeAdminBody(action) })

export type Outcome = { ok: true; event: StampedEvent } | { ok: false; code: string; message: string }

export interface Client {
  s: FakeSocket
  conn: ReturnType<RelayCore<FakeSocket>['newConn']>
  id: Identity
}

export async function community(
  o: {
    relay?: Identity
    log?: MemoryAdminLog
    policy?: Partial<PolicyOptions>
    limits?: Partial<RelayLimits>
    now?: number
  } = {},
) {
  const relay = o.relay ?? (await Identity.generate())
  const clock = { t: o.now ?? T0 }
  const log = o.log ?? new MemoryAdminLog()
  const ctx = createContext({
    relay,
    channels: ['general'],
    now: () => clock.t,
    adminLog: log,
    policy: o.policy ?? {},
    limits: { framesPerSecondPerAddress: 1e6, frameBurstPerAddress: 1e6, ...o.limits },
  })
  const io = new FakeIo()
  const core = new RelayCore(ctx, io)

  /** Connects and answers the challenge as `id` (fresh if absent) with `invite` in the login. */
  const connect = async (id?: Identity, invite: Uint8Array | null = null, address = '10.0.0.1') => {
    const s = new FakeSocket(address)
    const conn = core.newConn(address, ORIGIN)
    core.open(conn, s)
    const identity = id ?? (await Identity.generate())
    const [challenge] = s.take('challenge')
    const payload = encodeLoginPayload({
      relayKey: relay.publicKey,
      nonce: challenge!.nonce,
      origin: ORIGIN,
      clientTime: clock.t,
    })
    const sig = await identity.sign(Domain.login, payload)
    await core.message(
      conn,
      encodeFrame({ type: 'login', publicKey: identity.publicKey, clientTime: clock.t, sig, invite }),
    )
    const client: Client = { s, conn, id: identity }
    const welcome = s.take('welcome')[0]
    const error = s.take('error')[0]
    return { client, welcome, error }
  }

  /** Logs in and expects a welcome. */
  const login = async (id?: Identity, invite: Uint8Array | null = null): Promise<Client> => {
    const r = await connect(id, invite)
    if (!r.welcome) throw new Error(`login refused: ${r.error?.code} ${r.error?.message}`)
    return r.client
  }

  /** Publishes a signed request; the stamped event (the author's ack) or the refusal. */
  const publish = async (c: Client, req: SignedRequest): Promise<Outcome> => {
    await core.message(c.conn, encodeFrame({ type: 'publish', request: req }))
    const nonce = Buffer.from(req.clientNonce).toString('hex')
    const error = c.s.frames.find((f) => f.type === 'error' && Buffer.from(f.ref).toString('hex') === nonce)
    if (error?.type === 'error') {
      c.s.frames = c.s.frames.filter((f) => f !== error)
      return { ok: false, code: error.code, message: error.message }
    }
    const events = c.s.frames.filter((f) => f.type === 'event')
    const mine = events.find(
      (f) => f.type === 'event' && Buffer.from(f.event.clientNonce).toString('hex') === nonce,
    )
    if (mine?.type !== 'event') throw new Error('neither an ack nor an error')
    c.s.frames = c.s.frames.filter((f) => f !== mine)
    return { ok: true, event: mine.event }
  }

  const adminRequest = (c: Client, action: AdminAction, nonce = randomBytes(16)) =>
    signAdminAction(c.id, action, nonce)
  /** An admin action by `c`, one minute after the last act (unless `advance` says otherwise). */
  const act = async (c: Client, action: AdminAction, advance = MIN) => {
    clock.t += advance
    return publish(c, await adminRequest(c, action))
  }
  const post = async (c: Client, channel = 'general', kind: string = Kind.message) =>
    publish(
      c,
      await signRequest(c.id, { channel, kind, clientNonce: randomBytes(16), body: new Uint8Array([1]) }),
    )

  return { relay, ctx, io, core, clock, log, connect, login, publish, adminRequest, act, post }
}

export const expectOk = (o: Outcome): StampedEvent => {
  if (!o.ok) throw new Error(`refused: ${o.code} ${o.message}`)
  return o.event
}
