/** The relay-forwarded peer channel (WebRTC fallback) runs the Transport conformance suite. */
import { Identity } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { type RunningRelay, silentLogger, startRelay } from '@peerchat/relay'
import { RelayClient, RelayForwardTransport } from '@peerchat/transports'
import { runTransportConformance } from '@peerchat/transports/conformance'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'

useNodeCrypto()
let relay: RunningRelay
beforeAll(async () => {
  relay = await startRelay({
    relay: await Identity.generate(),
    port: 0,
    channels: ['general'],
    limits: { unauthenticatedPerAddress: 1000, framesPerSecondPerAddress: 1e6, frameBurstPerAddress: 1e6 },
    log: silentLogger,
  })
})
afterAll(() => relay.stop())

runTransportConformance('relay-forward', async (count) => {
  const transports = await Promise.all(
    Array.from({ length: count }, async () => {
      const client = new RelayClient({
        url: `${relay.url}/relay`,
        identity: await Identity.generate(),
        relayKey: relay.relayKey,
        channels: ['general'],
        WebSocket: WebSocket as never,
      })
      return new RelayForwardTransport(client, ['general'], { ownsClient: true })
    }),
  )
  return {
    transports,
    settle: () => new Promise<void>((r) => setTimeout(r, 20)),
    openHandles: () => transports.reduce((n, t) => n + t.openHandles, 0),
  }
})

describe('relay-forward limits', () => {
  it('refuses forwarding beyond the session budget with budget_exceeded, and to an unknown session', async () => {
    const small = await startRelay({
      relay: await Identity.generate(),
      port: 0,
      channels: ['general'],
      limits: { forwardBurstBytes: 40_000, forwardBytesPerSecond: 1 },
      log: silentLogger,
    })
    try {
      const clients = await Promise.all(
        [0, 1].map(async () => {
          const c = new RelayClient({
            url: `${small.url}/relay`,
            identity: await Identity.generate(),
            relayKey: small.relayKey,
            channels: ['general'],
            WebSocket: WebSocket as never,
          })
          const errors: string[] = []
          c.on('error', (e) => errors.push(e.code))
          const t = new RelayForwardTransport(c, ['general'], { ownsClient: true })
          const frames: Uint8Array[] = []
          t.on('frame', (f) => frames.push(f.bytes))
          await t.start()
          return { c, t, errors, frames }
        }),
      )
      const [a, b] = clients as [(typeof clients)[0], (typeof clients)[0]]
      await vi.waitFor(() => expect(a.t.peers().size).toBe(1))
      expect(a.t.send(b.t.self, new Uint8Array(30_000))).toBe(true)
      await vi.waitFor(() => expect(b.frames.length).toBe(1))
      a.t.send(b.t.self, new Uint8Array(30_000)) // over the 40 kB budget
      await vi.waitFor(() => expect(a.errors).toContain('budget_exceeded'))
      expect(b.frames.length).toBe(1)
      a.c.forward(new Uint8Array(16), new Uint8Array(1)) // no such session
      await vi.waitFor(() => expect(a.errors).toContain('unknown_peer'))
      await Promise.all(clients.map((x) => x.t.stop()))
    } finally {
      await small.stop()
    }
  })
})
