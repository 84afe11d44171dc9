/**
 * Jumping to a message (a search result) with useMessages' `jumpTo`, on the simulation's client
 * (the shipped ReplicaClient on its in-page relay and peers): pages come from the device at once;
 * when it holds nothing that old, the client asks the simulated peers and the jump waits for
 * them, then sets the target; a message nobody holds is reported.
 */
import { Identity, type StampedEvent } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { fixtureUlid } from '@peerchat/engine/testing'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { effectScope, ref } from 'vue'
import { SimClient } from '../src/client/sim.ts'
import { createMessages } from '../src/composables/useMessages.ts'

beforeAll(() => useNodeCrypto())
const stops: (() => void)[] = []
afterEach(() => {
  for (const s of stops.splice(0)) s()
})

/** A simulated community of 300 events in #general; this device holds the newest `held`. */
async function community(held: number) {
  const client = await SimClient.create({
    signer: await Identity.generate(),
    name: 'Tess',
    history: 300,
    localHistory: held,
    peerDelayMs: 1,
    otherHistory: 5,
    peers: 2,
    activityMs: 0,
    latencyMs: 1,
  })
  await client.start()
  // Every event: what this device holds, and what only the simulated peers hold (the test needs
  // ids the device has not fetched yet).
  const peers = (client as unknown as { archive: Map<string, StampedEvent[]> }).archive.get('general') ?? []
  const stored = (await client.history('general', { limit: 300 })).events
  const all = [...peers.filter((e) => e.id < (stored[0]?.id ?? '')), ...stored]
  const scope = effectScope()
  const state = scope.run(() => createMessages(client, ref('general'), { firstPage: 20, olderPage: 30 }))!
  stops.push(() => {
    scope.stop()
    client.stop()
  })
  return { state, all }
}

describe('jumpTo', () => {
  it('loads pages back to a stored message and targets it', { timeout: 30_000 }, async () => {
    const { state, all } = await community(300)
    const id = all[100]!.id
    expect(await state.jumpTo('general', id)).toBe(true)
    expect(state.target.value).toEqual({ channel: 'general', id })
    expect(state.get(id)).toBeDefined()
  })

  it('waits for peers when the device holds nothing that old, then targets it', {
    timeout: 30_000,
  }, async () => {
    const { state, all } = await community(40)
    const id = all[10]!.id
    expect(await state.jumpTo('general', id)).toBe(true)
    expect(state.get(id)).toBeDefined()
  })

  it('says so when the message is nowhere (the channel start was reached)', { timeout: 30_000 }, async () => {
    const { state, all } = await community(300)
    const missing = fixtureUlid(Date.parse('2001-01-01'), 7)
    expect(all.some((e) => e.id === missing)).toBe(false)
    expect(await state.jumpTo('general', missing)).toBe(false)
    expect(state.error.value).toMatch(/could not be found/)
    expect(state.target.value).toBe(null)
  })
})
