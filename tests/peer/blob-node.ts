/**
 * A real peer process for the blob scenarios (tests/peer/blobs-webrtc.test.ts): a Replica
 * joined to the relay and the WebRTC mesh with `connectReplica`, plus a `BlobExchange` over the
 * mesh only (never the relay-forwarded fallback). Test knobs: serve corrupted chunks, stop
 * serving after n chunks. Driven over IPC by `PeerProcess` (peer-process.ts) with this file as
 * its child.
 */
import { createHash } from 'node:crypto'
import {
  decodeProtocolFrame,
  encodeProtocolFrame,
  Identity,
  MemoryStore,
  Protocol,
  publicKeyToText,
  type Replica,
} from '@peerchat/engine'
import {
  BlobExchange,
  type BlobPort,
  decodeBlobFrame,
  describeBlob,
  encodeBlobFrame,
  MemoryBlobStore,
} from '@peerchat/engine/blobs'
import { decodeAttachment, encodeAttachment, Kind } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { seededBytes } from '@peerchat/engine/testing'
import type { Connection } from '@peerchat/transports/connect'
import { goOnline, type NodeArgs, openReplica, serveOps } from './replica-node.ts'

useNodeCrypto()

interface StartArgs extends NodeArgs {
  fanout?: number
  /** Keys (text) of virtual clients: asked last. */
  virtual?: string[]
}

const store = new MemoryStore()
const blobStore = new MemoryBlobStore()
let args: StartArgs
let identity: Identity
let replica: Replica
let connection: Connection | undefined
let exchange: BlobExchange | undefined
/** Test knobs. */
let corrupt = false
let stallAfter: number | undefined
/** Chunks actually sent (a stalled peer withholds the rest). */
let servedChunks = 0
/** Stats of the exchanges of earlier sessions (offline/online), summed. */
const totals = { chunkBytesSent: 0, chunkBytesReceived: 0, chunkBytesWasted: 0, badChunks: 0 }

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** The mesh as the exchange sees it, with the test's tampering on outgoing chunks. */
function blobPort(mesh: NonNullable<Connection['mesh']>): BlobPort {
  /** The frame to send instead of `bytes` (a blob frame under its protocol id); undefined to withhold it (stalled). */
  const tamper = (bytes: Uint8Array): Uint8Array | undefined => {
    const framed = decodeProtocolFrame(bytes)
    if (framed?.id !== Protocol.blobs) return bytes
    const f = decodeBlobFrame(framed.payload)
    if (f.type !== 'chunk') return bytes
    if (stallAfter !== undefined && servedChunks >= stallAfter) return undefined
    servedChunks++
    if (!corrupt) return bytes
    const data = f.data.slice()
    data[0] = data[0]! ^ 0xff
    return encodeProtocolFrame(Protocol.blobs, encodeBlobFrame({ ...f, data }))
  }
  const through =
    (send: (peer: never, bytes: Uint8Array) => boolean) => (peer: string, bytes: Uint8Array) => {
      const out = tamper(bytes)
      return out ? send(peer as never, out) : true
    }
  return {
    self: mesh.self,
    send: through(mesh.send.bind(mesh)),
    sendBulk: through(mesh.sendBulk.bind(mesh)),
    peers: () => mesh.peers(),
    on: mesh.on.bind(mesh) as unknown as BlobPort['on'],
  }
}

async function online(): Promise<void> {
  connection = await goOnline(replica, args, identity, {
    isVirtual: (key) => args.virtual?.includes(publicKeyToText(key)) ?? false,
  })
  exchange = new BlobExchange({
    store: blobStore,
    port: blobPort(connection.mesh!),
    fanout: args.fanout ?? 3,
    requestTimeoutMs: 3_000,
    offerTimeoutMs: 2_000,
    pullDelayMs: 500,
  })
  await exchange.start()
}

async function offline(): Promise<void> {
  if (exchange) {
    totals.chunkBytesSent += exchange.stats.chunkBytesSent
    totals.chunkBytesReceived += exchange.stats.chunkBytesReceived
    totals.badChunks += exchange.stats.badChunks
    totals.chunkBytesWasted += exchange.stats.chunkBytesWasted
  }
  exchange?.stop()
  exchange = undefined
  await connection?.stop()
  connection = undefined
}

async function attachment(channel: string, id: string) {
  const event = (await replica.open(channel).range({})).find((e) => e.id === id)
  if (!event || event.kind !== Kind.attachment) throw new Error(`no attachment ${id}`)
  return decodeAttachment(event.body)
}

serveOps({
  async start(m) {
    args = m.args as StartArgs
    identity = await Identity.generate()
    replica = await openReplica(args, identity, store)
    await online()
  },
  offline,
  async online() {
    stallAfter = undefined
    await online()
  },
  async meshPeers() {
    return connection?.mesh ? connection.mesh.peers().size : 0
  },
  async ids(m) {
    return (await replica.open(m.channel as string).range({})).map((e) => e.id)
  },
  /** Stamps an attachment through the relay, then stores, announces and pushes the blob. */
  async blobPost(m) {
    const bytes = seededBytes(m.size as number, m.seed as number)
    const d = describeBlob(bytes)
    const body = encodeAttachment({
      digest: d.digest,
      size: d.size,
      chunkRoot: d.chunkRoot,
      mime: 'application/octet-stream',
      name: 'file.bin',
    })
    const event = await replica.stamped(await replica.write(m.channel as string, Kind.attachment, body))
    await exchange!.publish(bytes)
    return { id: event.id, sha256: sha(bytes) }
  },
  /** Fetches the attachment of event `id` (pull); resolves with the SHA-256 of what arrived. */
  async blobFetch(m) {
    const a = await attachment(m.channel as string, m.event as string)
    const bytes = await exchange!.fetch(a)
    return { sha256: sha(bytes), size: bytes.length }
  },
  /** Wants the attachment of event `event`: accepts pushes of it, pulls it if none comes. */
  async blobWant(m) {
    exchange!.want(await attachment(m.channel as string, m.event as string))
  },
  async blobHolds(m) {
    const a = await attachment(m.channel as string, m.event as string)
    if (!exchange?.holds(a.digest)) return undefined
    return sha((await blobStore.get(a.digest))!)
  },
  async blobProgress(m) {
    const a = await attachment(m.channel as string, m.event as string)
    return exchange?.progress(a.digest)?.held ?? (exchange?.holds(a.digest) ? -1 : 0)
  },
  async blobStats() {
    const s = exchange?.stats
    return {
      chunkBytesSent: totals.chunkBytesSent + (s?.chunkBytesSent ?? 0),
      chunkBytesReceived: totals.chunkBytesReceived + (s?.chunkBytesReceived ?? 0),
      chunkBytesWasted: totals.chunkBytesWasted + (s?.chunkBytesWasted ?? 0),
      badChunks: totals.badChunks + (s?.badChunks ?? 0),
      servedChunks,
    }
  },
  async blobCorrupt(m) {
    corrupt = m.on as boolean
  },
  /** Sends `chunks` more chunks, then withholds every further one (a peer that stalls). */
  async blobStallAfter(m) {
    stallAfter = servedChunks + (m.chunks as number)
  },
})
