/**
 * Real WebRTC (@roamhq/wrtc) between child processes, signaled by y-webrtc's reference server
 * on loopback. The relay's authenticated signaling endpoint is exercised in tests/relay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runTransportConformance } from '../src/conformance.ts'
import { asPeerId } from '../src/transport.ts'
import { RemoteTransport, startSignaling } from './webrtc/remote.ts'

let signaling: { url: string; stop(): void }
let spawned: RemoteTransport[] = []
let roomSeq = 0

beforeAll(async () => {
  signaling = await startSignaling()
})
afterAll(async () => {
  await Promise.all(spawned.map((t) => t.kill()))
  signaling.stop()
})

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

// Real WebRTC in child processes: on a loaded 2-core machine a child can miss a run (a call
// unanswered, reported by RemoteTransport with what it waited for), so a failed check runs once
// more; a transport that fails twice in a row fails the suite.
runTransportConformance(
  'webrtc',
  async (count) => {
    const room = `conformance-${process.pid}-${roomSeq++}`
    const transports = Array.from(
      { length: count },
      (_, i) => new RemoteTransport(asPeerId(`p${i}-${room}`), room, signaling.url),
    )
    spawned.push(...transports)
    return {
      transports,
      settle: () => sleep(100),
      openHandles: () => 0,
      teardown: async () => {
        await Promise.all(transports.map((t) => t.kill()))
        spawned = spawned.filter((t) => !transports.includes(t))
      },
    }
  },
  { retry: 1 },
)

describe('webrtc transport specifics', () => {
  it('moves a maxFrameBytes (1 MiB) frame on the bulk channel intact, chunked and flow-controlled', async () => {
    const room = `bulk-${process.pid}`
    const a = new RemoteTransport(asPeerId('bulk-a'), room, signaling.url)
    const b = new RemoteTransport(asPeerId('bulk-b'), room, signaling.url)
    spawned.push(a, b)
    const got = new Promise<Uint8Array>((resolve) => b.on('frame', (e) => resolve(e.bytes)))
    const joined = new Promise((resolve) => a.on('peer-joined', resolve))
    await Promise.all([a.start(), b.start()])
    await joined
    const frame = new Uint8Array(1024 * 1024)
    for (let i = 0; i < frame.length; i++) frame[i] = (i * 2654435761) >>> 24
    expect(await a.call('sendBulk', { peer: 'bulk-b', bytes: frame })).toBe(true)
    const received = await got
    expect(received.length).toBe(frame.length)
    expect(Buffer.from(received).equals(Buffer.from(frame))).toBe(true)
    await Promise.all([a.kill(), b.kill()])
  })

  it('does not serve a peer that admit() refuses (not in the presence set)', async () => {
    const room = `admit-${process.pid}`
    const a = new RemoteTransport(asPeerId('adm-a'), room, signaling.url, ['adm-c'])
    const b = new RemoteTransport(asPeerId('adm-b'), room, signaling.url)
    const c = new RemoteTransport(asPeerId('adm-c'), room, signaling.url)
    spawned.push(a, b, c)
    await Promise.all([a.start(), b.start(), c.start()])
    for (let i = 0; i < 400 && (b.peers().size < 2 || a.peers().size < 1); i++) await sleep(50)
    await sleep(300)
    expect([...a.peers().keys()]).toEqual(['adm-b'])
    expect(new Set(b.peers().keys())).toEqual(new Set(['adm-a', 'adm-c']))
    await Promise.all([a.kill(), b.kill(), c.kill()])
  })
})
