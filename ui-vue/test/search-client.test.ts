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

describe('ChatClient.search', () => {
  it("finds the history's words, by word and by author", { timeout: 30_000 }, async () => {
    const client = await SimClient.create({
      signer: await Identity.generate(),
      name: 'Tess',
      history: 80,
      otherHistory: 5,
      peers: 2,
      activityMs: 0,
      latencyMs: 1,
    })
    clients.push(client)
    await client.start()
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
})
