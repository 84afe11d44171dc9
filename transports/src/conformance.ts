/**
 * The conformance suite every `Transport` runs (in the spirit of automerge-repo's
 * `runNetworkAdapterTests`): an adapter's test only supplies `setup`.
 *
 *   runTransportConformance('memory', async (n) => ({ transports, settle, openHandles }))
 */
import { LimitError } from '@peerchat/engine'
import { afterEach, describe, expect, it } from 'vitest'
import type { PeerId, Transport, TransportEvents } from './transport.ts'

export interface ConformanceHarness {
  /** `count` transports, not started, that reach each other once started, on fault-free links. */
  transports: Transport[]
  /** Lets the network make progress: run a virtual clock until idle, or wait a little on a real one. */
  settle(): Promise<void>
  /** Timers, sockets and internal listeners still held; must be 0 once every transport is stopped. */
  openHandles(): number
  /** Releases what setup made; called after every transport was stopped. */
  teardown?(): Promise<void>
}

export type ConformanceSetup = (count: number) => Promise<ConformanceHarness>

/** How many `settle()` calls a condition may take before the test fails. */
const MAX_SETTLES = 200

interface Recorder {
  joined: TransportEvents['peer-joined'][]
  left: TransportEvents['peer-left'][]
  frames: TransportEvents['frame'][]
  off(): void
}

function record(t: Transport): Recorder {
  const r: Omit<Recorder, 'off'> = { joined: [], left: [], frames: [] }
  const offs = [
    t.on('peer-joined', (e) => r.joined.push(e)),
    t.on('peer-left', (e) => r.left.push(e)),
    t.on('frame', (e) => r.frames.push(e)),
  ]
  return {
    ...r,
    off: () => {
      for (const off of offs) off()
    },
  }
}

const frame = (...values: number[]) => Uint8Array.from(values)

export interface ConformanceOptions {
  /**
   * Runs of a failed test before it counts as failed (default 0). For transports over real
   * networks in other processes, where a loaded machine can lose a run; say so where you set it.
   */
  retry?: number
}

