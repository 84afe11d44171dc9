/**
 * Catch-up over real WebRTC between two Node peer processes (relay for signaling only):
 * B holds n stamped events with the relay's checkpoints (one every 256 stamps, as the relay
 * issues them), a fresh C reconciles them all from B. Reports verified events/s and bytes on
 * the wire vs the events' own bytes, for three ways of verifying:
 *
 *   per-event, relay + author   every event's two signatures (checkpoints off)
 *   per-event, relay only       the relay signature only (the relay checked authors)
 *   checkpoint                  events covered by a relay checkpoint are hashed, not signature-
 *                               checked; their author signatures are audited in the background
 *                               after the session (timed separately: "audit s")
 *
 * Baseline in the same run: the same kind of events added to a ChannelLog in-process, in the
 * batches the outbox would send (the verify and store ceiling with no network), so the ratio
 * shows what the network path costs. "vs per-event" is the rate over the relay + author rate.
 *
 *   pnpm bench:catchup [n ...]     (default 10000 100000; BENCH_MODES=checkpoint for one mode)
 */
import { loadavg } from 'node:os'
import {
  CHECKPOINT_KIND,
  ChannelLog,
  DEFAULT_CHECKPOINT_EVERY,
  Identity,
  MemoryStore,
  type StampedEvent,
} from '@peerchat/engine'
import { nodePeerBackend, useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, withCheckpoints } from '@peerchat/engine/testing'
import { PeerProcess } from '../tests/peer/peer-process.ts'
import { peerArgs, sleep, startRelay, until } from '../tests/peer/scenario.ts'

useNodeCrypto()
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0)
const NS = sizes.length ? sizes : [10_000, 100_000]
/**
 * B's events end this long ago: before the replicas' 24 h sync window, so their own catch-ups
 * (on login, on each peer that appears) leave them alone and the timed session is the one the
 * bench asks for — a scroll-back of everything.
 */
const HISTORY_AGE_MS = 2 * 24 * 3600_000
/** Longer than the policy's settle and grace delays: its catch-ups of the (empty) window are over. */
const POLICY_QUIET_MS = 3_000

interface Mode {
  name: string
  verifyAuthors: boolean
  checkpoints: boolean
}
const ALL_MODES: Mode[] = [
  { name: 'per-event, relay + author sigs', verifyAuthors: true, checkpoints: false },
  { name: 'per-event, relay sig only', verifyAuthors: false, checkpoints: false },
  { name: 'checkpoint (+ background author audit)', verifyAuthors: true, checkpoints: true },
]

/** `BENCH_MODES=checkpoint` (a comma-separated list of name prefixes) runs only some of the modes. */
const only = process.env.BENCH_MODES?.split(',').filter(Boolean)
const MODES = only ? ALL_MODES.filter((m) => only.some((o) => m.name.startsWith(o))) : ALL_MODES

/** Batches of at most `max` events that end right after a checkpoint when they hold one (as the outbox packs frames). */
function batches(events: StampedEvent[], max: number): StampedEvent[][] {
  const out: StampedEvent[][] = []
  let from = 0
  while (from < events.length) {
    let to = Math.min(from + max, events.length)
    if (to < events.length)
      for (let i = to - 1; i > from; i--)
        if (events[i]!.kind === CHECKPOINT_KIND) {
          to = i + 1
          break
        }
    out.push(events.slice(from, to))
    from = to
  }
  return out
}

/** In-process: verify + store (and, for checkpoints, the audit), events/s. */
async function localCeiling(
  n: number,
  relay: Identity,
  mode: Mode,
): Promise<{ rate: number; auditS: number }> {
  const authors = await Promise.all(Array.from({ length: 8 }, () => Identity.generate()))
  const pool = await signedPool({
    channel: 'general',
    relay,
    authors,
    count: Math.min(n, 20_000),
    start: Date.now() - n,
    stepMs: 1,
  })
  const events = await withCheckpoints(pool, relay, DEFAULT_CHECKPOINT_EVERY)
  const log = new ChannelLog({
    channel: 'general',
    store: new MemoryStore(),
    relayKeys: [relay.publicKey],
    verifyAuthors: mode.verifyAuthors,
    checkpoints: mode.checkpoints,
    backend: nodePeerBackend,
  })
  const t0 = performance.now()
  for (const b of batches(events, 1000)) await log.add(b)
  const rate = events.length / ((performance.now() - t0) / 1000)
  const t1 = performance.now()
  await log.auditAuthors()
  return { rate, auditS: (performance.now() - t1) / 1000 }
}

