/**
 * One real peer in its own process (y-webrtc allows one room per JS realm): relay client over
 * `ws`, WebRTC mesh through the relay's signaling path (@roamhq/wrtc), a memory store, and
 * the engine's Peer. Driven over IPC by `PeerProcess` (peer-process.ts).
 */
import {
  encodeEvent,
  Identity,
  type IdRange,
  MemoryStore,
  publicKeyFromText,
  publicKeyToText,
  toHex,
  utf8,
} from '@peerchat/engine'
import { nodePeerBackend, useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, toStored, withCheckpoints } from '@peerchat/engine/testing'
import { type Connected, connectPeer } from '@peerchat/transports/connect'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import WebSocket from 'ws'

useNodeCrypto()

interface StartArgs {
  relayUrl: string
  relayKey: string
  channels: string[]
  room: string
  kind: 'client' | 'virtual'
  webrtc: boolean
  catchUpSince?: number
  verifyAuthors?: boolean
  checkpoints?: boolean
}

const store = new MemoryStore()
let args: StartArgs
let identity: Identity
let node: Connected | undefined
const virtualKeys = new Set<string>()

async function goOnline(): Promise<void> {
  node = await connectPeer({
    relayUrl: args.relayUrl,
    relayKey: publicKeyFromText(args.relayKey),
    identity,
    store,
    channels: args.channels,
    room: args.room,
    webrtc: args.webrtc,
    WebSocket: WebSocket as never,
    ...nodeWebrtc(),
    isVirtual: (key) => virtualKeys.has(publicKeyToText(key)),
    peer: {
      backend: nodePeerBackend,
      verifyAuthors: args.verifyAuthors ?? true,
      checkpoints: args.checkpoints ?? true,
      ...(args.catchUpSince !== undefined ? { catchUpSince: () => args.catchUpSince! } : {}),
    },
  })
}

async function goOffline(): Promise<void> {
  await node?.stop()
  node = undefined
}

let loop:
  | {
      calls: number
      acked: string[]
      failed: number
      pending: Set<Promise<unknown>>
      timer: ReturnType<typeof setTimeout> | undefined
    }
  | undefined

const ops: Record<string, (m: Record<string, unknown>) => Promise<unknown>> = {
  async start(m) {
    args = m.args as StartArgs
    identity = await Identity.generate()
    await goOnline()
    return publicKeyToText(identity.publicKey)
  },
  offline: goOffline,
  online: goOnline,
  async candidates() {
    return node!.peer.candidates().map((c) => `${c.port}:${c.peer}`)
  },
  async meshPeers() {
    return node?.mesh ? node.mesh.peers().size : 0
  },
  async post(m) {
    const n = m.n as number
    let last = ''
    for (let i = 0; i < n; i++)
      last = (await node!.peer.publish(m.channel as string, 'message', utf8(`${m.prefix}${i}`))).id
    return last
  },
  /** `author:clientNonce` (hex) of every held event: the identity a retried send keeps. */
  async sends(m) {
    const log = await node!.peer.open(m.channel as string)
    return (await log.range({})).map((e) => `${toHex(e.author)}:${toHex(e.clientNonce)}`)
  },
  /** Ids held in `range`, of every kind or only of `kind`. */
  async ids(m) {
    const log = await node!.peer.open(m.channel as string)
    const events = await log.range((m.range as IdRange) ?? {})
    return events.filter((e) => m.kind === undefined || e.kind === m.kind).map((e) => e.id)
  },
  async catchUp() {
    return node!.peer.catchUp()
  },
  async sync(m) {
    return node!.peer.sync(m.channel as string, { range: m.range as IdRange })
  },
  async stats() {
    return {
      peer: node?.peer.stats,
      relay: node?.relay.stats,
      mesh: node?.mesh?.stats(),
      reports: node?.peer.reports,
    }
  },
  /** Posts every `everyMs` until stopLoop; publish calls survive relay outages in the outbox. */
  async startLoop(m) {
    loop = { calls: 0, acked: [], failed: 0, pending: new Set(), timer: undefined }
    const l = loop
    const tick = () => {
      const p = node!.peer.publish(m.channel as string, 'message', utf8(`loop ${l.calls}`))
      l.calls++
      l.pending.add(p)
      p.then(
        (e) => l.acked.push(`${toHex(e.author)}:${toHex(e.clientNonce)}`),
        () => l.failed++,
      ).finally(() => l.pending.delete(p))
      l.timer = setTimeout(tick, m.everyMs as number)
    }
    tick()
  },
  async stopLoop() {
    const l = loop!
    clearTimeout(l.timer)
    await Promise.allSettled([...l.pending])
    return { calls: l.calls, acked: l.acked, failed: l.failed }
  },
  /** Waits for the background author checks of checkpoint-vouched events; returns the counts. */
  async audited() {
    await node!.peer.audited()
    return { audited: node!.peer.stats.audited, forged: node!.peer.stats.forged }
  },
  /**
   * Fills the store with `n` really signed and stamped events (as if synced earlier), with the
   * relay's checkpoints interleaved (`checkpointEvery`, 0 = none; not counted in `n`).
   */
  async generate(m) {
    const relayId = await Identity.import(m.relaySecret as string)
    const authors = await Promise.all(Array.from({ length: 8 }, () => Identity.generate()))
    const every = (m.checkpointEvery as number | undefined) ?? 0
    const pool = await signedPool({
      channel: m.channel as string,
      relay: relayId,
      authors,
      count: m.n as number,
      start: Date.now() - (m.n as number),
      stepMs: 1,
    })
    const events = every > 0 ? await withCheckpoints(pool, relayId, every) : pool
    await store.putMany(m.channel as string, events.map(toStored))
    return { count: events.length, bytes: events.reduce((sum, e) => sum + encodeEvent(e).length, 0) }
  },
  async markVirtual(m) {
    virtualKeys.add(m.key as string)
  },
}

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
