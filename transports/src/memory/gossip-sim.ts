/**
 * A seeded gossip simulator for blobs: N peers (some of them virtual clients) on a
 * `MemoryNetwork` driven by a `VirtualClock`, each running a `BlobExchange` over a memory
 * store. One peer publishes a blob; every peer wants it (it saw the attachment stamp).
 * Churn takes peers down mid-spread and brings them back; links may lose frames.
 * Used by tests (tests/blobs/*.test.ts) and by `pnpm bench:gossip`.
 *
 * A **round** is the time one transfer of the blob takes between two idle peers on the same
 * links, measured in the same run (`measureRound`). By default link latency, not bandwidth, is
 * modelled, so a round is the classic gossip step in which every holder can serve its fanout
 * at once; `uplinkBytesPerMs` adds a per-peer upload bandwidth (frames queue behind each other).
 */

import { SeededRandom, VirtualClock } from '@peerchat/engine'
import {
  BlobExchange,
  type BlobExchangeOptions,
  type BlobMeta,
  type BlobPort,
  describeBlob,
  MemoryBlobStore,
} from '@peerchat/engine/blobs'
import { type LinkProfile, MemoryNetwork } from './network.ts'
import type { MemoryTransport } from './transport.ts'

export interface GossipSimOptions {
  /** Peers in all, the uploader and the virtual clients included (2..500). */
  peers: number
  /** How many of them are virtual clients (fanout 0, asked last). Default 2 when peers >= 10, else 0. */
  virtual?: number
  seed: number
  /** Bytes of the blob. Default 1 MiB. */
  size?: number
  /** Fraction of the other real peers that go down during the spread and come back. Default 0. */
  churn?: number
  /** Probability each frame is lost. Default 0. */
  loss?: number
  /** One-way link latency in ms. Default 20..40. */
  latency?: LinkProfile['latency']
  /** Exchange options of every peer (virtual clients always get fanout 0). */
  exchange?: Partial<Omit<BlobExchangeOptions, 'store' | 'port' | 'clock' | 'random'>>
  /**
   * Upload bandwidth of every peer in bytes per ms (frames leave one after the other);
   * unlimited when absent, so only latency is modelled.
   */
  uplinkBytesPerMs?: number
  /** Give up after this many rounds. Default 60. */
  maxRounds?: number
}

export interface GossipSimResult {
  seed: number
  peers: number
  virtual: number
  size: number
  /** Peers that went down and came back. */
  churned: number
  /** Milliseconds of one round (one isolated transfer on these links). */
  roundMs: number
  /** Rounds from the publish until every peer (all back online) held the blob; undefined if never. */
  rounds: number | undefined
  /** Rounds until, for the first time, every peer online at that moment held it. */
  roundsOnline: number | undefined
  /** Peers holding the blob at the end, of `peers`. */
  holders: number
  /** Wire bytes of every blob frame sent, and the ideal (N-1) x size. */
  totalBytes: number
  idealBytes: number
  /** Chunk bytes the uploader sent, in copies of the blob. */
  uploaderCopies: number
  /** Share of chunk bytes served by virtual clients (while real peers held the blob). */
  virtualShare: number
  badChunks: number
  /** Chunk bytes that arrived but were not needed (duplicates, late after a change of source). */
  wastedBytes: number
}

interface SimPeer {
  id: string
  virtual: boolean
  transport: MemoryTransport
  exchange: BlobExchange
}

const DEFAULT_LATENCY = { min: 20, max: 40 }

function blobOf(size: number, seed: number): Uint8Array {
  const random = new SeededRandom(seed ^ 0x5bd1e995)
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i += 4) {
    const x = Math.floor(random.next() * 2 ** 32)
    bytes[i] = x & 0xff
    bytes[i + 1] = (x >>> 8) & 0xff
    bytes[i + 2] = (x >>> 16) & 0xff
    bytes[i + 3] = x >>> 24
  }
  return bytes
}

/** The transport behind an uplink of `rate` bytes/ms: each frame leaves when the previous one has. */
function throttled(transport: MemoryTransport, clock: VirtualClock, rate: number): BlobPort {
  let freeAt = 0
  return {
    self: transport.self,
    peers: () => transport.peers(),
    on: transport.on.bind(transport) as unknown as BlobPort['on'],
    send(peer, bytes) {
      if (!transport.peers().has(peer as never)) return false
      freeAt = Math.max(freeAt, clock.now()) + bytes.length / rate
      const copy = bytes.slice()
      clock.setTimeout(() => transport.send(peer as never, copy), freeAt - clock.now())
      return true
    },
  }
}

async function buildPeers(
  net: MemoryNetwork,
  clock: VirtualClock,
  n: number,
  virtual: number,
  random: SeededRandom,
  exchange: GossipSimOptions['exchange'],
  uplink?: number,
): Promise<SimPeer[]> {
  const peers: SimPeer[] = []
  for (let i = 0; i < n; i++) {
    // peer 0 is the uploader; the last `virtual` peers are virtual clients
    const isVirtual = i >= n - virtual
    const id = `${isVirtual ? 'v' : 'p'}${String(i).padStart(3, '0')}`
    const transport = net.transport(id, { info: { kind: isVirtual ? 'virtual' : 'client' } })
    const peerRandom = new SeededRandom(Math.floor(random.next() * 2 ** 31))
    const ex = new BlobExchange({
      store: new MemoryBlobStore(),
      port: uplink ? throttled(transport, clock, uplink) : transport,
      clock,
      random: () => peerRandom.next(),
      ...exchange,
      ...(isVirtual ? { fanout: 0 } : {}),
    })
    peers.push({ id, virtual: isVirtual, transport, exchange: ex })
  }
  for (const p of peers) {
    await p.transport.start()
    await p.exchange.start()
  }
  await clock.run()
  return peers
}

