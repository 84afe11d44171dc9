/**
 * One real peer in its own process (y-webrtc allows one room per JS realm): a Replica over a
 * memory store (or a FileStore, to restart from disk), joined to the relay over `ws` and to the
 * WebRTC mesh (@roamhq/wrtc) with `connectReplica`. The engine's sync policy does every
 * catch-up; the ops only write, read and observe. Driven over IPC by `PeerProcess`
 * (peer-process.ts).
 */
import {
  encodeEvent,
  Identity,
  type IdRange,
  MemoryOutboxStore,
  MemoryStore,
  publicKeyToText,
  type Replica,
  type Store,
  toHex,
  utf8,
} from '@peerchat/engine'
import { nodePeerBackend, useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, toStored, withCheckpoints } from '@peerchat/engine/testing'
import type { Connection } from '@peerchat/transports/connect'
import { FileStore } from '@peerchat/virtual-client'
import { goOnline, type NodeArgs, type OnlineWait, openReplica, serveOps } from './replica-node.ts'

useNodeCrypto()

interface StartArgs extends NodeArgs {
  verifyAuthors?: boolean
  checkpoints?: boolean
  /** Keep the events in a FileStore there (a later process on the same dir restarts from it). */
  storeDir?: string
  /** The identity's secret (`Identity.export()`): the same user across restarts. */
  secret?: string
}

let args: StartArgs
let identity: Identity
let store: Store
/** Pending writes survive offline/online within the process, as an app's outbox does. */
const outbox = new MemoryOutboxStore()
let replica: Replica
let connection: Connection | undefined
const virtualKeys = new Set<string>()
/** Reports of sync sessions this peer started since the last start/online. */
let reportsFrom = 0
/** When the first peer appeared, and when the relay login came, since the last start/online (ms since the epoch). */
let firstPeerAt: number | undefined
let loginAt: number | undefined

async function online(wait?: OnlineWait): Promise<void> {
  reportsFrom = replica.peer.reports.length
  firstPeerAt = undefined
  loginAt = undefined
  connection = await goOnline(replica, args, identity, {
    isVirtual: (key) => virtualKeys.has(publicKeyToText(key)),
    onLogin: () => {
      loginAt = Date.now()
    },
    ...(wait ? { wait } : {}),
  })
}

async function offline(): Promise<void> {
  await connection?.stop()
  connection = undefined
}

const log = (channel: string) => replica.open(channel)

