/**
 * What the peer processes (node-peer.ts, blob-node.ts) share: a Replica joined to the relay and
 * the WebRTC mesh with `connectReplica`, exactly as an application holds one, and the IPC loop
 * that `PeerProcess` (peer-process.ts) drives.
 */
import {
  type Identity,
  MemoryOutboxStore,
  publicKeyFromText,
  Replica,
  type ReplicaOptions,
  type Store,
} from '@peerchat/engine'
import { type Connection, connectReplica } from '@peerchat/transports/connect'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import WebSocket from 'ws'

/** The `start` arguments every peer process takes (scenario.ts `peerArgs`). */
export interface NodeArgs {
  relayUrl: string
  relayKey: string
  channels: string[]
  room: string
  /** Mesh over WebRTC (default true); without it, peers only through relay forwarding. */
  webrtc?: boolean
  /** The engine's sync policy options (the window, anti-entropy period...). */
  sync?: ReplicaOptions['sync']
  peer?: ReplicaOptions['peer']
  /** `virtual`: a virtual client's replica (stops starting catch-ups once caught up). */
  kind?: 'client' | 'virtual'
}

/** What `online` waits for: the relay login and the mesh (default), the login only, or nothing. */
export type OnlineWait = 'mesh' | 'relay' | 'none'

/** A replica over `store` with the peer's channels open; the outbox lives as long as the process. */
export async function openReplica(
  args: NodeArgs,
  identity: Identity,
  store: Store,
  outbox = new MemoryOutboxStore(),
): Promise<Replica> {
  const replica = await Replica.open({
    store,
    outbox,
    relayKeys: [publicKeyFromText(args.relayKey)],
    signer: identity,
    ...(args.kind === 'virtual' ? { virtual: true } : {}),
    ...(args.sync ? { sync: args.sync } : {}),
    ...(args.peer ? { peer: args.peer } : {}),
  })
  for (const c of args.channels) replica.open(c)
  return replica
}

/** Joins the relay and the mesh; resolves once `wait` holds (a hang shows as the IPC call timing out). */
export async function goOnline(
  replica: Replica,
  args: NodeArgs,
  identity: Identity,
  o: { isVirtual?: (key: Uint8Array) => boolean; wait?: OnlineWait; onLogin?: () => void } = {},
): Promise<Connection> {
  const webrtc = args.webrtc ?? true
  const connection = connectReplica(replica, {
    relayUrl: args.relayUrl,
    relayKey: publicKeyFromText(args.relayKey),
    identity,
    room: args.room,
    webrtc,
    WebSocket: WebSocket as never,
    ...(webrtc ? nodeWebrtc() : {}),
    ...(o.isVirtual ? { isVirtual: o.isVirtual } : {}),
  })
  const login = new Promise<void>((resolve) => {
    const off = connection.relay.on('state', (s) => {
      if (s !== 'online') return
      off()
      o.onLogin?.()
      resolve()
    })
  })
  const wait = o.wait ?? 'mesh'
  if (wait === 'none') return connection
  await login
  if (wait === 'mesh') await connection.meshReady
  return connection
}

/** Answers `PeerProcess.call`s with `ops` over IPC; exits with the parent. */
export function serveOps(ops: Record<string, (m: Record<string, unknown>) => Promise<unknown>>): void {
  process.on('message', async (m: { id: number; op: string } & Record<string, unknown>) => {
    try {
      const fn = ops[m.op]
      if (!fn) throw new Error(`unknown op ${m.op}`)
      process.send?.({ id: m.id, result: await fn(m) })
    } catch (e) {
      process.send?.({ id: m.id, error: (e as Error).stack ?? String(e) })
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send?.({ ready: true })
}
