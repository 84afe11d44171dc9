/**
 * The canvas of a channel (client/canvas.ts) on real Replicas and the memory relay: live edits,
 * the history by author, a past version restored as a new edit, an unsent edit shown again on
 * reopening, and the pure helpers.
 */
import 'fake-indexeddb/auto'
import {
  Identity,
  MemoryOutboxStore,
  MemoryStore,
  publicKeyToText,
  Replica,
  type Ulid,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { DocSnapshotCache } from '@peerchat/store-indexeddb'
import { MemoryNetwork, MemoryRelay } from '@peerchat/transports/memory'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { type CanvasDeps, openCanvas, replacement, SESSION_GAP_MS, sessionsOf } from '../src/client/canvas.ts'
import type { CanvasSession } from '../src/client/types.ts'

beforeAll(() => useNodeCrypto())
const stops: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
})

async function person(
  relay: MemoryRelay,
  name: string,
  online = true,
  o: { mesh?: MemoryNetwork; windowMs?: number } = {},
) {
  const signer = await Identity.generate()
  const replica = await Replica.open({
    store: new MemoryStore(),
    outbox: new MemoryOutboxStore(),
    relayKeys: [relay.publicKey],
    signer,
    ...(o.windowMs ? { sync: { windowMs: o.windowMs } } : {}),
  })
  const port = relay.client()
  let detach = online ? replica.connect(port) : undefined
  const transport = o.mesh?.transport(name)
  if (transport) {
    replica.attach(transport)
    await transport.start()
  }
  stops.push(async () => {
    detach?.()
    port.close()
    await transport?.stop()
    await replica.stop()
  })
  const names = new Map([[publicKeyToText(signer.publicKey), name]])
  const deps = (extra: Partial<CanvasDeps> = {}): CanvasDeps => ({
    replica,
    channel: 'general',
    authorize: () => true,
    whyNotEdit: () => null,
    nameOf: (k) => names.get(publicKeyToText(k)) ?? '?',
    ports: [],
    ...extra,
  })
  const open = async (extra?: Partial<CanvasDeps>): Promise<CanvasSession> => {
    const canvas = await openCanvas(deps(extra))
    stops.push(() => canvas.close())
    return canvas
  }
  return {
    signer,
    replica,
    names,
    open,
    goOnline: () => {
      detach ??= replica.connect(port)
    },
  }
}

