/**
 * Encrypted conversations (issue #16) through the shipped `RealClient`, in Node, on the relay CLI
 * (a child process): Ann starts a direct message with Bob and writes in it; she starts a private
 * channel with him and removes him; Bob's client is stopped and started again on the same
 * IndexedDB (fake-indexeddb), whose `MlsVault` kept his groups and the plaintexts he read.
 *
 * Bob keeps his history in IndexedDB; Ann in memory: in one Node process there is one
 * `indexedDB`, and the client names its database by the relay key alone, so two clients on one
 * relay would share it (in a browser each person has their own). The WebRTC mesh is off (as
 * `webrtc: false` in tests/kit, which the client has no option for): Node has no RTCPeerConnection,
 * and y-webrtc allows one room of a name per process; everything travels through the relay.
 * The browser version: tests/e2e/real-private.test.ts.
 */
import 'fake-indexeddb/auto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  equalBytes,
  Identity,
  KEY_PACKAGE_CHANNEL,
  MlsKind,
  publicKeyFromText,
  publicKeyToText,
  type Replica,
  type Write,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { openIndexedDbOutbox, openIndexedDbStore } from '@peerchat/store-indexeddb'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type RelayProcess, spawnRelay } from '../../tests/relay/relay-process.ts'
import { decodeBody } from '../src/client/bodies.ts'
import { noticeOf } from '../src/client/notices.ts'
import { RealClient } from '../src/client/real.ts'
import type { RelayConfig } from '../src/client/relay-config.ts'
import type { IncomingEvent } from '../src/client/types.ts'

/** The mesh never comes up here: its start fails, and the client goes on with the relay alone. */
vi.mock('../../transports/src/webrtc/webrtc-transport.ts', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  WebrtcTransport: class NoMeshInNode {
    readonly awareness = undefined
    start(): Promise<void> {
      return Promise.reject(new Error('no WebRTC mesh in this Node test'))
    }
    stop(): Promise<void> {
      return Promise.resolve()
    }
    readmit(): void {}
    updateSignaling(): void {}
    peers(): Map<string, unknown> {
      return new Map()
    }
  },
}))

const WAIT_MS = 15_000

/** `vi.waitFor`, its failure saying what was awaited. */
async function until<T>(what: string, fn: () => T | Promise<T>, timeout = WAIT_MS): Promise<T> {
  try {
    return await vi.waitFor(fn, { timeout, interval: 50 })
  } catch (e) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${(e as Error).message}`, {
      cause: e,
    })
  }
}

/** The text of a chat message (undefined: another kind, such as a notice). */
function textOf(kind: string, body: Uint8Array): string | undefined {
  if (kind !== 'message') return undefined
  const b = decodeBody(kind, body)
  return b.kind === 'message' ? b.text : undefined
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The engine's Replica inside a client: only to see which of Bob's key packages Ann's device holds. */
const replicaOf = (c: RealClient): Replica => (c as unknown as { replica: Replica }).replica

let relay: RelayProcess
let dataDir: string
let config: RelayConfig
let annId: Identity
let bobId: Identity
let ann: RealClient
let bob: RealClient
/** Resolves once Bob's client closed its store (the end of its `stop`). */
let bobClosed: Promise<void>
/** What Bob's client emitted (the current one). */
let bobEvents: IncomingEvent[] = []
const annWrites: Write[] = []
let annText: string
let bobText: string
let dm: string
let room: string

/** Bob's client on the fake IndexedDB (the same database every time: one relay key). */
async function startBob(): Promise<RealClient> {
  const store = await openIndexedDbStore({ relayKey: config.relayKey })
  const close = store.close.bind(store)
  bobClosed = new Promise((resolve) => {
    store.close = async () => {
      await close()
      resolve()
    }
  })
  const client = new RealClient({
    signer: bobId,
    name: 'Bob',
    config,
    store,
    outbox: await openIndexedDbOutbox({ relayKey: config.relayKey, author: bobId.publicKey }),
  })
  bobEvents = []
  client.on('event', (e) => bobEvents.push(e))
  await client.start()
  await until("Bob's client online", () => expect(client.connection()).toBe('online'))
  return client
}

/**
 * Ann starts a conversation with Bob (a private channel with `title`), trying again while his
 * key package has not reached her device (the app says so: "no encryption key here yet").
 */
async function annStarts(title?: string): Promise<string> {
  const deadline = Date.now() + WAIT_MS
  for (;;) {
    try {
      return await ann.createConversation([bobText], title)
    } catch (e) {
      const message = (e as Error).message
      if (!message.includes('no encryption key here yet')) throw e
      if (Date.now() > deadline)
        throw new Error(`Bob's key package did not reach Ann's device within ${WAIT_MS} ms: ${message}`)
      await sleep(100)
    }
  }
}

/**
 * Waits until Ann's device holds a key package Bob published after his `joins` joins: a Welcome
 * uses up the key package it was made for, and each join publishes a fresh one a moment later
 * (one made for a used key package could never be joined with; tests/kit waits the same way).
 */
async function freshKeyPackageOfBob(joins: number): Promise<void> {
  await until(`a key package of Bob published after his join, on Ann's device`, async () => {
    const held = await replicaOf(ann).open(KEY_PACKAGE_CHANNEL).range({})
    const bobs = held.filter((e) => e.kind === MlsKind.keyPackage && equalBytes(e.author, bobId.publicKey))
    expect(bobs.length).toBeGreaterThan(joins)
  })
}

