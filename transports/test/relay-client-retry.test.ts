/**
 * RelayClient's send window and retries (issue #11) against a scripted in-process relay: a
 * request refused with `rate_limited` is re-sent while online after its own growing, capped
 * backoff; one that gets no answer is re-sent after ACK_TIMEOUT_MS; at most MAX_IN_FLIGHT are
 * out at once; an event whose relay stamp does not verify acks nothing; stop() leaves no timer
 * behind; keepSignalingToken refreshes at every login and at half a token's lifetime. Timers
 * and the clock are faked (signing with
 * node:crypto settles in microtasks, so virtual time is the only time that passes).
 */
import { Identity, randomBytes, type SignedRequest, stamp, toHex, utf8 } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  ACK_TIMEOUT_MS,
  MAX_IN_FLIGHT,
  MAX_TOKEN_REFRESH_MS,
  RETRY_BACKOFF,
  type RelayClient,
  TOKEN_REFRESH_AT,
  type WebSocketLike,
} from '../src/relay/relay-client.ts'
import { clientOf, FakeRelay } from './fake-relay.ts'

useNodeCrypto()

/** `forge`: an event for the request whose relay stamp does not verify (not signed by the relay key). */
type Decision = 'stamp' | 'refuse' | 'drop' | 'forge'

/** A relay that logs everyone in and answers each publish as `decide` says (attempt counts from 1). */
class ScriptedRelay extends FakeRelay {
  /** Publish frames received per request (by clientNonce hex), with the (fake) time of each. */
  readonly attempts = new Map<string, number[]>()
  /** Requests received and not stamped yet, and the most there ever were. */
  readonly outstanding = new Set<string>()
  maxOutstanding = 0
  publishFrames = 0
  /** Lifetime of the signaling tokens it issues. */
  tokenTtlMs = 60_000

  constructor(
    identity: Identity,
    public decide: (attempt: number) => Decision,
  ) {
    super(identity)
  }

  protected override onTokenRequest(ws: WebSocketLike): void {
    this.reply(ws, { type: 'token', token: randomBytes(100), expires: Date.now() + this.tokenTtlMs })
  }

  protected override async onPublish(ws: WebSocketLike, req: SignedRequest): Promise<void> {
    this.publishFrames++
    const nonce = toHex(req.clientNonce)
    const times = this.attempts.get(nonce) ?? []
    times.push(Date.now())
    this.attempts.set(nonce, times)
    this.outstanding.add(nonce)
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding.size)
    const decision = this.decide(times.length)
    if (decision === 'refuse')
      this.reply(ws, {
        type: 'error',
        code: 'rate_limited',
        message: 'too many events for this key',
        ref: req.clientNonce,
      })
    if (decision === 'forge') {
      const forged = await stamp(await Identity.generate(), this.nextId(), req)
      this.reply(ws, { type: 'event', event: forged })
      return
    }
    if (decision !== 'stamp') return
    const event = await stamp(this.identity, this.nextId(), req)
    this.outstanding.delete(nonce)
    this.reply(ws, { type: 'event', event })
  }
}

const running: RelayClient[] = []
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
})
afterEach(async () => {
  for (const c of running.splice(0)) await c.stop()
  vi.useRealTimers()
})

async function setup(decide: (attempt: number) => Decision) {
  const relay = new ScriptedRelay(await Identity.generate(), decide)
  const client = await clientOf(relay, running, { channels: ['general'] })
  return { relay, client }
}