describe('canvas', () => {
  it('shows edits live, lists who changed it, and restores a past version as a new edit', async () => {
    const relay = new MemoryRelay({ signer: await Identity.generate() })
    const ann = await person(relay, 'Ann')
    const ben = await person(relay, 'Ben')
    for (const [a, b] of [
      [ann, ben],
      [ben, ann],
    ] as const)
      a.names.set(publicKeyToText(b.signer.publicKey), b.names.get(publicKeyToText(b.signer.publicKey))!)
    const a = await ann.open()
    const b = await ben.open()
    a.text.insert(0, 'Rules: be kind.')
    await vi.waitFor(() => expect(b.text.toString()).toBe('Rules: be kind.'))
    b.text.insert(b.text.length, ' No spam.')
    await vi.waitFor(() => expect(a.text.toString()).toBe('Rules: be kind. No spam.'))

    const history = await a.history()
    expect(history.map((v) => [v.name, v.edits])).toEqual([
      ['Ann', 1],
      ['Ben', 1],
    ])
    expect(await a.textAt(history[0]!.id)).toBe('Rules: be kind.')

    await b.restore(history[0]!.id)
    expect(b.text.toString()).toBe('Rules: be kind.')
    await vi.waitFor(() => expect(a.text.toString()).toBe('Rules: be kind.'))
    // The restore is Ben's new edit, attributed to him.
    await vi.waitFor(async () => expect((await a.history()).map((v) => v.name)).toEqual(['Ann', 'Ben']))
    expect((await a.history()).at(-1)!.edits).toBe(2)
  })

  it('drops an edit of mine the relay refused, from the outbox and the cache, and says so', async () => {
    let refusing = false
    const relay = new MemoryRelay({
      signer: await Identity.generate(),
      refuse: () =>
        refusing
          ? { code: 'forbidden', message: 'the canvas of #general is editable by moderator and above' }
          : undefined,
    })
    const ann = await person(relay, 'Ann')
    const cache = () => DocSnapshotCache.open({ relayKey: relay.publicKey })
    const first = await ann.open({ cache: await cache() })
    first.text.insert(0, 'accepted.')
    const stored = async () => (await ann.replica.open('general').range({})).length
    await vi.waitFor(async () => expect(await stored()).toBe(1))
    refusing = true
    const refused = new Promise<string>((resolve) => first.onRefused(resolve))
    first.text.insert(first.text.length, ' refused!')
    expect(await refused).toMatch(/editable by moderator/)
    expect(ann.replica.writes('general')).toEqual([]) // not left failed in the outbox
    refusing = false
    const again = await ann.open({ cache: await cache() })
    await again.complete // no snapshot any more: the log is read
    expect(again.text.toString()).toBe('accepted.')
  })

  it("asks peers for the channel's older history: a canvas older than the catch-up window arrives whole", async () => {
    const relay = new MemoryRelay({ signer: await Identity.generate() })
    const mesh = new MemoryNetwork({ link: { latency: { min: 1, max: 3 } } })
    // Catch-up reconciles only the last millisecond on both sides: the canvas is "older".
    const ann = await person(relay, 'Ann', true, { mesh, windowMs: 1 })
    const a = await ann.open()
    a.text.insert(0, 'written long ago')
    await vi.waitFor(async () => expect((await ann.replica.open('general').range({})).length).toBe(1))
    await a.close() // Ann's own canvas asks nothing more of anyone
    const zed = await person(relay, 'Zed', true, { mesh, windowMs: 1 })
    // Without asking for older history (a replica without backfill), nothing comes.
    const r = zed.replica
    const blind = await zed.open({
      replica: {
        subscribe: r.subscribe.bind(r),
        write: r.write.bind(r),
        open: r.open.bind(r),
        writes: r.writes.bind(r),
        discard: r.discard.bind(r),
      },
    })
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(blind.text.toString()).toBe('')
    await blind.close()
    const z = await zed.open()
    await vi.waitFor(() => expect(z.text.toString()).toBe('written long ago'), { timeout: 15_000 })
  }, 30_000)

  it('refuses a restore from someone who may not edit, and names why', async () => {
    const relay = new MemoryRelay({ signer: await Identity.generate() })
    const ann = await person(relay, 'Ann')
    const a = await ann.open({ whyNotEdit: () => 'The canvas of #general is read-only.' })
    await expect(a.restore('01JZZZZZZZZZZZZZZZZZZZZZZZ' as Ulid)).rejects.toThrow('read-only')
  })

  it('shows an edit written offline again when the canvas is reopened before it is stamped', async () => {
    const relay = new MemoryRelay({ signer: await Identity.generate() })
    const ann = await person(relay, 'Ann', false)
    const first = await ann.open()
    first.text.insert(0, 'written offline')
    await first.close() // publishes into the outbox: pending, not stamped
    expect(ann.replica.writes('general')).toHaveLength(1)
    const again = await ann.open()
    expect(again.text.toString()).toBe('written offline')
    ann.goOnline()
    await vi.waitFor(() => expect(ann.replica.writes('general')).toEqual([]))
    expect(again.text.toString()).toBe('written offline')
  })

  it('opens from the IndexedDB snapshot before the log is read', async () => {
    const relay = new MemoryRelay({ signer: await Identity.generate() })
    const ann = await person(relay, 'Ann')
    const cache = () => DocSnapshotCache.open({ relayKey: relay.publicKey })
    const first = await ann.open({ cache: await cache() })
    first.text.insert(0, 'cached text')
    await first.close() // caches the snapshot
    // A reader whose store has nothing: only the snapshot can show the text.
    const bare = await Replica.open({
      store: new MemoryStore(),
      relayKeys: [relay.publicKey],
      signer: ann.signer,
    })
    stops.push(() => bare.stop())
    const shown = await openCanvas({
      replica: bare,
      channel: 'general',
      authorize: () => true,
      whyNotEdit: () => null,
      nameOf: () => 'Ann',
      ports: [],
      cache: await cache(),
    })
    stops.push(() => shown.close())
    expect(shown.text.toString()).toBe('cached text')
  })
})

describe('canvas helpers', () => {
  it('groups edits into runs by author, split by a pause', () => {
    const e = (id: string, ts: number, author: string) => ({ id: id as Ulid, ts, author })
    expect(
      sessionsOf([e('1', 0, 'a'), e('2', 1000, 'a'), e('3', 2000, 'b'), e('4', 3000 + SESSION_GAP_MS, 'b')]),
    ).toEqual([
      { id: '2', from: 0, to: 1000, author: 'a', edits: 2 },
      { id: '3', from: 2000, to: 2000, author: 'b', edits: 1 },
      { id: '4', from: 3000 + SESSION_GAP_MS, to: 3000 + SESSION_GAP_MS, author: 'b', edits: 1 },
    ])
  })

  it('finds the smallest replacement between two texts', () => {
    expect(replacement('the cat sat', 'the dog sat')).toEqual({ at: 4, remove: 3, insert: 'dog' })
    expect(replacement('abc', 'abc')).toEqual({ at: 3, remove: 0, insert: '' })
    expect(replacement('aaa', 'aa')).toEqual({ at: 2, remove: 1, insert: '' })
    expect(replacement('', 'new')).toEqual({ at: 0, remove: 0, insert: 'new' })
  })
})