beforeAll(async () => {
  useNodeCrypto()
  nodeWebrtc() // the WebSocket global the relay client dials with
  dataDir = mkdtempSync(join(tmpdir(), 'peerchat-private-client-'))
  // Both clients connect from 127.0.0.1: the per-address frame limits are raised (as in tests/e2e).
  relay = await spawnRelay([
    '--data-dir',
    dataDir,
    '--limit',
    'framesPerSecondPerAddress=5000',
    '--limit',
    'frameBurstPerAddress=10000',
  ])
  config = {
    url: relay.url,
    relayKey: publicKeyFromText(relay.relayKey),
    room: 'community',
    access: 'open',
    iceServers: [],
  }
  ;[annId, bobId] = await Promise.all([Identity.generate(), Identity.generate()])
  annText = publicKeyToText(annId.publicKey)
  bobText = publicKeyToText(bobId.publicKey)
  ann = new RealClient({ signer: annId, name: 'Ann', config })
  ann.on('write', (w) => annWrites.push(w))
  await ann.start()
  await until("Ann's client online", () => expect(ann.connection()).toBe('online'))
  bob = await startBob()
})

afterAll(async () => {
  ann?.stop()
  bob?.stop()
  await bobClosed
  await relay?.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

describe('encrypted conversations in the RealClient', () => {
  it('a direct message: listed for Bob, his copy decrypted, in his history, verified; Ann sees plaintext only', async () => {
    // Bob's first key package reaches Ann's device over the relay a moment after he started.
    dm = await annStarts()
    expect(ann.channels().find((c) => c.name === dm)?.private).toMatchObject({ kind: 'direct', member: true })

    const listed = await until('Bob listing the direct message', () => {
      const c = bob.channels().find((c) => c.name === dm)
      expect(c?.private?.member).toBe(true)
      return c!
    })
    expect(listed.private).toMatchObject({ kind: 'direct', title: undefined, creator: annText })
    expect(listed.private!.members).toEqual(expect.arrayContaining([annText, bobText]))
    expect(bob.whyNotPost(dm)).toBeNull()

    const text = 'hello Bob, encrypted'
    const out = await ann.send(dm, text)
    // Pending: Ann's device shows the plaintext, never the ciphertext's kind.
    const pending = ann.writes(dm)
    expect(pending.map((w) => [w.key, w.state, w.request.kind])).toEqual([[out.key, 'pending', 'message']])
    expect(textOf(pending[0]!.request.kind, pending[0]!.request.body)).toBe(text)
    expect(textOf(out.request.kind, out.request.body)).toBe(text)
    const stamped = await out.stamped
    expect([stamped.kind, textOf(stamped.kind, stamped.body)]).toEqual(['message', text])
    expect(ann.writes(dm)).toEqual([])
    // The UI follows the write as events: pending, then stamped, both as plaintext.
    const mine = annWrites.filter((w) => w.key === out.key)
    expect(mine.map((w) => [w.state, w.request.kind])).toEqual([
      ['pending', 'message'],
      ['stamped', 'message'],
    ])

    const got = await until('Bob receiving Ann’s message as an event', () => {
      const e = bobEvents.find((e) => e.event.channel === dm && e.event.kind === 'message')
      expect(e).toBeDefined()
      return e!.event
    })
    expect(got.id).toBe(stamped.id)
    expect(publicKeyToText(got.author)).toBe(annText)
    expect(textOf(got.kind, got.body)).toBe(text)

    // His history: the notice that he joined, then the message (the device's only readable copy).
    const page = await bob.history(dm, { limit: 50 })
    expect(page.events.map((e) => e.kind)).toEqual(['mls.notice', 'message'])
    expect(noticeOf(page.events[0]!)).toEqual({ type: 'joined' })
    expect(page.events[1]!.id).toBe(stamped.id)
    expect(textOf(page.events[1]!.kind, page.events[1]!.body)).toBe(text)
    // Ann's history: her notice of adding Bob, then her message (kept once stamped).
    const annPage = await until('Ann’s device keeping her message', async () => {
      const annPage = await ann.history(dm, { limit: 50 })
      expect(annPage.events.map((e) => e.kind)).toEqual(['mls.notice', 'message'])
      return annPage
    })
    expect(noticeOf(annPage.events[0]!)).toMatchObject({ type: 'commit', by: annText, added: [bobText] })

    // The encrypted event Bob holds under that id: Ann's signature and the relay's stamp.
    const provenance = await bob.provenance(dm, stamped.id)
    expect(provenance).toMatchObject({ id: stamped.id, authorSignature: true, relayStamp: true })
    expect(provenance!.source.via).not.toBe('local')
  })

  it('a private channel: Bob may post while in it; removed, he is told so and his send is refused', async () => {
    await freshKeyPackageOfBob(1)
    room = await annStarts('Plans')
    const listed = await until('Bob listing the private channel', () => {
      const c = bob.channels().find((c) => c.name === room)
      expect(c?.private?.member).toBe(true)
      expect(c?.private?.title).toBe('Plans')
      return c!
    })
    expect(listed.private).toMatchObject({ kind: 'private', creator: annText })
    expect(bob.whyNotPost(room)).toBeNull()
    const hi = await bob.send(room, 'Bob is in')
    await hi.stamped
    await until('Ann reading Bob in the private channel', async () => {
      const page = await ann.history(room, { limit: 50 })
      expect(page.events.map((e) => textOf(e.kind, e.body))).toContain('Bob is in')
    })

    await ann.removeMembers(room, [bobText])
    await until('Bob’s device seeing he was removed', () =>
      expect(bob.channels().find((c) => c.name === room)?.private?.member).toBe(false),
    )
    expect(bob.whyNotPost(room)).toMatch(/removed/)
    await expect(bob.send(room, 'still here?')).rejects.toThrow(/removed/)
    expect(bob.writes(room)).toEqual([])
    // What he read stays readable; the removal is among his notices.
    await until('the notice of Bob’s removal on his device', async () => {
      const page = await bob.history(room, { limit: 50 })
      expect(page.events.map((e) => textOf(e.kind, e.body))).toContain('Bob is in')
      const removal = page.events.map(noticeOf).find((n) => n?.type === 'commit' && n.removed.length > 0)
      expect(removal).toMatchObject({ by: annText, removed: [bobText] })
    })
    // The direct message goes on.
    expect(bob.whyNotPost(dm)).toBeNull()
  })

  it('a restart on the same IndexedDB: the conversations and their plaintexts are kept, new messages come in', async () => {
    bob.stop()
    await until('Bob’s first client closing its store', () => bobClosed)
    bob = await startBob()

    const list = await until('Bob’s conversations listed again', () => {
      const list = bob.channels()
      expect(list.find((c) => c.name === dm)?.private?.member).toBe(true)
      expect(list.find((c) => c.name === room)?.private?.member).toBe(false)
      return list
    })
    // Each conversation once, as a conversation; the MLS channels behind them are not chat channels.
    const names = list.map((c) => c.name)
    expect(names.filter((n) => n === dm || n === room)).toHaveLength(2)
    expect(names.filter((n) => n.startsWith('mls'))).toEqual(list.filter((c) => c.private).map((c) => c.name))
    expect(bob.whyNotPost(room)).toMatch(/removed/)

    const kept = await bob.history(dm, { limit: 50 })
    expect(kept.events.map((e) => [e.kind, textOf(e.kind, e.body) ?? null])).toEqual([
      ['mls.notice', null],
      ['message', 'hello Bob, encrypted'],
    ])
    const keptRoom = await bob.history(room, { limit: 50 })
    expect(keptRoom.events.map((e) => textOf(e.kind, e.body))).toContain('Bob is in')

    const later = await (await ann.send(dm, 'are you back, Bob?')).stamped
    const got = await until('Ann’s new message reaching Bob’s restarted client', () => {
      const e = bobEvents.find((e) => e.event.id === later.id)
      expect(e).toBeDefined()
      return e!.event
    })
    expect([got.kind, textOf(got.kind, got.body)]).toEqual(['message', 'are you back, Bob?'])
    const after = await bob.history(dm, { limit: 50 })
    expect(after.events.map((e) => textOf(e.kind, e.body) ?? null)).toEqual([
      null,
      'hello Bob, encrypted',
      'are you back, Bob?',
    ])
    // Bob answers from the restarted device: the group state it loaded still encrypts.
    const answer = await (await bob.send(dm, 'back, from the vault')).stamped
    await until('Ann reading Bob’s answer', async () => {
      const page = await ann.history(dm, { limit: 50 })
      expect(page.events.map((e) => e.id)).toContain(answer.id)
    })
  })
})