/** Lets virtual time pass in small steps until `cond` holds. */
async function until(cond: () => boolean, what: string, withinMs = 120_000): Promise<void> {
  for (let t = 0; t <= withinMs; t += 10) {
    if (cond()) return
    await vi.advanceTimersByTimeAsync(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}

function publishMany(client: RelayClient, n: number) {
  let acked = 0
  const sends = Array.from({ length: n }, (_, i) =>
    client.publish({ channel: 'general', kind: 'message', body: utf8(`m${i}`) }).then((e) => {
      acked++
      return e
    }),
  )
  return { sends, acked: () => acked }
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!)

describe('RelayClient send window and retries', () => {
  it('sends a queued catch-up MAX_IN_FLIGHT at a time after login', async () => {
    const { relay, client } = await setup(() => 'stamp')
    const { sends, acked } = publishMany(client, 5 * MAX_IN_FLIGHT)
    await client.start()
    await until(() => acked() === sends.length, 'every ack')
    expect(relay.maxOutstanding).toBe(MAX_IN_FLIGHT)
    expect(relay.publishFrames).toBe(sends.length)
    expect(client.outboxSize).toBe(0)
  })

  it('re-sends a request refused with rate_limited while online, after a growing jittered delay', async () => {
    const { relay, client } = await setup((attempt) => (attempt <= 3 ? 'refuse' : 'stamp'))
    await client.start()
    await until(() => client.state === 'online', 'online')
    const { sends, acked } = publishMany(client, 3 * MAX_IN_FLIGHT)
    await until(() => acked() === sends.length, 'every ack')
    const ids = new Set((await Promise.all(sends)).map((e) => e.id))
    expect(ids.size).toBe(sends.length)
    expect(client.stats.reconnects).toBe(0)
    expect(client.outboxSize).toBe(0)
    expect(relay.maxOutstanding).toBeLessThanOrEqual(MAX_IN_FLIGHT)
    const { initialMs } = RETRY_BACKOFF
    for (const times of relay.attempts.values()) {
      expect(times).toHaveLength(4)
      const [first, second, third] = gaps(times) as [number, number, number]
      // Full jitter in [initial/2, initial * 2^n]: each retry may wait up to twice as long as the last.
      expect(first).toBeGreaterThanOrEqual(initialMs / 2)
      expect(first).toBeLessThanOrEqual(initialMs)
      expect(second).toBeLessThanOrEqual(2 * initialMs)
      expect(third).toBeLessThanOrEqual(4 * initialMs)
    }
  })

  it('keeps retrying a request that is refused again and again, at most RETRY_BACKOFF.maxMs apart', async () => {
    const refusals = 15
    const { relay, client } = await setup((attempt) => (attempt <= refusals ? 'refuse' : 'stamp'))
    await client.start()
    await until(() => client.state === 'online', 'online')
    const { acked } = publishMany(client, 1)
    await until(() => acked() === 1, 'the ack', 120_000)
    const [times] = [...relay.attempts.values()] as [number[]]
    expect(times).toHaveLength(refusals + 1)
    for (const gap of gaps(times)) expect(gap).toBeLessThanOrEqual(RETRY_BACKOFF.maxMs)
    expect(Math.max(...gaps(times))).toBeGreaterThan(RETRY_BACKOFF.initialMs)
  })

  it('re-sends a request that gets no answer after ACK_TIMEOUT_MS', async () => {
    const { relay, client } = await setup((attempt) => (attempt === 1 ? 'drop' : 'stamp'))
    await client.start()
    await until(() => client.state === 'online', 'online')
    const { acked } = publishMany(client, 1)
    await until(() => relay.publishFrames === 1, 'the first send')
    await vi.advanceTimersByTimeAsync(ACK_TIMEOUT_MS - 50)
    expect(relay.publishFrames).toBe(1)
    await vi.advanceTimersByTimeAsync(100)
    expect(relay.publishFrames).toBe(2)
    await until(() => acked() === 1, 'the ack')
    expect(client.outboxSize).toBe(0)
  })

  it('an event whose relay stamp does not verify is no ack: the request stays queued and is sent again', async () => {
    // The log checks what it stores, but not the ack: a forged one would settle the request,
    // drop it from the outbox and resolve the write as stamped, and it would never be stamped.
    const { relay, client } = await setup((attempt) => (attempt === 1 ? 'forge' : 'stamp'))
    const events: unknown[] = []
    client.on('event', (e) => events.push(e))
    await client.start()
    await until(() => client.state === 'online', 'online')
    const { sends, acked } = publishMany(client, 1)
    await until(() => client.stats.rejectedEvents === 1, 'the forged event')
    expect(acked()).toBe(0)
    expect(client.outboxSize).toBe(1)
    expect(events).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(ACK_TIMEOUT_MS)
    await until(() => acked() === 1, 'the real stamp')
    expect(relay.publishFrames).toBe(2)
    const [event] = await Promise.all(sends)
    expect(events).toEqual([event])
    expect(client.outboxSize).toBe(0)
  })

  it('stop() clears every retry and ack timer; nothing is sent afterwards', async () => {
    const { relay, client } = await setup((attempt) => (attempt % 2 ? 'refuse' : 'drop'))
    await client.start()
    await until(() => client.state === 'online', 'online')
    publishMany(client, 2 * MAX_IN_FLIGHT)
    await until(() => relay.publishFrames >= 3 * MAX_IN_FLIGHT, 'retries under way')
    expect(vi.getTimerCount()).toBeGreaterThan(0)
    await client.stop()
    expect(vi.getTimerCount()).toBe(0)
    const sent = relay.publishFrames
    await vi.advanceTimersByTimeAsync(10 * ACK_TIMEOUT_MS)
    expect(relay.publishFrames).toBe(sent)
    expect(client.outboxSize).toBe(2 * MAX_IN_FLIGHT)
  })
})

describe('RelayClient.keepSignalingToken', () => {
  it('fetches a token at login, again once TOKEN_REFRESH_AT of its lifetime passed, and at every new login', async () => {
    const { relay, client } = await setup(() => 'stamp')
    const at: number[] = []
    const stop = client.keepSignalingToken(() => at.push(Date.now()))
    await client.start()
    await until(() => at.length === 1, 'the first token')
    await until(() => at.length === 2, 'the refresh')
    const interval = relay.tokenTtlMs * TOKEN_REFRESH_AT
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(interval)
    expect(at[1]! - at[0]!).toBeLessThan(interval + 100)
    // The connection drops: the old session's tokens stop admitting, so the next login brings one.
    const ws = relay.sockets.at(-1)!
    ;(ws as { readyState: number }).readyState = 3
    ws.onclose?.({ code: 1006, reason: '' })
    await until(() => relay.sockets.length === 2 && client.state === 'online', 'the new login')
    await until(() => at.length === 3, 'the token of the new session')
    expect(at[2]! - at[1]!).toBeLessThan(interval)
    stop()
    await client.stop()
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(relay.tokenTtlMs)
    expect(at).toHaveLength(3)
  })

  it('refreshes at most every MAX_TOKEN_REFRESH_MS, however far the relay puts the expiry', async () => {
    const { relay, client } = await setup(() => 'stamp')
    relay.tokenTtlMs = 100 * 86_400_000 // half of it is past 2^31 ms: a timer that long fires at once
    let tokens = 0
    const stop = client.keepSignalingToken(() => tokens++)
    await client.start()
    await until(() => tokens === 1, 'the first token')
    await vi.advanceTimersByTimeAsync(10_000)
    expect(tokens).toBe(1)
    await vi.advanceTimersByTimeAsync(MAX_TOKEN_REFRESH_MS)
    expect(tokens).toBe(2)
    stop()
    await client.stop()
  })
})
