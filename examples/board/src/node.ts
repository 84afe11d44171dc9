/**
 * The board in Node: a Replica on files in `dir`, joined to the relay and, over WebRTC, to the
 * other members. The CLI (cli.ts) and the tests open it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Identity, publicKeyFromText, Replica } from '@peerchat/engine'
import { createWorkerGuard, useNodeCrypto } from '@peerchat/engine/node'
import { FileOutboxStore, FileStore } from '@peerchat/store-file'
import { type Connection, connectReplica } from '@peerchat/transports/connect'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import { type Board, openBoard } from './board.ts'

export interface BoardNodeOptions {
  /** ws://host:port of the relay. */
  relayUrl: string
  /** The relay's public key, as text (the relay prints it). */
  relayKey: string
  /** Where this member's board lives: `identity.key`, `store/` and `outbox/`, created on first use. */
  dir: string
  /** Default 'board'; the relay must know it (`--channel board`, or PEERCHAT_CHANNELS). */
  channel?: string
  /** Peers' frames through the relay when WebRTC cannot connect (default true). */
  fallback?: boolean
}

export interface BoardNode {
  board: Board
  replica: Replica
  identity: Identity
  /** The links to the relay and the mesh; undefined while disconnected. */
  readonly connection: Connection | undefined
  /** Joins the relay and the mesh again (`openBoardNode` does it first); nothing waits for them. */
  connect(): Connection
  /** Drops the links: the board works on offline, its writes wait in the outbox. */
  disconnect(): Promise<void>
  /** Closes the board, the links, the replica and its files; unsent writes stay in the outbox. */
  close(): Promise<void>
}

export async function openBoardNode(o: BoardNodeOptions): Promise<BoardNode> {
  useNodeCrypto()
  const identity = await loadIdentity(join(o.dir, 'identity.key'))
  const relayKey = publicKeyFromText(o.relayKey)
  // Stamped events in `store/`, local writes until stamped in `outbox/`: both survive kill -9.
  const store = await FileStore.open({ dir: join(o.dir, 'store') })
  const outbox = await FileOutboxStore.open({ dir: join(o.dir, 'outbox') })
  const replica = await Replica.open({ store, outbox, relayKeys: [relayKey], signer: identity })
  const board = await openBoard(replica, {
    channel: o.channel ?? 'board',
    // Descriptions are Yjs updates from anyone: check them in a worker thread (deadline, heap cap).
    descriptions: () => ({ guard: createWorkerGuard() }),
  })
  let connection: Connection | undefined
  const node: BoardNode = {
    board,
    replica,
    identity,
    get connection() {
      return connection
    },
    connect() {
      connection ??= connectReplica(replica, {
        relayUrl: o.relayUrl,
        relayKey,
        identity,
        fallback: o.fallback ?? true,
        ...nodeWebrtc(), // WebRTC in Node (@roamhq/wrtc) and the `ws` WebSocket
      })
      return connection
    },
    async disconnect() {
      const c = connection
      connection = undefined
      await c?.stop()
    },
    async close() {
      await board.close() // flushes descriptions into the outbox
      await node.disconnect()
      await replica.stop()
      await outbox.close()
      await store.close()
    },
  }
  node.connect()
  return node
}

/** This member's key, created on first use (0600). */
async function loadIdentity(file: string): Promise<Identity> {
  try {
    return await Identity.import((await readFile(file, 'utf8')).trim())
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  const identity = await Identity.generate()
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, `${identity.export()}\n`, { mode: 0o600, flag: 'wx' })
  return identity
}