export function runTransportConformance(
  name: string,
  setup: ConformanceSetup,
  options: ConformanceOptions = {},
): void {
  describe(`Transport conformance: ${name}`, { retry: options.retry ?? 0 }, () => {
    let harness: ConformanceHarness | undefined

    async function open(count: number) {
      harness = await setup(count)
      const h = harness
      const until = async (cond: () => boolean, what: string) => {
        for (let i = 0; i < MAX_SETTLES && !cond(); i++) await h.settle()
        if (!cond()) throw new Error(`timed out waiting for ${what}`)
      }
      const startAll = async () => {
        const recorders = h.transports.map(record)
        await Promise.all(h.transports.map((t) => t.start()))
        await until(
          () => h.transports.every((t) => t.peers().size === count - 1),
          'every peer to see every other',
        )
        return recorders
      }
      return { h, t: h.transports, until, startAll }
    }

    afterEach(async () => {
      if (!harness) return
      for (const t of harness.transports) await t.stop()
      await harness.teardown?.()
      harness = undefined
    })

    it('peers discover each other on start and never list themselves', async () => {
      const { t, startAll } = await open(3)
      const rec = await startAll()
      for (let i = 0; i < 3; i++) {
        const others = t.filter((_, j) => j !== i).map((x) => x.self)
        expect([...t[i]!.peers().keys()].sort()).toEqual([...others].sort())
        expect(rec[i]!.joined.map((e) => e.peer).sort()).toEqual([...others].sort())
        expect(t[i]!.peers().has(t[i]!.self)).toBe(false)
      }
    })

    it('send delivers the exact bytes to that peer only, tagged with the sender', async () => {
      const { t, until, startAll } = await open(3)
      const rec = await startAll()
      expect(t[0]!.send(t[1]!.self, frame(1, 2, 3))).toBe(true)
      await until(() => rec[1]!.frames.length === 1, 'the frame')
      await harness!.settle()
      expect(rec[1]!.frames[0]!.from).toBe(t[0]!.self)
      expect([...rec[1]!.frames[0]!.bytes]).toEqual([1, 2, 3])
      expect(rec[2]!.frames).toHaveLength(0)
      expect(rec[0]!.frames).toHaveLength(0)
      expect(rec[1]!.frames).toHaveLength(1)
    })

    it('delivers an empty frame and keeps the send order on one link', async () => {
      const { t, until, startAll } = await open(2)
      const rec = await startAll()
      t[0]!.send(t[1]!.self, new Uint8Array(0))
      for (let i = 1; i <= 20; i++) t[0]!.send(t[1]!.self, frame(i))
      await until(() => rec[1]!.frames.length === 21, '21 frames')
      expect(rec[1]!.frames.map((f) => f.bytes[0] ?? 0)).toEqual(Array.from({ length: 21 }, (_, i) => i))
    })

    it('copies a frame on send: later changes by the sender do not travel', async () => {
      const { t, until, startAll } = await open(2)
      const rec = await startAll()
      const bytes = frame(7, 7, 7)
      t[0]!.send(t[1]!.self, bytes)
      bytes.fill(0)
      await until(() => rec[1]!.frames.length === 1, 'the frame')
      expect([...rec[1]!.frames[0]!.bytes]).toEqual([7, 7, 7])
    })

    it('broadcast reaches every other peer once', async () => {
      const { t, until, startAll } = await open(4)
      const rec = await startAll()
      expect(t[2]!.broadcast(frame(9))).toBe(3)
      await until(() => [0, 1, 3].every((i) => rec[i]!.frames.length === 1), 'the broadcast')
      await harness!.settle()
      for (const i of [0, 1, 3]) {
        expect(rec[i]!.frames).toHaveLength(1)
        expect(rec[i]!.frames[0]!.from).toBe(t[2]!.self)
      }
      expect(rec[2]!.frames).toHaveLength(0)
    })

    it('accepts a frame of exactly maxFrameBytes and throws LimitError one byte over', async () => {
      const { t, until, startAll } = await open(2)
      const rec = await startAll()
      const max = t[0]!.limits.maxFrameBytes
      expect(Number.isInteger(max) && max > 0).toBe(true)
      expect(t[0]!.send(t[1]!.self, new Uint8Array(max))).toBe(true)
      await until(() => rec[1]!.frames.length === 1, 'the largest frame')
      expect(rec[1]!.frames[0]!.bytes.length).toBe(max)
      const over = new Uint8Array(max + 1)
      expect(() => t[0]!.send(t[1]!.self, over)).toThrow(LimitError)
      expect(() => t[0]!.broadcast(over)).toThrow(LimitError)
      try {
        t[0]!.send(t[1]!.self, over)
      } catch (e) {
        expect((e as LimitError).limit).toBe('maxFrameBytes')
      }
    })

    it('refuses non-bytes with TypeError and returns false for an unknown peer', async () => {
      const { t, startAll } = await open(2)
      await startAll()
      expect(() => t[0]!.send(t[1]!.self, 'text' as unknown as Uint8Array)).toThrow(TypeError)
      expect(() => t[0]!.broadcast([1, 2] as unknown as Uint8Array)).toThrow(TypeError)
      expect(t[0]!.send('nobody' as PeerId, frame(1))).toBe(false)
    })

    it('stop is idempotent, announces peer-left on both sides and releases every handle', async () => {
      const { h, t, until, startAll } = await open(2)
      const rec = await startAll()
      await t[0]!.stop()
      await t[0]!.stop()
      await until(() => rec[1]!.left.length === 1, 'peer-left')
      expect(rec[1]!.left[0]!.peer).toBe(t[0]!.self)
      expect(rec[0]!.left.map((e) => e.peer)).toEqual([t[1]!.self])
      expect(t[0]!.peers().size).toBe(0)
      expect(t[1]!.peers().size).toBe(0)
      expect(t[0]!.send(t[1]!.self, frame(1))).toBe(false)
      expect(t[0]!.broadcast(frame(1))).toBe(0)
      await t[1]!.stop()
      await h.settle()
      expect(h.openHandles()).toBe(0)
      expect(rec[0]!.left).toHaveLength(1)
    })

    it('delivers nothing to a stopped transport, even frames sent just before', async () => {
      const { h, t, startAll } = await open(2)
      const rec = await startAll()
      t[0]!.send(t[1]!.self, frame(1))
      await t[1]!.stop()
      const before = rec[1]!.frames.length
      await h.settle()
      await h.settle()
      expect(rec[1]!.frames.length).toBe(before)
      await t[0]!.stop()
      await h.settle()
      expect(h.openHandles()).toBe(0)
    })

    it('unsubscribing removes the listener', async () => {
      const { t, until, startAll } = await open(2)
      const rec = await startAll()
      const seen: Uint8Array[] = []
      const off = t[1]!.on('frame', (e) => seen.push(e.bytes))
      off()
      off()
      t[0]!.send(t[1]!.self, frame(5))
      await until(() => rec[1]!.frames.length === 1, 'the frame')
      expect(seen).toHaveLength(0)
    })

    it('start with an aborted signal rejects with its reason and leaves the transport stopped', async () => {
      const { h, t, until } = await open(2)
      const rec = t.map(record)
      const ctrl = new AbortController()
      const reason = new Error('cancelled by test')
      ctrl.abort(reason)
      await expect(t[0]!.start(ctrl.signal)).rejects.toBe(reason)
      await t[1]!.start()
      await h.settle()
      expect(t[1]!.peers().size).toBe(0)
      expect(rec[1]!.joined).toHaveLength(0)
      await t[0]!.start()
      await until(() => t[1]!.peers().size === 1, 'the late peer')
    })

    it('can start again after stop and rejoins', async () => {
      const { t, until, startAll } = await open(2)
      const rec = await startAll()
      await t[0]!.stop()
      await until(() => t[1]!.peers().size === 0, 'peer-left')
      await t[0]!.start()
      await t[0]!.start()
      await until(() => t[0]!.peers().size === 1 && t[1]!.peers().size === 1, 'the rejoin')
      expect(rec[1]!.joined.map((e) => e.peer)).toEqual([t[0]!.self, t[0]!.self])
      t[1]!.send(t[0]!.self, frame(4))
      await until(() => rec[0]!.frames.length === 1, 'a frame after restart')
    })
  })
}
