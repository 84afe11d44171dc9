/**
 * Blob gossip on the seeded memory network: a 1 MiB image published by one peer among N,
 * every peer wanting it (it saw the stamp), with and without churn (20% of the real peers go
 * down in the first 4 rounds and come back 1-3 rounds later). Two of the N peers are virtual
 * clients. For each case, the worst figure over SEEDS seeds:
 *   rounds until every peer holds it (a round = one isolated transfer on the same links,
 *   measured in-run), total wire bytes of blob frames vs the ideal (N-1) x size, the
 *   uploader's upload in copies, the share of chunk bytes served by virtual clients.
 * The baseline is the ideal: every other peer receives exactly one copy, (N-1) x size bytes,
 * and the targets (rounds <= ceil(log3 N) + 3, uploader <= 3 copies, bytes <= 1.05x,
 * virtual clients < 5%). One more row adds 5% frame loss to 20% churn at N = 50; the last rows
 * limit every peer's upload to 10 Mbit/s (latency alone is modelled otherwise).
 *
 *   pnpm bench:gossip                     (N = 10 50 200, seeds 1..3)
 *   SEEDS=5 pnpm bench:gossip 10 50
 */
import { type GossipSimOptions, type GossipSimResult, runGossipSim } from '@peerchat/transports/memory'

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n >= 2)
const NS = sizes.length ? sizes : [10, 50, 200]
const SEEDS = Array.from({ length: Number(process.env.SEEDS ?? 3) }, (_, i) => i + 1)
const SIZE = 1024 * 1024

interface Row {
  label: string
  n: number
  churn: number
  loss: number
  results: GossipSimResult[]
}

async function runCase(label: string, n: number, opts: Partial<GossipSimOptions>): Promise<Row> {
  const results: GossipSimResult[] = []
  for (const seed of SEEDS) results.push(await runGossipSim({ peers: n, seed, size: SIZE, ...opts }))
  return { label, n, churn: opts.churn ?? 0, loss: opts.loss ?? 0, results }
}

const max = (xs: number[]) => Math.max(...xs)
const target = (n: number) => Math.ceil(Math.log(n) / Math.log(3) - 1e-9) + 3

function line(row: Row): string {
  const r = row.results
  const rounds = r.map((x) => x.rounds ?? Number.POSITIVE_INFINITY)
  const online = r.map((x) => x.roundsOnline ?? Number.POSITIVE_INFINITY)
  const delivered = Math.min(...r.map((x) => x.holders / x.peers))
  const cells = [
    row.label,
    String(row.n),
    `${row.churn * 100}%`,
    `${row.loss * 100}%`,
    `${max(online).toFixed(1)} (<= ${target(row.n)})`,
    max(rounds).toFixed(1),
    `${(delivered * 100).toFixed(0)}%`,
    `${max(r.map((x) => x.totalBytes / x.idealBytes)).toFixed(3)}x`,
    max(r.map((x) => x.uploaderCopies)).toFixed(2),
    `${(max(r.map((x) => x.virtualShare)) * 100).toFixed(1)}%`,
  ]
  return `| ${cells.join(' | ')} |`
}

console.log(
  `blob gossip: ${SIZE} bytes, seeds ${SEEDS.join(',')}, worst case over seeds; round = one isolated transfer (${(await runGossipSim({ peers: 2, seed: 1, size: SIZE, virtual: 0 })).roundMs.toFixed(0)} ms for seed 1)`,
)
console.log(
  '| mode | N | churn | loss | rounds: all online peers hold it (target) | rounds: all N (churned back) | delivered | bytes vs ideal | uploader copies | virtual share |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const n of NS) {
  for (const churn of [0, 0.2]) console.log(line(await runCase('push k=3 + pull', n, { churn })))
}
// The same with every peer's upload limited to 10 Mbit/s (1,250 bytes/ms): a holder serving
// three peers at once serves each at a third of the speed.
for (const n of NS)
  for (const churn of [0, 0.2])
    console.log(line(await runCase('uplink 10 Mbit/s', n, { churn, uplinkBytesPerMs: 1250 })))
console.log(line(await runCase('push k=3 + pull', 50, { churn: 0.2, loss: 0.05 })))