/** Counts the held events of `kind` (all kinds when undefined) as they change; resolves at `count`. */
async function reach(channel: string, count: number, kind?: string): Promise<number> {
  let held = 0
  const counted = new Set<string>()
  return new Promise<number>((resolve, reject) => {
    let off = (): void => {}
    replica
      .subscribe(channel, (change) => {
        for (const e of change.added)
          if (kind === undefined || e.kind === kind) {
            counted.add(e.id)
            held++
          }
        for (const id of change.replaced) if (counted.delete(id)) held--
        if (held >= count) {
          off()
          resolve(Date.now())
        }
      })
      .then((unsubscribe) => {
        off = unsubscribe
        if (held >= count) off()
      }, reject)
  })
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

/** Writes through the replica and resolves once the relay stamped it. */
async function post(channel: string, text: string) {
  return replica.stamped(await replica.write(channel, 'message', utf8(text)))
}

serveOps({
  async start(m) {
    args = m.args as StartArgs
    identity = args.secret ? await Identity.import(args.secret) : await Identity.generate()
    store = args.storeDir ? await FileStore.open({ dir: args.storeDir }) : new MemoryStore()
    replica = await openReplica(
      {
        ...args,
        peer: {
          backend: nodePeerBackend,
          verifyAuthors: args.verifyAuthors ?? true,
          checkpoints: args.checkpoints ?? true,
        },
      },
      identity,
      store,
      outbox,
    )
    replica.peer.onPeerJoined(() => {
      firstPeerAt ??= Date.now()
    })
    await online(m.wait as OnlineWait | undefined)
    return publicKeyToText(identity.publicKey)
  },
  offline,
  async online(m) {
    await online(m.wait as OnlineWait | undefined)
  },
  async candidates() {
    return replica.peer.candidates().map((c) => `${c.port}:${c.peer}`)
  },
  async meshPeers() {
    return connection?.mesh ? connection.mesh.peers().size : 0
  },
  async post(m) {
    let last = ''
    for (let i = 0; i < (m.n as number); i++) last = (await post(m.channel as string, `${m.prefix}${i}`)).id
    return last
  },
  /** `author:clientNonce` (hex) of every held event: the identity a retried send keeps. */
  async sends(m) {
    return (await log(m.channel as string).range({})).map((e) => `${toHex(e.author)}:${toHex(e.clientNonce)}`)
  },
  /** Ids held in `range`, of every kind or only of `kind`. */
  async ids(m) {
    const events = await log(m.channel as string).range((m.range as IdRange) ?? {})
    return events.filter((e) => m.kind === undefined || e.kind === m.kind).map((e) => e.id)
  },
  /** Reconciles a range now (scroll-back) with the best peer, or with the peer of key `from`: the report. */
  async sync(m) {
    const channel = m.channel as string
    const range = m.range as IdRange | undefined
    if (m.from === undefined) return replica.sync(channel, range)
    const c = replica.peer.candidates().find((c) => c.info.key && publicKeyToText(c.info.key) === m.from)
    if (!c) throw new Error(`no link to ${m.from}`)
    return replica.peer.sync(channel, { ...(range ? { range } : {}), peer: { port: c.port, peer: c.peer } })
  },
  /** Reports of the sync sessions this peer started since its last start/online. */
  async reports() {
    return replica.peer.reports.slice(reportsFrom)
  },
  /**
   * Resolves once `count` events (of `kind`, if given) are held: when that happened, when the
   * relay login came and when the first peer appeared since the last start/online (ms since the
   * epoch, this machine's clock).
   */
  async reach(m) {
    const at = await reach(m.channel as string, m.count as number, m.kind as string | undefined)
    return { at, loginAt, firstPeerAt }
  },
  /** Resolves when no sync job of the replica is queued or running. */
  async settled() {
    await replica.settled()
  },
  async stats() {
    return {
      peer: { ...replica.peer.stats, fromRelay: replica.stats.fromRelay },
      relay: connection?.relay.stats,
      mesh: connection?.mesh?.stats(),
      reports: replica.peer.reports,
    }
  },
  /** Writes every `everyMs` until stopLoop; writes survive relay outages in the outbox. */
  async startLoop(m) {
    loop = { calls: 0, acked: [], failed: 0, pending: new Set(), timer: undefined }
    const l = loop
    const tick = () => {
      const p = post(m.channel as string, `loop ${l.calls}`)
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
    await replica.peer.audited()
    return { audited: replica.peer.stats.audited, forged: replica.peer.stats.forged }
  },
  /**
   * Fills the store with `n` really signed and stamped events (as if synced earlier), with the
   * relay's checkpoints interleaved (`checkpointEvery`, 0 = none; not counted in `n`). Their ids
   * are `n` ms apart ending `endAgoMs` ago (default: now).
   */
  async generate(m) {
    const relayId = await Identity.import(m.relaySecret as string)
    const authors = await Promise.all(Array.from({ length: 8 }, () => Identity.generate()))
    const every = (m.checkpointEvery as number | undefined) ?? 0
    const n = m.n as number
    const pool = await signedPool({
      channel: m.channel as string,
      relay: relayId,
      authors,
      count: n,
      start: Date.now() - ((m.endAgoMs as number | undefined) ?? 0) - n,
      stepMs: 1,
    })
    const events = every > 0 ? await withCheckpoints(pool, relayId, every) : pool
    await store.putMany(m.channel as string, events.map(toStored))
    return { count: events.length, bytes: events.reduce((sum, e) => sum + encodeEvent(e).length, 0) }
  },
  async markVirtual(m) {
    virtualKeys.add(m.key as string)
  },
  /** Stops the replica and closes its store (a FileStore then reopens in another process). */
  async stop() {
    await offline()
    await replica.stop()
    await store.close()
  },
})
