/**
 * A child process hosting one real WebrtcTransport (y-webrtc allows one room per JS realm),
 * driven over IPC by `RemoteTransport` in the test process.
 */
import { useNodeCrypto } from '@peerchat/engine/node'
import { asPeerId } from '../../src/transport.ts'
import { nodeWebrtc } from '../../src/webrtc/node.ts'
import { WebrtcTransport } from '../../src/webrtc/webrtc-transport.ts'

useNodeCrypto()
const [room, signaling, peerId, refuse] = process.argv.slice(2) as [
  string,
  string,
  string,
  string | undefined,
]
const refused = new Set((refuse ?? '').split(',').filter(Boolean))
const transport = new WebrtcTransport({
  room,
  signaling: [signaling],
  peerId,
  ...nodeWebrtc(),
  admit: (peer) => (refused.has(peer) ? undefined : { kind: 'client' }),
})
const post = (msg: unknown) => process.send?.(msg)
transport.on('peer-joined', ({ peer, info }) => post({ ev: 'peer-joined', peer, info }))
transport.on('peer-left', ({ peer }) => post({ ev: 'peer-left', peer }))
transport.on('frame', ({ from, bytes }) => post({ ev: 'frame', from, bytes }))

process.on('message', async (m: { id: number; op: string; peer?: string; bytes?: Uint8Array }) => {
  let result: unknown
  try {
    if (m.op === 'start') result = await transport.start()
    else if (m.op === 'stop') result = await transport.stop()
    else if (m.op === 'send') result = transport.send(asPeerId(m.peer!), m.bytes!)
    else if (m.op === 'sendBulk') result = transport.sendBulk(asPeerId(m.peer!), m.bytes!)
    else if (m.op === 'broadcast') result = transport.broadcast(m.bytes!)
    else if (m.op === 'stats') result = { ...transport.stats(), peers: [...transport.peers().keys()] }
    else if (m.op === 'exit') {
      await transport.stop()
      process.exit(0)
    }
    post({ id: m.id, result })
  } catch (e) {
    post({ id: m.id, error: { name: (e as Error).name, message: (e as Error).message } })
  }
})
post({ ev: 'ready' })
