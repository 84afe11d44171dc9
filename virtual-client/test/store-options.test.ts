/**
 * The virtual client's event store: canvas updates are held outside the window (a Yjs document
 * needs all of them), and served to a newcomer that asks for more than the window.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ChannelLog,
  Identity,
  MemoryStore,
  Reconciler,
  reconcileLocally,
  type StampedEvent,
  signRequest,
  stamp,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { fixtureUlid, toStored } from '@peerchat/engine/testing'
import { FileStore } from '@peerchat/store-file'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { VirtualClientDefaults } from '../src/defaults.ts'
import { keepCanvasUpdates, storeOptions } from '../src/virtual-client.ts'

const CH = 'general'
const DAY = 24 * 3600_000
let dir: string
let relay: Identity
/** Two days old: canvas updates and messages, alternately; then a message of a minute ago. */
let old: StampedEvent[]
let fresh: StampedEvent

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'peerchat-vc-store-'))
  relay = await Identity.fromSeed(new Uint8Array(32).fill(7))
  const author = await Identity.fromSeed(new Uint8Array(32).fill(8))
  const make = async (i: number, kind: string, at: number) => {
    const clientNonce = new Uint8Array(16).fill(i)
    const req = await signRequest(author, { channel: CH, kind, clientNonce, body: new Uint8Array([i]) })
    return stamp(relay, fixtureUlid(at, i), req)
  }
  const start = Date.now() - 2 * DAY
  old = await Promise.all(
    Array.from({ length: 6 }, (_, i) => make(i, i % 2 === 0 ? Kind.yjs : Kind.message, start + i * 1000)),
  )
  fresh = await make(6, Kind.message, Date.now() - 60_000)
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const idsOf = (events: readonly StampedEvent[]) => events.map((e) => e.id)

describe('the virtual client event store', () => {
  it('keeps canvas updates (yjs events) and only them outside the window', () => {
    expect(keepCanvasUpdates({ id: old[0]!.id, channel: CH, kind: Kind.yjs })).toBe(true)
    for (const kind of Object.values(Kind).filter((k) => k !== Kind.yjs))
      expect(keepCanvasUpdates({ id: old[0]!.id, channel: CH, kind })).toBe(false)
    expect(storeOptions('/data', VirtualClientDefaults.windowMs)).toEqual({
      dir: join('/data', 'store'),
      retentionMs: VirtualClientDefaults.windowMs,
      keep: keepCanvasUpdates,
    })
  })

  it('holds old canvas updates across a restart and serves them to a newcomer syncing everything', async () => {
    const canvas = old.filter((e) => e.kind === Kind.yjs)
    const expected = idsOf([...canvas, fresh])
    const first = await FileStore.open(storeOptions(dir, VirtualClientDefaults.windowMs))
    expect(await first.putMany(CH, [...old, fresh].map(toStored))).toBe(expected.length)
    expect((await first.sweep()).expired).toBe(0)
    await first.close()

    const store = await FileStore.open(storeOptions(dir, VirtualClientDefaults.windowMs))
    try {
      expect(store.recovery).toMatchObject({ kept: canvas.length, invalidRecords: 0 })
      const vc = new ChannelLog({ channel: CH, store, relayKeys: [relay.publicKey] })
      // The newcomer asks for the whole channel; the virtual client answers from its store.
      const newcomer = new ChannelLog({ channel: CH, store: new MemoryStore(), relayKeys: [relay.publicKey] })
      await reconcileLocally(new Reconciler(newcomer), new Reconciler(vc))
      expect(idsOf(await newcomer.range({}))).toEqual(expected)
    } finally {
      await store.close()
    }
  })
})
