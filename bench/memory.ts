/**
 * Memory of a deployment on the smallest machine: resident set (RSS) of the relay and two
 * virtual clients, each client holding 24 h of a busy channel — 100,000 really signed events
 * in its FileStore and 200 MB of images in its FileBlobStore (issue #6's scenario) — against
 * the 256 MB budget of a fly.io shared-cpu-1x machine.
 *
 * Side by side in one run:
 * - layouts: `host` — the relay and ONE process running both virtual clients
 *   (virtual-client/dist/host.mjs: what `pnpm start` and the Docker image run); `separate` —
 *   the relay and one process per virtual client (the previous layout, `pnpm vc` bundled);
 * - stores: empty (baseline), events only, events and images, so the differences are what
 *   the history and the images cost;
 * - the runtime floor: a bare Node process, and one that loaded @roamhq/wrtc and opened a
 *   peer connection;
 * - serving (host layout, full stores): a fresh peer, whose only peers are the two virtual
 *   clients, catches up the whole window from them; the peak RSS while they serve it.
 * Every process runs the esbuild bundles with the V8 flags of scripts/start.mjs (the previous
 * layout: its flags then, a 1 MB young generation everywhere).
 *
 *   pnpm bench:memory [events] [image MB]   (default 100000 200; BENCH_MODES=host or =separate)
 */

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, toStored } from '@peerchat/engine/testing'
import { FileBlobStore, FileStore } from '@peerchat/virtual-client'
import { BUNDLES, ensureBundles, NODE_FLAGS, VC_HOST_NODE_FLAGS } from '../scripts/start.mjs'
import { PeerProcess } from '../tests/peer/peer-process.ts'
import { ROOT } from '../tests/relay/relay-process.ts'
import { spawnVcHost, type VcHostProcess, type VcMetrics } from '../tests/vc/vc-process.ts'

useNodeCrypto()
const EVENTS = Number(process.argv[2] ?? 100_000)
const IMAGE_MB = Number(process.argv[3] ?? 200)
const BUDGET_MB = 256
const DAY = 24 * 3600_000
/** Mesh formed, the two clients reconciled with each other, GC settled. */
const SETTLE_MS = 8000
/** RSS sampled this often during the last seconds; the table shows the last sample and the peak. */
const SAMPLES = 5

/** Current and peak (VmHWM) resident set of a process, MB. */
const rssMb = (pid: number): { rss: number; peak: number } => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
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
      first: from, // distinct (author, clientNonce) across batches
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

/**
 * Images of 40 kB to 1 MB (photos and screenshots after the client's downscaling), random bytes
 * (incompressible, like JPEG), used over the last 23 h, up to `mb` MB in all.
 */
async function fillBlobs(dir: string, mb: number): Promise<{ count: number; bytes: number }> {
  const store = await FileBlobStore.open({ dir })
  const now = Date.now()
  let bytes = 0
  let count = 0
  for (let i = 0; bytes < mb * 1e6; i++) {
    const size = Math.min(40_000 + ((i * 7919) % 960_000), mb * 1e6 - bytes)
    const data = randomBytes(size)
    const digest = await crypto.subtle.digest('SHA-256', data)
    await store.put(new Uint8Array(digest), data, {
      usedAt: now - (DAY - 3600_000) + ((i * 60_000) % (DAY - 3600_000)),
    })
    bytes += size
    count++
  }
  await store.close()
  return { count, bytes }
}

/** A node process started with `args`, resolved once `ready` matches its output. */
function startNode(args: string[], ready: RegExp) {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise<{ match: RegExpExecArray; pid: number; stop(): Promise<void> }>((resolve, reject) => {
    let out = ''
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)))
    child.stdout!.on('data', (d) => {
      out += d
      const match = ready.exec(out)
      if (match)
        resolve({
          match,
          pid: child.pid!,
          stop: () =>
            new Promise<void>((r) => {
              if (child.exitCode !== null || child.signalCode !== null) return r()
              child.once('exit', () => r())
              child.kill('SIGTERM')
            }),
        })
    })
  })
}

type Layout = 'host' | 'separate'
const LAYOUTS: { layout: Layout; name: string }[] = [
  { layout: 'host', name: 'relay + one process for both virtual clients (pnpm start, Docker)' },
  { layout: 'separate', name: 'relay + one process per virtual client (previous layout)' },
]
const MODES = LAYOUTS.filter((m) => !process.env.BENCH_MODES || m.layout === process.env.BENCH_MODES)

interface Row {
  process: string
  rss: number
  peak: number
}

