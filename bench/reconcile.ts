/**
 * Range reconciliation vs. sending every id, on two replicas of n = 100,000 events that
 * differ by d events (one contiguous gap, or scattered at random). Replica B lacks the d
 * events and initiates. Time includes verifying every received event.
 *
 *   pnpm bench:reconcile            (n = 100,000)
 *   pnpm bench:reconcile -- 20000   (another n)
 *   BRANCHING=8 ID_LIST=4 pnpm bench:reconcile   (other reconciler options)
 */
import { performance } from 'node:perf_hooks'
import {
  ChannelLog,
  encodeEvent,
  Identity,
  MemoryStore,
  Reconciler,
  reconcileLocally,
  type StoredEvent,
  seededUniform,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, toStored } from '@peerchat/engine/testing'

useNodeCrypto()

const CH = 'bench'
const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 100_000)
const DIFFS = [0, 1, 10, 100, 1000]
const options = {
  ...(process.env.BRANCHING ? { branching: Number(process.env.BRANCHING) } : {}),
  ...(process.env.ID_LIST ? { idListThreshold: Number(process.env.ID_LIST) } : {}),
}

/** A seeded PRNG, so the scattered pattern is the same on every run. */
const prng = (seed: number): (() => number) => seededUniform(seed >>> 0)

function missingSet(pattern: 'contiguous' | 'scattered', d: number): Set<number> {
  if (pattern === 'contiguous') {
    const start = Math.floor(n * 0.6)
    return new Set(Array.from({ length: d }, (_, i) => start + i))
  }
  const rand = prng(d * 7919 + 1)
  const out = new Set<number>()
  while (out.size < d) out.add(Math.floor(rand() * n))
  return out
}

async function replica(stored: StoredEvent[], relayKey: Uint8Array): Promise<ChannelLog> {
  const store = new MemoryStore()
  await store.putMany(CH, stored) // setup bypasses verification; sync verifies what it receives
  return new ChannelLog({ channel: CH, store, relayKeys: [relayKey] })
}

interface Row {
  pattern: string
  d: number
  bytes: number
  missingBytes: number
  roundTrips: number
  frames: number
  ms: number
  naive: number
  target: string
  pass: boolean
}

interface Measured {
  bytes: number
  missingBytes: number
  roundTrips: number
  frames: number
  ms: number
}

/** One sync of a full replica with one lacking `d` events; the lacking one initiates. */
async function measure(
  stored: StoredEvent[],
  sizes: number[],
  relayKey: Uint8Array,
  pattern: 'contiguous' | 'scattered',
  d: number,
): Promise<Measured> {
  const missing = missingSet(pattern, d)
  const a = await replica(stored, relayKey)
  const b = await replica(
    stored.filter((_, i) => !missing.has(i)),
    relayKey,
  )
  const missingBytes = [...missing].reduce((s, i) => s + sizes[i]!, 0)
  const initiator = new Reconciler(b, options)
  const responder = new Reconciler(a, options)
  const t0 = performance.now()
  const { frames, bytes } = await reconcileLocally(initiator, responder)
  const ms = performance.now() - t0
  if ((await b.count()) !== n) throw new Error(`replica did not converge (${await b.count()} of ${n})`)
  return { bytes, missingBytes, roundTrips: initiator.stats.framesOut, frames: frames.length, ms }
}

async function run(stored: StoredEvent[], sizes: number[], relayKey: Uint8Array): Promise<Row[]> {
  const rows: Row[] = []
  const roundTarget = Math.ceil(Math.log2(n) / 2) + 2 // ~log4(n) levels, one level per message
  await measure(stored, sizes, relayKey, 'scattered', 100) // warm-up (JIT), not reported
  for (const pattern of ['contiguous', 'scattered'] as const) {
    for (const d of DIFFS) {
      if (pattern === 'scattered' && d <= 1) continue // d = 0 and 1 are the same in both patterns
      const { bytes, missingBytes, roundTrips, frames, ms } = await measure(
        stored,
        sizes,
        relayKey,
        pattern,
        d,
      )
      const overhead = bytes - missingBytes
      let target: string
      let pass: boolean
      if (d === 0) {
        target = '< 1 KB, 1 round trip'
        pass = bytes < 1024 && roundTrips === 1
      } else if (pattern === 'contiguous') {
        const limit = 1.1 * missingBytes + 2048
        target = `<= ${Math.round(limit)} B, <= ${roundTarget} RT`
        pass = bytes <= limit && roundTrips <= roundTarget
      } else {
        const limit = 64 * d * Math.log2(n / d)
        target = `overhead <= ${Math.round(limit)} B, <= ${roundTarget} RT`
        pass = overhead <= limit && roundTrips <= roundTarget
      }
      // Baseline: the initiator sends all of its ids (16 B each), the other side replies with what is missing.
      const naive = (n - d) * 16 + missingBytes
      rows.push({ pattern, d, bytes, missingBytes, roundTrips, frames, ms, naive, target, pass })
      console.log(
        `${pattern.padEnd(10)} d=${String(d).padStart(4)}  bytes=${bytes}  events=${missingBytes}  overhead=${overhead}` +
          `  RT=${roundTrips}  frames=${frames}  ${ms.toFixed(0)} ms  naive/ours=${(naive / bytes).toFixed(1)}x  ${pass ? 'PASS' : 'FAIL'}`,
      )
    }
  }
  return rows
}

async function main(): Promise<void> {
  const relay = await Identity.fromSeed(new Uint8Array(32).fill(200))
  const authors = await Promise.all([1, 2, 3, 4].map((i) => Identity.fromSeed(new Uint8Array(32).fill(i))))
  let t = performance.now()
  const pool = await signedPool({ channel: CH, relay, authors, count: n, bodyBytes: 64 })
  const stored = pool.map(toStored)
  const sizes = pool.map((e) => encodeEvent(e).length)
  console.log(
    `signed and hashed ${n} events in ${((performance.now() - t) / 1000).toFixed(1)} s (setup, not timed below)`,
  )
  t = performance.now()
  const rows = await run(stored, sizes, relay.publicKey)
  console.log(
    "\n| pattern | d | bytes exchanged | missing events' bytes | overhead | round trips | time | naive (all ids) | naive / ours | target | result |",
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |')
  for (const r of rows)
    console.log(
      `| ${r.pattern} | ${r.d} | ${r.bytes} | ${r.missingBytes} | ${r.bytes - r.missingBytes} | ${r.roundTrips} | ${r.ms.toFixed(0)} ms | ${r.naive} | ${(r.naive / r.bytes).toFixed(1)}x | ${r.target} | ${r.pass ? 'PASS' : 'FAIL'} |`,
    )
  console.log(`\nn = ${n}, event size ~${sizes[0]} B; total ${((performance.now() - t) / 1000).toFixed(1)} s`)
  if (rows.some((r) => !r.pass)) process.exitCode = 1
}

await main()
