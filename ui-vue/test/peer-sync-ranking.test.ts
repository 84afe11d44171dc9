/**
 * PeerSync asks real clients before virtual ones even when a virtual client's link comes up
 * first: catch-up ranks the peers once links have settled (LINK_SETTLE_MS after the latest
 * appeared), not in the order they appeared. In real Chromium: tests/e2e/real-lone-user.test.ts.
 */
import { Identity, MemoryStore, Peer } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { signedPool } from '@peerchat/engine/testing'
import { MemoryNetwork } from '@peerchat/transports/memory'
import { expect, it } from 'vitest'
import { CATCH_UP_WINDOW_MS, PeerSync } from '../src/client/peer-sync.ts'
import type { EventSource } from '../src/client/types.ts'

useNodeCrypto()

it('catch-up asks a real client first although a virtual client appeared before it', async () => {
  const [relay, ann] = await Promise.all([Identity.generate(), Identity.generate()])
  const events = await signedPool({
    channel: 'general',
    relay,
    authors: [ann],
    count: 20,
    start: Date.now() - CATCH_UP_WINDOW_MS / 2,
    stepMs: 60_000,
  })
  const network = new MemoryNetwork({ seed: 3, link: { latency: { min: 0, max: 1 } } })
  const virt = network.transport('virt', { info: { kind: 'virtual' } })
  const real = network.transport('real')
  const mine = network.transport('fresh')
  const holder = async (port: typeof virt) => {
    const p = new Peer({ store: new MemoryStore(), relayKeys: [relay.publicKey], mesh: [port] })
    await (await p.open('general')).add(events)
    return p
  }
  const [virtPeer, realPeer] = [await holder(virt), await holder(real)]
  const fresh = new Peer({ store: new MemoryStore(), relayKeys: [relay.publicKey], mesh: [mine] })
  const log = await fresh.open('general')
  const sync = new PeerSync({
    peer: fresh,
    ports: [mine],
    channels: () => ['general'],
    othersOnline: () => true,
    onBackfill: () => {},
  })
  const sources: EventSource[] = []
  log.onAdded((added) => {
    for (const _ of added) sources.push(sync.sourceFor('general'))
  })
  sync.start()
  // The virtual client is linked first; the real client a moment later.
  await virt.start()
  await mine.start()
  await expect.poll(() => fresh.candidates().length).toBe(1)
  await real.start()

  await expect.poll(() => log.count(), { timeout: 5_000 }).toBe(events.length)
  expect(sources.every((s) => s.via === 'peer' && s.peer === 'real')).toBe(true)
  // Then the virtual client (the second catch-up peer): nothing left to add.
  await expect.poll(() => fresh.reports.length, { timeout: 5_000 }).toBe(2)
  expect(fresh.reports.map((r) => [r.source, r.kind, r.added, r.complete])).toEqual([
    ['0:real', 'unknown', events.length, true],
    ['0:virt', 'virtual', 0, true],
  ])
  sync.stop()
  for (const p of [virtPeer, realPeer, fresh]) await p.stop()
})