async function measure(label: string, layout: Layout, vcDirs: string[], relayDir: string, serve = false) {
  const relay = await startNode(
    [...NODE_FLAGS, BUNDLES[0]!.out, '--port', '0', '--data-dir', relayDir, '--quiet'],
    /listening on (ws:\/\/\S+) key (\S+)/,
  )
  const url = relay.match[1]!
  const hosts: VcHostProcess[] = []
  try {
    const operands = vcDirs.map((dir, i) => `vc${i + 1}=${dir}`)
    if (layout === 'host')
      hosts.push(
        await spawnVcHost(['--relay', url, ...operands], vcDirs.length, {}, [
          ...VC_HOST_NODE_FLAGS,
          BUNDLES[2]!.out,
        ]),
      )
    else
      for (const [i, dir] of vcDirs.entries())
        hosts.push(
          await spawnVcHost(['--relay', url, '--name', `vc${i + 1}`, '--data-dir', dir], 1, {}, [
            ...NODE_FLAGS,
            BUNDLES[1]!.out,
          ]),
        )
    await new Promise((r) => setTimeout(r, SETTLE_MS - SAMPLES * 1000))
    const pids = [relay.pid, ...hosts.map((h) => h.child.pid!)]
    let last = pids.map(rssMb)
    for (let i = 0; i < SAMPLES; i++) {
      await new Promise((r) => setTimeout(r, 1000))
      last = pids.map(rssMb)
    }
    const clients = hosts.flatMap((h) => h.clients)
    const metrics: VcMetrics[] = await Promise.all(clients.map((c) => c.metrics()))
    const describe = (h: VcHostProcess) =>
      h.clients
        .map((c) => {
          const m = metrics[clients.indexOf(c)]!
          return `${c.name} ${m.events_held} ev ${(m.blob_bytes / 1e6).toFixed(0)} MB img`
        })
        .concat(`heap ${(metrics[clients.indexOf(h.clients[0]!)]!.heap_used_bytes / 1048576).toFixed(0)} MB`)
        .join(', ')
    const rows: Row[] = [
      { process: 'relay', ...last[0]! },
      ...hosts.map((h, i) => ({ process: describe(h), ...last[i + 1]! })),
    ]
    const result = {
      label,
      rows,
      total: rows.reduce((n, r) => n + r.rss, 0),
      peak: rows.reduce((n, r) => n + r.peak, 0),
      serving: undefined as
        | undefined
        | { added: number; reports: string; seconds: number; peaks: number[]; hwm: number[]; total: number },
    }
    if (serve) result.serving = await serveFreshPeer(url, relay.match[2]!, clients, pids)
    return result
  } finally {
    await Promise.all(hosts.map((h) => h.stop()))
    await relay.stop()
  }
}

/**
 * A fresh peer catches up the window from the virtual clients (its replica's policy does, from
 * the login on); RSS sampled every 100 ms meanwhile.
 */
async function serveFreshPeer(
  url: string,
  relayKey: string,
  clients: VcHostProcess['clients'],
  pids: number[],
) {
  const f = new PeerProcess('fresh')
  const peaks = pids.map(() => 0)
  const sampler = setInterval(() => {
    pids.forEach((pid, i) => {
      peaks[i] = Math.max(peaks[i]!, rssMb(pid).rss)
    })
  }, 100)
  try {
    for (const c of clients) await f.call('markVirtual', { key: c.key })
    // The replica's own policy catches up as the virtual clients appear: timed from its login.
    await f.call('start', {
      wait: 'none',
      args: {
        relayUrl: url,
        relayKey,
        channels: ['general'],
        room: 'community',
        kind: 'client',
        webrtc: true,
        verifyAuthors: false, // the receiver's speed, not the servers' memory, depends on it
      },
    })
    const reached = await f.call<{ at: number; loginAt: number }>('reach', {
      channel: 'general',
      count: EVENTS,
    })
    const seconds = (reached.at - reached.loginAt) / 1000
    const reports = await f.call<{ added: number; complete: boolean; source: { kind: string } }[]>('reports')
    const stats = await f.call<{ peer: { fromPeers: number } }>('stats')
    return {
      added: stats.peer.fromPeers,
      reports: reports
        .filter((r) => r.added > 0)
        .map((r) => `${r.source.kind} +${r.added}${r.complete ? '' : ' (incomplete)'}`)
        .join(', '),
      seconds,
      peaks,
      hwm: pids.map((pid) => rssMb(pid).peak),
      total: peaks.reduce((a, b) => a + b, 0),
    }
  } finally {
    clearInterval(sampler)
    f.kill()
  }
}

