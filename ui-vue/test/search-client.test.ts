/**
 * Search through a client (the simulation's ReplicaClient, whose index is the shipped
 * LocalSearch): it finds what the seeded history holds, by word and by author.
 */
import { Identity, publicKeyToText } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { decodeBody } from '../src/client/bodies.ts'
import { SimClient } from '../src/client/sim.ts'

beforeAll(() => useNodeCrypto())
const clients: SimClient[] = []
afterEach(() => {
  for (const c of clients.splice(0)) c.stop()
})

/** A quiet simulated community (history in #general, a little in the others), started. */
async function sim(o: { history: number; localHistory?: number; peerDelayMs?: number }): Promise<SimClient> {
  const client = await SimClient.create({
    signer: await Identity.generate(),
    name: 'Tess',
    otherHistory: 5,
    peers: 2,
    activityMs: 0,
    latencyMs: 1,
    ...o,
  })
  clients.push(client)
  await client.start()
  return client
}

describe('ChatClient.search', () => {
  it("finds the history's words, by word and by author", { timeout: 30_000 }, async () => {
    const client = await sim({ history: 80 })
    const page = await client.history('general', { limit: 80 })
    const message = page.events.find((e) => e.kind === Kind.message)!
    const body = decodeBody(message.kind, message.body)
    const word = (body?.kind === Kind.message ? body.text : '')
      .split(/\s+/)
      .find((w) => /^[a-z]{4,}$/.test(w))!
    const author = publicKeyToText(message.author)
    const byAuthor = async () =>
      (await client.search!(`${word} from:${author.slice(0, 10).toLowerCase()}`)).hits.length
    await vi.waitFor(async () => expect(await byAuthor()).toBeGreaterThan(0), { timeout: 10_000 })
    const found = await client.search!(word)
    expect(found.hits.some((h) => h.doc.id === message.id)).toBe(true)
    expect(found.query.words).toEqual([word])
    expect(found.progress.busy).toBe(false)
    const someoneElse = (await client.search!(`${word} from:nobody-at-all`)).hits
    expect(someoneElse).toEqual([])
  })

  it('fetches the history peers hold and this device does not, and then finds it', {
    timeout: 30_000,
  }, async () => {
    const client = await sim({ history: 120, localHistory: 20, peerDelayMs: 1 })
    const stored = await client.history('general', { limit: 20 })
    const oldestHeld = stored.events[0]!.id
    const progress: number[] = []
    const added = await client.fetchOlderHistory!((p) => progress.push(p.added))
    expect(added).toBeGreaterThanOrEqual(100) // general's 100 older events, and the other channels'
    expect(progress.at(-1)).toBe(added)
    // The oldest message now: fetched from a peer, and searchable.
    const all = await client.history('general', { limit: 500 })
    const old = all.events.find((e) => e.kind === Kind.message)!
    expect(old.id < oldestHeld).toBe(true)
    const body = decodeBody(old.kind, old.body)
    const word = (body?.kind === Kind.message ? body.text : '')
      .split(/\s+/)
      .find((w) => /^[a-z]{4,}$/.test(w))!
    await vi.waitFor(
      async () => {
        let page = await client.search!(word)
        const ids = page.hits.map((h) => h.doc.id)
        while (page.more && page.next) {
          page = await client.search!(word, { before: page.next })
          ids.push(...page.hits.map((h) => h.doc.id))
        }
        expect(ids).toContain(old.id)
      },
      { timeout: 10_000 },
    )
  })
})