interface Report {
  added: number
  bytesIn: number
  bytesOut: number
  rounds: number
  complete: boolean
  error?: string
}

/** C reconciles the whole channel with its best peer (B), asking again while B answers busy. */
async function syncAll(c: PeerProcess): Promise<Report> {
  for (;;) {
    const r = await c.call<Report>('sync', { channel: 'general' })
    if (r.complete || r.error !== 'busy') return r
    await sleep(50)
  }
}

const relayId = await Identity.generate()
const relay = await startRelay({ env: { PEERCHAT_RELAY_KEY: relayId.export() } })
const base = peerArgs(relay)
const rows: string[] = []
const load: string[] = [loadavg()[0]!.toFixed(2)]
try {
  for (const n of NS) {
    const b = new PeerProcess('B')
    await b.call('start', { args: base })
    process.stdout.write(`n=${n}: signing events in B ... `)
    const held = await b.call<{ count: number; bytes: number }>('generate', {
      channel: 'general',
      n,
      relaySecret: relayId.export(),
      checkpointEvery: DEFAULT_CHECKPOINT_EVERY,
      endAgoMs: HISTORY_AGE_MS,
    })
    console.log(`done (${held.count} events with the checkpoints)`)
    let perEventRate = 0
    for (const mode of MODES) {
      const c = new PeerProcess('C')
      await c.call('start', {
        args: { ...base, verifyAuthors: mode.verifyAuthors, checkpoints: mode.checkpoints },
      })
      await until(async () => (await c.call<number>('meshPeers')) === 1, 'C meshed with B')
      load.push(loadavg()[0]!.toFixed(2))
      await sleep(POLICY_QUIET_MS)
      await c.call('settled')
      const t0 = performance.now()
      const r = await syncAll(c)
      const secs = (performance.now() - t0) / 1000
      if (!r.complete || r.added !== held.count) throw new Error(`catch-up incomplete: ${JSON.stringify(r)}`)
      const t1 = performance.now()
      const audit = await c.call<{ audited: number; forged: number }>('audited')
      const auditS = (performance.now() - t1) / 1000
      if (audit.forged !== 0) throw new Error('the audit removed events')
      c.kill()
      const ceiling = await localCeiling(n, relayId, mode)
      const rate = r.added / secs
      if (!mode.checkpoints && mode.verifyAuthors) perEventRate = rate
      const wire = (r.bytesIn + r.bytesOut) / held.bytes
      const fmt = (x: number) => Math.round(x).toLocaleString('en')
      const auditCol = mode.checkpoints
        ? `${auditS.toFixed(2)} (${fmt(audit.audited)} sigs; ${fmt(r.added / (secs + auditS))}/s with it)`
        : '-'
      rows.push(
        `| ${n.toLocaleString('en')} | ${mode.name} | ${secs.toFixed(2)} | ${fmt(rate)} | ${fmt(ceiling.rate)} | ${(rate / ceiling.rate).toFixed(2)} | ${perEventRate ? `${(rate / perEventRate).toFixed(2)}x` : '-'} | ${auditCol} | ${wire.toFixed(3)} | ${r.rounds} |`,
      )
      console.log(rows[rows.length - 1])
    }
    b.kill()
  }
} finally {
  await relay.stop()
}
load.push(loadavg()[0]!.toFixed(2))
console.log(`\nload average (1 min) at the start of each case: ${load.join(', ')}`)
console.log(
  '\n| events | verification | seconds | verified events/s | in-process ceiling/s | ratio | vs per-event | audit s | wire bytes / event bytes | frames in |',
)
console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |')
for (const r of rows) console.log(r)
process.exit(0)
