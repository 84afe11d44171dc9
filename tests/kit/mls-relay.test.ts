/**
 * An encrypted group on a real relay (issue #16): Ann, Bob and Cara hold engine Replicas joined
 * to the relay with `connectReplica`, and keep the group with `openMlsChannel`. Ann adds Bob and
 * Cara from the key packages they published in `mls-keys` (they find their Welcomes in
 * `mls-welcomes`, which names the group's channel); they talk; Ann removes Cara. Dave is
 * in the community but not the group: his replica (a file store, as a virtual client keeps)
 * holds the group's channel too. A canary string shows on every member's side, decrypted, and in
 * no frame any of them sent or received, nor in Dave's files. The relay takes nothing but MLS
 * kinds in the group's channel, and needs no `channel.create` for it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Identity,
  MemoryOutboxStore,
  MemoryStore,
  privateChannelOf,
  Replica,
  type Store,
} from '@peerchat/engine'
import {
  KEY_PACKAGE_CHANNEL,
  keyPackageOf,
  MlsDevice,
  openMlsChannel,
  publishKeyPackage,
  type ReplicaMlsChannel,
  WELCOME_CHANNEL,
  watchWelcomes,
} from '@peerchat/engine/mls'
import { useNodeCrypto } from '@peerchat/engine/node'
import { silentLogger, startRelay } from '@peerchat/relay'
import { connectReplica } from '@peerchat/transports/connect'
import { FileStore } from '@peerchat/virtual-client'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { recordingWebSocket } from './recording-ws.ts'

const CANARY = 'canary-b41d-private'
const GROUP = privateChannelOf(new Uint8Array(16).fill(0xa7))
const cleanups: (() => unknown)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
})

/** Every frame a client sent or received, as bytes. */
const { WebSocket: RecordingWebSocket, frames } = recordingWebSocket()

const WAIT = { timeout: 20_000, interval: 50 }

describe('an MLS group on a real relay', () => {
  it('members read each other; the canary is in no frame and not in a non-member’s files', {
    timeout: 90_000,
  }, async () => {
    useNodeCrypto()
    const relay = await startRelay({ relay: await Identity.generate(), port: 0, log: silentLogger })
    cleanups.push(() => relay.stop())
    const daveDir = mkdtempSync(join(tmpdir(), 'peerchat-mls-'))
    cleanups.push(() => rmSync(daveDir, { recursive: true, force: true }))

    const enter = async (name: string, store: Store = new MemoryStore()) => {
      const identity = await Identity.generate()
      const replica = await Replica.open({
        store,
        outbox: new MemoryOutboxStore(),
        relayKeys: [relay.relayKey],
        signer: identity,
      })
      replica.open(KEY_PACKAGE_CHANNEL)
      replica.open(WELCOME_CHANNEL)
      replica.open(GROUP)
      const connection = connectReplica(replica, {
        relayUrl: relay.url,
        relayKey: relay.relayKey,
        identity,
        room: 'mls-test',
        webrtc: false,
        WebSocket: RecordingWebSocket as never,
      })
      await vi.waitFor(() => expect(connection.relay.state).toBe('online'), WAIT)
      const device = await MlsDevice.create(identity)
      const got: string[] = []
      const group: ReplicaMlsChannel = openMlsChannel(replica, GROUP, device)
      group.mls.on({ message: (_id, inner) => got.push(`${name}<-${new TextDecoder().decode(inner.body)}`) })
      // Invitations: Welcomes for this device's key packages, handed to the channel they name.
      const invited: string[] = []
      const offWelcomes = await watchWelcomes(replica, device, (channel, envelope) => {
        invited.push(channel)
        if (channel === GROUP) void group.mls.offer(envelope)
      })
      cleanups.push(async () => {
        offWelcomes()
        group.close()
        await connection.stop()
        await replica.stop()
      })
      return { name, identity, replica, device, group, got, invited }
    }
    const ann = await enter('ann')
    const bob = await enter('bob')
    const cara = await enter('cara')
    const dave = await enter('dave', await FileStore.open({ dir: daveDir }))

    // Bob and Cara publish key packages; Ann takes them from her replica once they reach it.
    await publishKeyPackage(bob.replica, bob.device)
    await publishKeyPackage(cara.replica, cara.device)
    const kpOf = async (p: typeof bob) => {
      let kp: Awaited<ReturnType<typeof keyPackageOf>>
      await vi.waitFor(async () => {
        kp = await keyPackageOf(ann.replica, p.identity.publicKey)
        expect(kp).toBeDefined()
      }, WAIT)
      return kp!
    }
    await ann.group.mls.create()
    await ann.group.mls.add([await kpOf(bob), await kpOf(cara)])
    for (const p of [ann, bob, cara]) await vi.waitFor(() => expect(p.group.mls.group?.epoch).toBe(1n), WAIT)
    expect(bob.invited).toEqual([GROUP])
    expect(dave.invited).toEqual([]) // the Welcome names Bob's and Cara's key packages, not his

    const say = (p: typeof ann, text: string) => p.group.mls.send('message', new TextEncoder().encode(text))
    await say(ann, `${CANARY} from ann`)
    await say(bob, 'bob here')
    await vi.waitFor(() => {
      expect(bob.got).toContain(`bob<-${CANARY} from ann`)
      expect(cara.got).toContain(`cara<-${CANARY} from ann`)
      expect(ann.got).toContain('ann<-bob here')
    }, WAIT)

    // Cara is removed: what follows, she cannot read.
    await ann.group.mls.remove([cara.identity.publicKey])
    await vi.waitFor(() => expect(cara.group.mls.group?.active).toBe(false), WAIT)
    await vi.waitFor(() => expect(bob.group.mls.group?.epoch).toBe(2n), WAIT)
    await say(bob, `${CANARY} after cara left`)
    await vi.waitFor(() => expect(ann.got).toContain(`ann<-${CANARY} after cara left`), WAIT)
    expect(cara.got.some((g) => g.includes('after cara left'))).toBe(false)

    // Dave (no member) holds the group's events (2 commits, 3 messages): ciphertext only.
    await vi.waitFor(
      async () => expect((await dave.replica.open(GROUP).range({})).length).toBeGreaterThanOrEqual(5),
      WAIT,
    )
    const held = await dave.replica.open(GROUP).range({})
    expect(held.every((e) => e.kind.startsWith('mls.'))).toBe(true)
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => {
        const p = join(dir, n)
        return statSync(p).isDirectory() ? files(p) : [p]
      })
    const daveBytes = files(daveDir).map((f) => readFileSync(f))
    expect(daveBytes.length).toBeGreaterThan(0)
    expect(daveBytes.some((b) => b.includes('mls.message'))).toBe(true) // the group's events are there
    expect(daveBytes.some((b) => b.includes(CANARY))).toBe(false)
    expect(frames.length).toBeGreaterThan(20)
    expect(frames.some((f) => f.includes('mls.message'))).toBe(true) // the frames carry the events
    expect(frames.some((f) => f.includes(CANARY))).toBe(false)

    // The relay refuses plaintext kinds in the group's channel.
    const w = await ann.replica.write(GROUP, 'message', new TextEncoder().encode('plaintext'))
    await expect(ann.replica.stamped(w)).rejects.toThrow(/takes only/)
    const k = await ann.replica.write(KEY_PACKAGE_CHANNEL, 'message', new TextEncoder().encode('hello'))
    await expect(ann.replica.stamped(k)).rejects.toThrow(/takes only/)
  })
})
