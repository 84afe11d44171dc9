/**
 * A pool of stamped events signed once per test file (node:crypto), deterministic from its
 * options: a relay (whose identity the simulation's MemoryRelay stamps with), a few authors,
 * honest events in id order (a few of them conflicting twins: same author and clientNonce,
 * another body, a later id), hostile variants, and the signers the replicas write with.
 */
import {
  type Ed25519Backend,
  Identity,
  monotonicUlid,
  type SignedRequest,
  type StampedEvent,
  signRequest,
  stamp,
  utf8,
} from '@peerchat/engine'
import { nodeCryptoBackend, useNodeCrypto } from '@peerchat/engine/node'
import { SeededRandom } from '@peerchat/transports/memory'

export const CHANNEL = 'sim'
/** Time of the pool's first event (ms). */
export const POOL_START = 1_700_000_000_000
/**
 * Where a simulation's virtual clock starts: an hour after the pool, so pre-stamped pool events
 * sit inside the replicas' 24 h sync window along with what the relay stamps during the run.
 */
export const SIM_START = POOL_START + 60 * 60_000
/** Signers made for replicas' writes (one per replica). */
export const WRITERS = 8

export interface HostileEvent {
  kind: 'badRelaySig' | 'badAuthorSig' | 'tamperedBody' | 'duplicateNonce' | 'otherChannel'
  event: StampedEvent
}

/**
 * A forgery a log may store for a while: the duplicate-nonce twin is validly stamped by the relay
 * key, so a replica that lacks its victim accepts it until the victim (smaller id) replaces it.
 */
export const validlyStamped = (h: HostileEvent): boolean => h.kind === 'duplicateNonce'

export interface Pool {
  /** Stamped the pool; the simulation's MemoryRelay stamps with it too (one trusted relay key). */
  relay: Identity
  relayKey: Uint8Array
  /** Honest events in the order replicas append them (ids increase along it). */
  events: StampedEvent[]
  hostile: HostileEvent[]
  /** Replica i writes as `writers[i]`. */
  writers: Identity[]
  /** Verification backend for the logs of a simulation (memoised: each pool event is checked once). */
  backend: Ed25519Backend
}

/**
 * node:crypto with its verdicts memoised by (key, message, signature). Sound because a verdict is
 * a pure function of those bytes; it turns "every replica verifies every event" into one check per
 * distinct event, which keeps hundreds of property runs fast.
 */
export function memoisedBackend(inner: Ed25519Backend = nodeCryptoBackend): Ed25519Backend {
  const verdicts = new Map<string, boolean>()
  const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1')
  return {
    name: `memoised ${inner.name}`,
    publicKey: (seed) => inner.publicKey(seed),
    sign: (seed, message) => inner.sign(seed, message),
    async verify(pub, message, sig) {
      const key = latin1(pub) + latin1(sig) + latin1(message)
      let ok = verdicts.get(key)
      if (ok === undefined) {
        ok = await inner.verify(pub, message, sig)
        verdicts.set(key, ok)
      }
      return ok
    },
  }
}

const seedOf = (n: number) => {
  const s = new Uint8Array(32)
  s[0] = n
  s[31] = 0x5a
  return s
}

export async function makePool(opts: {
  events: number
  authors?: number
  twinEvery?: number
  seed?: number
}): Promise<Pool> {
  useNodeCrypto()
  const random = new SeededRandom(opts.seed ?? 1)
  const relay = await Identity.fromSeed(seedOf(200))
  const fakeRelay = await Identity.fromSeed(seedOf(201))
  const authors = await Promise.all(
    Array.from({ length: opts.authors ?? 4 }, (_, i) => Identity.fromSeed(seedOf(i + 1))),
  )
  let time = POOL_START
  const nextId = monotonicUlid(
    () => (time += random.int(0, 3)),
    (n) => Uint8Array.from({ length: n }, () => random.int(0, 255)),
  )
  const nonce = () => Uint8Array.from({ length: 16 }, () => random.int(0, 255))
  const twinEvery = opts.twinEvery ?? 10

  const events: StampedEvent[] = []
  let previous: SignedRequest | undefined
  for (let i = 0; i < opts.events; i++) {
    const author = authors[i % authors.length]!
    let req: SignedRequest
    if (twinEvery > 0 && i % twinEvery === twinEvery - 1 && previous) {
      // A retried send whose body changed: same (author, clientNonce), later id. The smaller id wins.
      const twinAuthor = authors.find((a) => a.publicKey === previous!.author)!
      req = await signRequest(twinAuthor, {
        channel: CHANNEL,
        kind: 'message',
        clientNonce: previous.clientNonce,
        body: utf8(`twin of ${i - 1}`),
      })
    } else {
      req = await signRequest(author, {
        channel: CHANNEL,
        kind: 'message',
        clientNonce: nonce(),
        body: utf8(`event ${i}`),
      })
    }
    events.push(await stamp(relay, nextId(), req))
    previous = req
  }

  const victim = events[0]!
  const hostile: HostileEvent[] = []
  const req = await signRequest(authors[0]!, {
    channel: CHANNEL,
    kind: 'message',
    clientNonce: nonce(),
    body: utf8('forged'),
  })
  hostile.push({ kind: 'badRelaySig', event: await stamp(fakeRelay, nextId(), req) })
  const badSig = req.authorSig.slice()
  badSig[5]! ^= 1
  hostile.push({ kind: 'badAuthorSig', event: await stamp(relay, nextId(), { ...req, authorSig: badSig }) })
  for (const target of events.slice(0, 3)) {
    const body = target.body.slice()
    body[0]! ^= 0x20
    hostile.push({ kind: 'tamperedBody', event: { ...target, body } })
  }
  // Validly signed and stamped, but its (author, clientNonce) is already held by an earlier id.
  const conflicting = await signRequest(authors.find((a) => a.publicKey === victim.author)!, {
    channel: CHANNEL,
    kind: 'message',
    clientNonce: victim.clientNonce,
    body: utf8('a different body'),
  })
  hostile.push({ kind: 'duplicateNonce', event: await stamp(relay, nextId(), conflicting) })
  const elsewhere = await signRequest(authors[1]!, {
    channel: 'elsewhere',
    kind: 'message',
    clientNonce: nonce(),
    body: utf8('x'),
  })
  hostile.push({ kind: 'otherChannel', event: await stamp(relay, nextId(), elsewhere) })

  const writers = await Promise.all(
    Array.from({ length: WRITERS }, (_, i) => Identity.fromSeed(seedOf(100 + i))),
  )
  return { relay, relayKey: relay.publicKey, events, hostile, writers, backend: memoisedBackend() }
}
