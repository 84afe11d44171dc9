/**
 * Memory of a deployment on the smallest machine: resident set (RSS) of the relay and two
 * virtual clients, each client holding 24 h of a busy channel (100,000 really signed events
 * in its FileStore), against the 256 MB budget of a fly.io shared-cpu-1x machine.
 * Baseline in the same run: the same three processes with empty stores, so the ratio shows
 * what the history itself costs. Both ways of running are measured: bundled with the V8
 * flags of scripts/start.mjs (what `pnpm start` and the Docker image run), and from the
 * TypeScript sources through tsx (development). Blobs (issue #5) do not exist yet: the 200 MB of images of
 * the scenario are not part of this measurement.
 *
 *   pnpm bench:memory [events]     (default 100000)
 */

import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, toStored } from '@peerchat/engine/testing'
import { FileStore } from '@peerchat/virtual-client'
import { BUNDLES, ensureBundles, NODE_FLAGS } from '../scripts/start.mjs'
import { ROOT } from '../tests/relay/relay-process.ts'
import { spawnVc, type VcProcess } from '../tests/vc/vc-process.ts'

useNodeCrypto()
const EVENTS = Number(process.argv[2] ?? 100_000)
const BUDGET_MB = 256
const DAY = 24 * 3600_000
const SETTLE_MS = 8000

const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : Number.NaN
}

async function fillStore(dir: string, relay: Identity): Promise<number> {
  const authors = await Promise.all(Array.from({ length: 32 }, () => Identity.generate()))
  const store = await FileStore.open({ dir })
  const step = Math.floor((DAY - 3600_000) / EVENTS) // spread over the last 23 h
  const start = Date.now() - EVENTS * step
  let bytes = 0
  for (let from = 0; from < EVENTS; from += 10_000) {
    const events = await signedPool({
      channel: 'general',
      relay,
      authors,
      count: Math.min(10_000, EVENTS - from),
      start: start + from * step,
      stepMs: step,
      bodyBytes: 160, // a chat line with its formatting
    })
    await store.putMany(
      'general',
      events.map((e) => toStored(e)),
    )
    bytes += events.reduce((n, e) => n + e.body.length, 0)
  }
  await store.close()
  return bytes
}

type Mode = { name: string; relay: string[]; vc: string[] }
const ALL_MODES: Mode[] = [
  {
    name: 'bundled (pnpm start, Docker)',
    relay: [...NODE_FLAGS, BUNDLES[0]!.out],
    vc: [...NODE_FLAGS, BUNDLES[1]!.out],
  },
  {
    name: 'tsx from source (development)',
    relay: ['--import', 'tsx', 'relay/src/cli.ts'],
    vc: ['--import', 'tsx', 'virtual-client/src/cli.ts'],
  },
]

/** Starts the relay with `command` on a free port; resolves with its URL and a stop function. */
function startRelay(command: string[], dataDir: string) {
  const child = spawn(process.execPath, [...command, '--port', '0', '--data-dir', dataDir, '--quiet'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise<{ url: string; pid: number; stop(): Promise<void> }>((resolve, reject) => {
    let out = ''
    child.once('exit', (code) => reject(new Error(`relay exited ${code}`)))
    child.stdout!.on('data', (d) => {
      out += d
      const m = /listening on (ws:\/\/\S+)/.exec(out)
      if (m)
        resolve({
          url: m[1]!,
          pid: child.pid!,
          stop: () =>
            new Promise<void>((r) => {
              child.once('exit', () => r())
              child.kill('SIGTERM')
            }),
        })
    })
  })
}

/** BENCH_MODES=bundled or =tsx measures one way only. */
const MODES = ALL_MODES.filter((m) => !process.env.BENCH_MODES || m.name.startsWith(process.env.BENCH_MODES))

async function measure(label: string, mode: Mode, vcDirs: string[], relayDir: string) {
  const relay = await startRelay(mode.relay, relayDir)
  const vcs: VcProcess[] = []
  try {
    for (const [i, dir] of vcDirs.entries())
      vcs.push(await spawnVc(['--relay', relay.url, '--name', `vc${i + 1}`, '--data-dir', dir], {}, mode.vc))
    await new Promise((r) => setTimeout(r, SETTLE_MS)) // mesh, catch-up between the two, GC
    const metrics = await Promise.all(vcs.map((v) => v.metrics()))
    const rows = [
      { process: 'relay', rss: rssMb(relay.pid) },
      ...vcs.map((v, i) => ({
        process: `${v.name} (${metrics[i]!.events_held} events, heap ${(metrics[i]!.heap_used_bytes / 1048576).toFixed(0)} MB)`,
        rss: rssMb(v.child.pid!),
      })),
    ]
    return { label, rows, total: rows.reduce((n, r) => n + r.rss, 0) }
  } finally {
    await Promise.all(vcs.map((v) => v.stop()))
    await relay.stop()
  }
}

async function main() {
  const root = mkdtempSync(join(tmpdir(), 'peerchat-memory-'))
  try {
    const relayDir = join(root, 'relay')
    mkdirSync(relayDir, { recursive: true })
    const relayId = await Identity.generate()
    writeFileSync(join(relayDir, 'relay.key'), `${relayId.export()}\n`, { mode: 0o600 })
    const t0 = performance.now()
    const full = join(root, 'full1')
    const bodyBytes = await fillStore(join(full, 'store'), relayId)
    cpSync(full, join(root, 'full2'), { recursive: true })
    console.log(
      `signed and stored ${EVENTS} events (${(bodyBytes / 1e6).toFixed(1)} MB of bodies) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )

    await ensureBundles()
    for (const mode of MODES) {
      const empties = [join(root, 'empty1'), join(root, 'empty2')]
      const empty = await measure('empty stores (baseline)', mode, empties, relayDir)
      const busy = await measure(`${EVENTS} events each`, mode, [full, join(root, 'full2')], relayDir)
      console.log(`\n=== ${mode.name}`)
      for (const m of [empty, busy]) {
        console.log(m.label)
        for (const r of m.rows) console.log(`  ${r.process.padEnd(44)} ${r.rss.toFixed(1).padStart(7)} MB`)
        const share = ((m.total / BUDGET_MB) * 100).toFixed(0)
        console.log(
          `  ${'total'.padEnd(44)} ${m.total.toFixed(1).padStart(7)} MB  (${share}% of ${BUDGET_MB} MB)`,
        )
      }
      const verdict = busy.total < BUDGET_MB ? 'within' : 'OVER'
      console.log(
        `history costs ${(busy.total - empty.total).toFixed(1)} MB; busy / empty = ${(busy.total / empty.total).toFixed(2)}x; ${verdict} the ${BUDGET_MB} MB budget`,
      )
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
