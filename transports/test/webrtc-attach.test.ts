/**
 * Issue #11: a connection that closes while the transport attaches its data channels to it.
 * Real objects throughout: a started WebrtcTransport (its own y-webrtc provider, no signaling
 * server), y-webrtc's own WebrtcConn over @roamhq/wrtc, and the `peers` event y-webrtc emits
 * from a connection's close handler — the path the crash came through.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Room, type SignalingConn, WebrtcConn, type WebrtcProvider } from 'y-webrtc'
import { asPeerId } from '../src/transport.ts'
import { nodeWebrtc } from '../src/webrtc/node.ts'
import { BULK_CHANNEL_ID, ENGINE_CHANNEL_ID, WebrtcTransport } from '../src/webrtc/webrtc-transport.ts'

const { wrtc } = nodeWebrtc()
let seq = 0
let running: WebrtcTransport[] = []

afterEach(async () => {
  await Promise.all(running.map((t) => t.stop()))
  running = []
})

async function startTransport(
  connectTimeoutMs?: number,
): Promise<{ transport: WebrtcTransport; room: Room }> {
  const transport = new WebrtcTransport({
    room: `attach-${process.pid}-${seq++}`,
    signaling: [],
    peerId: 'self',
    wrtc,
    ...(connectTimeoutMs ? { connectTimeoutMs } : {}),
  })
  running.push(transport)
  await transport.start()
  // The y-webrtc room the transport drives (private; the test only adds connections to it).
  const room = (transport as unknown as { provider: WebrtcProvider }).provider.room
  if (!room) throw new Error('y-webrtc opened no room')
  return { transport, room }
}

/** A y-webrtc connection as its signaling client adds one (on an announce or offer from `remote`). */
function addConn(room: Room, remote: string, initiator = false, signaling?: SignalingConn): WebrtcConn {
  const conn = new WebrtcConn(signaling ?? ({} as SignalingConn), initiator, remote, room)
  room.webrtcConns.set(remote, conn)
  return conn
}

/** The `peers` event y-webrtc's signaling client emits after adding a connection. */
function reportAdded(room: Room, remote: string): void {
  room.provider.emit('peers', [
    { added: [remote], removed: [], webrtcPeers: [...room.webrtcConns.keys()], bcPeers: [...room.bcConns] },
  ])
}

type Candidate = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }
type Signal = { type?: string; sdp?: string; candidate?: Candidate }

/**
 * A remote end for a y-webrtc connection: a bare RTCPeerConnection holding the transport's two
 * negotiated channels, signaled directly (y-webrtc publishes each signal through `signaling`).
 */