/** The runtime floor: bare Node, and Node with libwebrtc loaded and one peer connection open. */
async function floor(): Promise<Row[]> {
  const wrtc = `const w = require(require.resolve('@roamhq/wrtc', { paths: ['${join(ROOT, 'virtual-client')}'] }))
    const pc = new w.RTCPeerConnection(); pc.createDataChannel('x'); pc.createOffer()`
  const rows: Row[] = []
  for (const [name, code] of [
    ['bare node', ''],
    ['node + @roamhq/wrtc, one peer connection', wrtc],
  ] as const) {
    const p = await startNode(
      [
        ...NODE_FLAGS,
        '-e',
        `${code}; setTimeout(() => console.log('ready'), 2000); setInterval(() => {}, 1e6)`,
      ],
      /ready/,
    )
    rows.push({ process: name, ...rssMb(p.pid) })
    await p.stop()
  }
  return rows
}

const print = (rows: Row[]) => {
  for (const r of rows)
    console.log(
      `  ${r.process.padEnd(60)} ${r.rss.toFixed(1).padStart(7)} MB  (peak ${r.peak.toFixed(1)} MB)`,
    )
}

async function main() {
  const root = mkdtempSync(join(tmpdir(), 'peerchat-memory-'))
  try {
    const relayDir = join(root, 'relay')
    mkdirSync(relayDir, { recursive: true })
    const relayId = await Identity.generate()
    writeFileSync(join(relayDir, 'relay.key'), `${relayId.export()}\n`, { mode: 0o600 })
    const t0 = performance.now()
    const events = join(root, 'events1')
    const bodyBytes = await fillStore(join(events, 'store'), relayId)
    cpSync(events, join(root, 'events2'), { recursive: true })
    console.log(
      `signed and stored ${EVENTS} events (${(bodyBytes / 1e6).toFixed(1)} MB of bodies) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )
    const full = join(root, 'full1')
    cpSync(events, full, { recursive: true })
    const images = await fillBlobs(join(full, 'blobs'), IMAGE_MB)
    cpSync(full, join(root, 'full2'), { recursive: true })
    console.log(`stored ${images.count} images, ${(images.bytes / 1e6).toFixed(1)} MB, per virtual client`)

    await ensureBundles()
    console.log('\n=== runtime floor')
    print(await floor())
    for (const mode of MODES) {
      const empties = [join(root, `${mode.layout}-empty1`), join(root, `${mode.layout}-empty2`)]
      const empty = await measure('empty stores (baseline)', mode.layout, empties, relayDir)
      const history = await measure(
        `${EVENTS} events each`,
        mode.layout,
        [events, join(root, 'events2')],
        relayDir,
      )
      const busy = await measure(
        `${EVENTS} events and ${IMAGE_MB} MB of images each`,
        mode.layout,
        [full, join(root, 'full2')],
        relayDir,
        mode.layout === 'host',
      )
      console.log(`\n=== ${mode.name}`)
      for (const m of [empty, history, busy]) {
        console.log(m.label)
        print(m.rows)
        const share = ((m.total / BUDGET_MB) * 100).toFixed(0)
        console.log(
          `  ${'total'.padEnd(60)} ${m.total.toFixed(1).padStart(7)} MB  (peak ${m.peak.toFixed(1)} MB; ${share}% of ${BUDGET_MB} MB)`,
        )
      }
      if (busy.serving) {
        const sv = busy.serving
        console.log(
          `serving a fresh peer its catch-up (${sv.reports}: ${sv.added} events in ${sv.seconds.toFixed(1)} s), peak RSS sampled every 100 ms:`,
        )
        print(
          busy.rows.map((r, i) => ({
            process: r.process.split(',')[0]!,
            rss: sv.peaks[i]!,
            peak: sv.hwm[i]!,
          })),
        )
        console.log(`  ${'total of the peaks'.padEnd(60)} ${sv.total.toFixed(1).padStart(7)} MB`)
      }
      const verdict =
        busy.total < BUDGET_MB && busy.peak < BUDGET_MB && (busy.serving?.total ?? 0) < BUDGET_MB
          ? 'within'
          : 'OVER'
      console.log(
        `events cost ${(history.total - empty.total).toFixed(1)} MB, images ${(busy.total - history.total).toFixed(1)} MB more; busy / empty = ${(busy.total / empty.total).toFixed(2)}x; ${verdict} the ${BUDGET_MB} MB budget`,
      )
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