/** Milliseconds one transfer of `size` bytes takes between two idle peers on these links. */
export async function measureRound(
  size: number,
  seed: number,
  latency = DEFAULT_LATENCY,
  uplink?: number,
): Promise<number> {
  const clock = new VirtualClock()
  const net = new MemoryNetwork({ seed, clock, link: { latency } })
  const [a, b] = await buildPeers(
    net,
    clock,
    2,
    0,
    new SeededRandom(seed),
    { pullDelayMs: 3_600_000 },
    uplink,
  )
  const bytes = blobOf(size, seed)
  const meta = describeBlob(bytes)
  b!.exchange.want(meta)
  const start = clock.now()
  await clock.track(a!.exchange.publish(bytes))
  while (!b!.exchange.holds(meta.digest) && (await clock.step())) {}
  const ms = clock.now() - start
  for (const p of [a!, b!]) {
    p.exchange.stop()
    await p.transport.stop()
  }
  await clock.run()
  return ms
}

export async function runGossipSim(opts: GossipSimOptions): Promise<GossipSimResult> {
  const n = opts.peers
  if (!Number.isInteger(n) || n < 2 || n > 500) throw new RangeError('peers must be in [2, 500]')
  const size = opts.size ?? 1024 * 1024
  const virtual = opts.virtual ?? (n >= 10 ? 2 : 0)
  const latency = opts.latency ?? DEFAULT_LATENCY
  const roundMs = await measureRound(size, opts.seed, latency, opts.uplinkBytesPerMs)
  const maxRounds = opts.maxRounds ?? 60

  const clock = new VirtualClock()
  const net = new MemoryNetwork({ seed: opts.seed, clock, link: { latency, loss: opts.loss ?? 0 } })
  const random = new SeededRandom(opts.seed)
  const peers = await buildPeers(
    net,
    clock,
    n,
    virtual,
    random,
    {
      // A peer nobody pushed to pulls after 3 rounds. A source silent for a round is asked
      // again (if it delivered before) or replaced; with a bandwidth limit a holder shares its
      // uplink among up to `maxUploads` (4) peers, so it may stay silent for 4 rounds.
      pullDelayMs: 3 * roundMs,
      requestTimeoutMs: (opts.uplinkBytesPerMs ? 4 : 1) * roundMs,
      offerTimeoutMs: roundMs,
      virtualDelayMs: roundMs,
      ...opts.exchange,
    },
    opts.uplinkBytesPerMs,
  )
  const uploader = peers[0]!
  const bytes = blobOf(size, opts.seed)
  const meta: BlobMeta = describeBlob(bytes)
  const start = clock.now()

  // Churn: real non-uploader peers go down at a random time in the first 4 rounds and come
  // back 1 to 3 rounds later (their partial downloads kept, as a real client's would be).
  const churnable = peers.filter((p) => p !== uploader && !p.virtual)
  const churned = Math.round((opts.churn ?? 0) * churnable.length)
  let down = 0
  for (let i = 0; i < churned; i++) {
    const pick = churnable.splice(random.int(0, churnable.length - 1), 1)[0]!
    const leaveAt = random.next() * 4 * roundMs
    const backAfter = (1 + random.next() * 2) * roundMs
    down++
    clock.setTimeout(() => {
      net.crash(pick.transport.self)
      clock.setTimeout(() => {
        net.restart(pick.transport.self)
        down--
      }, backAfter)
    }, leaveAt)
  }

  for (const p of peers) if (p !== uploader) p.exchange.want(meta)
  await clock.track(uploader.exchange.publish(bytes))

  let rounds: number | undefined
  let roundsOnline: number | undefined
  const step = roundMs / 20
  while (clock.now() - start < maxRounds * roundMs) {
    await clock.advance(step)
    const online = peers.filter((p) => !net.isCrashed(p.transport.self))
    if (roundsOnline === undefined && online.every((p) => p.exchange.holds(meta.digest)))
      roundsOnline = (clock.now() - start) / roundMs
    if (down === 0 && peers.every((p) => p.exchange.holds(meta.digest))) {
      rounds = (clock.now() - start) / roundMs
      break
    }
  }

  const stats = peers.map((p) => p.exchange.stats)
  const chunkBytes = stats.reduce((s, x) => s + x.chunkBytesSent, 0)
  const virtualBytes = peers.filter((p) => p.virtual).reduce((s, p) => s + p.exchange.stats.chunkBytesSent, 0)
  const result: GossipSimResult = {
    seed: opts.seed,
    peers: n,
    virtual,
    size,
    churned,
    roundMs,
    rounds,
    roundsOnline,
    holders: peers.filter((p) => p.exchange.holds(meta.digest)).length,
    totalBytes: stats.reduce((s, x) => s + x.bytesSent, 0),
    idealBytes: (n - 1) * size,
    uploaderCopies: uploader.exchange.stats.chunkBytesSent / size,
    virtualShare: chunkBytes === 0 ? 0 : virtualBytes / chunkBytes,
    badChunks: stats.reduce((s, x) => s + x.badChunks, 0),
    wastedBytes: stats.reduce((s, x) => s + x.chunkBytesWasted, 0),
  }
  for (const p of peers) {
    p.exchange.stop()
    await p.transport.stop()
  }
  await clock.run()
  return result
}