function remoteEnd(): {
  pc: RTCPeerConnection
  engine: RTCDataChannel
  signaling: SignalingConn
  connect(conn: WebrtcConn): void
} {
  const Pc = (wrtc as { RTCPeerConnection: typeof RTCPeerConnection }).RTCPeerConnection
  const pc = new Pc({ iceServers: [] })
  const engine = pc.createDataChannel('peerchat-engine', { negotiated: true, id: ENGINE_CHANNEL_ID })
  pc.createDataChannel('peerchat-bulk', { negotiated: true, id: BULK_CHANNEL_ID })
  let conn: WebrtcConn | undefined
  let chain = Promise.resolve() // in order: the offer's description before its candidates
  const onSignal = async (signal: Signal) => {
    if (signal.type === 'offer') {
      await pc.setRemoteDescription({ type: 'offer', sdp: signal.sdp })
      await pc.setLocalDescription(await pc.createAnswer())
      conn?.peer.signal({ type: 'answer', sdp: pc.localDescription?.sdp })
    } else if (signal.candidate) await pc.addIceCandidate(signal.candidate)
  }
  pc.onicecandidate = ({ candidate: c }) => {
    if (c)
      conn?.peer.signal({
        candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex },
      })
  }
  const signaling = {
    send: (m: { data: { signal: Signal } }) => {
      chain = chain.then(() => onSignal(m.data.signal))
    },
  } as unknown as SignalingConn
  return {
    pc,
    engine,
    signaling,
    connect: (c) => {
      conn = c
    },
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const settle = () => sleep(50)
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

type NativePc = { close(): void; createDataChannel(label: string, init: object): { close(): void } }

describe('webrtc attach (issue #11)', () => {
  it.each([
    ['is closed', (pc: NativePc) => pc.close()],
    [
      // A channel of an earlier link, closed on a connection that never connected, keeps its id:
      // wrtc throws InvalidStateError "'createDataChannel' failed", the message of the issue.
      'still holds the id of an earlier channel',
      (pc: NativePc) => pc.createDataChannel('earlier', { negotiated: true, id: BULK_CHANNEL_ID }).close(),
    ],
  ])('survives a connection that %s when y-webrtc reports its peer', async (_, breakIt) => {
    const { transport, room } = await startTransport()
    const joined: string[] = []
    transport.on('peer-joined', ({ peer }) => joined.push(peer))
    const dead = addConn(room, 'peer-dead')
    const other = addConn(room, 'peer-other')
    const timersBefore = timers()

    // simple-peer has not noticed (conn.closed is false), as when the connection closes under us.
    breakIt(dead.peer._pc)
    // Another connection closes: y-webrtc's close handler emits `peers` inside simple-peer's
    // microtask, and the transport attaches to every open-looking connection in the room.
    other.peer.destroy()
    await settle()

    expect(transport.peers().has(asPeerId('peer-dead'))).toBe(false)
    expect(joined).toEqual([])
    expect(transport.stats()).toMatchObject({ peers: 0, attachFailures: 1 })
    // Torn down, not left half-attached: y-webrtc reconnects on the peer's next announce.
    expect(dead.closed).toBe(true)
    expect(room.webrtcConns.has('peer-dead')).toBe(false)
    expect(timers()).toBeLessThanOrEqual(timersBefore)
  })

  it('never reattaches to a live connection whose engine channel closed, and closes it if it lingers', async () => {
    const lingerMs = 2000 // connectTimeoutMs: also how long the connection itself may take
    const { transport, room } = await startTransport(lingerMs)
    const remote = remoteEnd()
    const events: string[] = []
    transport.on('peer-joined', ({ peer }) => events.push(`joined ${peer}`))
    transport.on('peer-left', ({ peer }) => events.push(`left ${peer}`))
    try {
      const conn = addConn(room, 'peer-live', true, remote.signaling)
      remote.connect(conn)
      reportAdded(room, 'peer-live')
      for (let i = 0; i < 200 && !transport.peers().has(asPeerId('peer-live')); i++) await sleep(25)
      expect(events).toEqual(['joined peer-live'])

      // The remote drops its link (or Chromium closes the channel): our engine channel closes while
      // the connection stays up, and in the same moment another connection closes, whose close
      // handler makes y-webrtc emit `peers`.
      transport.on('peer-left', () => addConn(room, 'peer-other').peer.destroy())
      remote.engine.close()
      for (let i = 0; i < 200 && events.length < 2; i++) await sleep(10)
      await settle()

      // Not reattached: fresh channels on this connection would have no remote end (a link that
      // looks open and delivers nothing), or fail on ids still held ("'createDataChannel' failed").
      expect(events).toEqual(['joined peer-live', 'left peer-live'])
      expect(transport.stats()).toMatchObject({ peers: 0, attachFailures: 0 })
      // Closed once it lingers, so y-webrtc reconnects on the peer's next announce.
      for (let i = 0; i < 100 && !conn.closed; i++) await sleep(50)
      expect(conn.closed).toBe(true)
      expect(room.webrtcConns.has('peer-live')).toBe(false)
    } finally {
      remote.pc.close()
    }
  })
})

describe('stray answers', () => {
  it("drops an answer from a peer y-webrtc holds no connection for (y-webrtc's handler would throw)", async () => {
    const name = `stray-${process.pid}-${seq++}`
    // An unreachable signaling URL: the connection object exists, which is all this needs.
    const transport = new WebrtcTransport({
      room: name,
      signaling: ['ws://127.0.0.1:9'],
      peerId: 'self',
      wrtc,
    })
    running.push(transport)
    await transport.start()
    const provider = (transport as unknown as { provider: WebrtcProvider }).provider
    const signaling = provider.signalingConns[0]!
    const answer = {
      type: 'publish',
      topic: name,
      data: { type: 'signal', from: 'gone', to: 'self', token: 1, signal: { type: 'answer', sdp: 'v=0' } },
    }
    expect(() => signaling.emit('message', [answer])).not.toThrow()
    expect(provider.room?.webrtcConns.has('gone')).toBe(false)
  })
})
