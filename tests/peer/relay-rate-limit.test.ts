/**
 * Issue #11: a burst of publishes against the real relay process with its DEFAULT limits
 * (20 events/s per key, a burst of 60). The relay refuses most of a 150-event burst with
 * `rate_limited`; the client must pace itself and re-send the refused requests while it stays
 * online, so every publish is stamped without waiting for a reconnect.
 */
import { Identity, publicKeyFromText, type StampedEvent, utf8 } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { RelayClient } from '@peerchat/transports'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { type RelayProcess, spawnRelay } from '../relay/relay-process.ts'

useNodeCrypto()

const EVENTS = 150
/** At the default 20 events/s after a burst of 60, 150 events need about 4.5 s. */
const DEADLINE_MS = 45_000

const running: { stop(): Promise<unknown> }[] = []
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop()
})

const until = async (cond: () => boolean, what: string, ms = 20_000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('RelayClient under the relay default rate limit', () => {
  it(`gets all ${EVENTS} events of a burst stamped without a reconnect`, async () => {
    // No --limit overrides beyond the test defaults (no checkpoints): the relay's own rate limits.
    const proc: RelayProcess = await spawnRelay(['--quiet'])
    running.push(proc)
    const client = new RelayClient({
      url: `${proc.url}/relay`,
      identity: await Identity.generate(),
      relayKey: publicKeyFromText(proc.relayKey),
      channels: ['general'],
      WebSocket: WebSocket as never,
    })
    running.push(client)
    const refusals = new Map<string, number>()
    client.on('error', (e) => refusals.set(e.code, (refusals.get(e.code) ?? 0) + 1))
    await client.start()
    await until(() => client.state === 'online', 'online')

    const started = Date.now()
    let acked = 0
    const sends = Array.from({ length: EVENTS }, (_, i) =>
      client.publish({ channel: 'general', kind: 'message', body: utf8(`import ${i}`) }).then((e) => {
        acked++
        return e
      }),
    )
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `${acked} of ${EVENTS} stamped after ${DEADLINE_MS} ms (outbox ${client.outboxSize}, ` +
                `reconnects ${client.stats.reconnects}, errors ${JSON.stringify([...refusals])})`,
            ),
          ),
        DEADLINE_MS,
      )
    })
    let events: StampedEvent[]
    try {
      events = await Promise.race([Promise.all(sends), deadline])
    } finally {
      clearTimeout(timer)
    }
    const took = Date.now() - started
    console.log(
      `relay-rate-limit: ${EVENTS} events stamped in ${took} ms; refusals ${JSON.stringify([...refusals])}; ` +
        `frames out ${client.stats.framesOut}`,
    )

    expect(new Set(events.map((e) => e.id)).size).toBe(EVENTS)
    expect(new Set(events.map((e) => new TextDecoder().decode(e.body))).size).toBe(EVENTS)
    expect(client.outboxSize).toBe(0)
    expect(client.stats.reconnects).toBe(0)
    expect(client.state).toBe('online')
  }, 60_000)
})
