/**
 * Channel canvases (issue #15): what live co-editing costs next to its baselines, in one run.
 *
 * 1. Keystroke to remote display, p50/p99 (target p50 <= 50 ms): two Node peers in their own
 *    processes (bench/canvas-peer.ts: Replica + connectReplica + DocRegistry with
 *    LIVE_DOC_OPTIONS, as the app) on a real relay process; the writer appends one character to
 *    the canvas's Y.Text every 120 ms (human pace) and every 30 ms (fast: batching), the reader
 *    notes when its Y.Text holds it. Once through the relay only, once with the WebRTC mesh up
 *    (a canvas edit is a signed event the relay must stamp, so the relay stays in its path; the
 *    reader reports each event's Change.source). Baseline: a relay-stamped chat message (the
 *    same write path, no Yjs) between the same two processes at 120 ms.
 * 2. Wire bytes per keystroke: the signed publish frame the writer sends plus the stamped event
 *    frame the reader gets (engine codec, plus WebSocket framing), vs the Yjs update of that
 *    keystroke and the y-webrtc message carrying it; and all relay bytes (its /metrics).
 * 3. Opening a 100,000-character canvas built by 10,000 signed edits from IndexedDB (target
 *    <= 200 ms), in headless Chromium with the app's `openCanvas` (bench/canvas-page): time to
 *    the text from the snapshot cache, to the end of the log pass, vs no snapshot (every event
 *    replayed through the guard). Median of RUNS page reloads.
 * 4. Sizes (gzip -9): the canvas's lazy JS, and the chat's initial JS now vs before the canvas
 *    (`--before <checkout>`, e.g. git worktree add /tmp/ui-before a4046ce).
 *
 *   pnpm bench:canvas [--before <checkout>] [--only latency,open,sizes]   (KEYS=200 RUNS=5)
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { launchChromium } from '../tests/e2e/browser.ts'
import { serveStatic } from '../tests/e2e/static-server.ts'
import { PeerProcess, untilMeshed } from '../tests/peer/peer-process.ts'
import { peerArgs, relayTraffic, sleep, startRelay } from '../tests/peer/scenario.ts'
import { flag, median } from './cli.ts'
import { buildPage } from './vite-build.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const KEYS = Number(process.env.KEYS ?? 200)
const RUNS = Number(process.env.RUNS ?? 5)
const EDITS = 10_000
const CHARS = 100_000
const only = flag('--only')?.split(',')
const wanted = (s: string) => !only || only.includes(s)
const before = flag('--before')

const pct = (xs: readonly number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!
const ms = (x: number) => x.toFixed(1)
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
/** Bytes of a WebSocket frame header: client frames are masked (4 bytes more). */
const wsHeader = (len: number, masked: boolean) => (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0)
/** y-webrtc's update message: messageSync, messageYjsUpdate, then the update as var-bytes. */
const ywebrtcMessage = (len: number) => 2 + (len < 128 ? 1 : len < 16384 ? 2 : 3) + len
const table = (head: string[], rows: string[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n')
const loads: string[] = []
const noteLoad = () => loads.push(loadavg()[0]!.toFixed(2))

// ---- 1 + 2: live editing between two peer processes ----------------------------------------

interface Stats {
  events: { frame: number; via: string; mine: boolean }[]
  published: number[]
  raw: number[]
}
interface Run {
  latencies: number[]
  /** Paths of the events (or messages) the reader got, counted. */
  via: Record<string, number>
  writer: Stats
  reader: Stats
  relayBytes: number
  n: number
}

const PEER = fileURLToPath(new URL('./canvas-peer.ts', import.meta.url))
function countVia(xs: { via: string }[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const x of xs) out[x.via] = (out[x.via] ?? 0) + 1
  return out
}

type Runs = Record<'human' | 'fast' | 'chat', Run> & { cursor?: Run }

async function livePath(webrtc: boolean): Promise<Runs> {
  const relay = await startRelay()
  const w = new PeerProcess('writer', PEER)
  const r = new PeerProcess('reader', PEER)
  try {
    const args = peerArgs(relay, { webrtc })
    await Promise.all([w.call('start', { args }), r.call('start', { args })])
    if (webrtc) await untilMeshed([w, r], 1)
    /** Resets both peers, runs `act` on the writer, collects what the reader saw. */
    const run = async (
      n: number,
      act: () => Promise<number[]>,
      shown: (base: number) => Promise<{ t: number; via?: string }[]>,
    ): Promise<Run> => {
      const [base] = await Promise.all([w.call<number>('reset'), r.call('reset')])
      const bytes0 = await relayTraffic(relay)
      const marks = await act()
      const seen = await shown(base)
      await sleep(500) // the writer's echo and acks, so the frame counts are whole
      const [writer, reader] = await Promise.all([w.call<Stats>('stats'), r.call<Stats>('stats')])
      return {
        latencies: seen.map((s, i) => s.t - marks[i]!),
        via: seen[0]?.via ? countVia(seen as { via: string }[]) : countVia(reader.events),
        writer,
        reader,
        relayBytes: (await relayTraffic(relay)) - bytes0,
        n,
      }
    }
    const typing = (n: number, everyMs: number) =>
      run(
        n,
        () => w.call<number[]>('type', { n, everyMs }),
        async (base) => (await r.call<number[]>('shown', { base, n })).map((t) => ({ t })),
      )
    let prefix = 0
    const chat = (n: number, everyMs: number) => {
      const p = `ping${prefix++}-`
      return run(
        n,
        () => w.call<number[]>('chat', { n, everyMs, prefix: p }),
        () => r.call('messages', { n, prefix: p }),
      )
    }
    await typing(20, 120) // warm-up: JIT, the first events of each path
    await chat(20, 120)
    noteLoad()
    const human = await typing(KEYS, 120)
    const baseline = await chat(KEYS, 120)
    const fast = await typing(KEYS, 30)
    // The mesh's own floor: a cursor move (DocPresence) straight to the peer, no relay.
    const cursor = webrtc
      ? await run(
          KEYS,
          () => w.call<number[]>('cursor', { n: KEYS, everyMs: 120 }),
          () => r.call('cursors', { n: KEYS }),
        )
      : undefined
    return { human, fast, chat: baseline, ...(cursor ? { cursor } : {}) }
  } finally {
    w.kill()
    r.kill()
    await relay.stop()
    rmSync(relay.dataDir, { recursive: true, force: true })
  }
}

function latencyRows(path: string, runs: Runs): string[][] {
  const base = runs.chat.latencies
  const row = (what: string, run: Run, typed = false) => {
    const l = run.latencies
    return [
      path,
      what,
      ms(pct(l, 0.5)),
      ms(pct(l, 0.99)),
      `${ratio(pct(l, 0.5), pct(base, 0.5))} / ${ratio(pct(l, 0.99), pct(base, 0.99))}`,
      typed ? (run.reader.events.length / run.n).toFixed(2) : '-',
      Object.entries(run.via)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ]
  }
  return [
    row('canvas, 1 key / 120 ms', runs.human, true),
    row('canvas, 1 key / 30 ms', runs.fast, true),
    row('baseline: chat message / 120 ms', runs.chat),
    ...(runs.cursor ? [row('baseline: cursor move over the mesh / 120 ms', runs.cursor)] : []),
  ]
}

function byteRows(path: string, runs: Runs): string[][] {
  return (['human', 'fast'] as const).map((k) => {
    const run = runs[k]
    const published = run.writer.published
    const received = run.reader.events.filter((e) => !e.mine).map((e) => e.frame)
    const engine =
      published.reduce((s, b) => s + b + wsHeader(b, true), 0) +
      received.reduce((s, b) => s + b + wsHeader(b, false), 0)
    const raw = run.writer.raw
    const yweb = raw.reduce((s, b) => s + ywebrtcMessage(b), 0)
    return [
      path,
      k === 'human' ? '1 key / 120 ms' : '1 key / 30 ms',
      (published.length / run.n).toFixed(2),
      `${ms(mean(published))} + ${ms(mean(received))}`,
      ms(engine / run.n),
      ms(mean(raw)),
      ms(yweb / raw.length),
      ratio(engine / run.n, yweb / raw.length),
      ms(run.relayBytes / run.n),
    ]
  })
}

// ---- 3: opening a large canvas in Chromium --------------------------------------------------

interface Opened {
  shown: number
  shownLength: number
  complete: number
  length: number
  /** Phases of a cached open: DocSnapshotCache.open, and its `load` (read, guard, apply). */
  cacheOpen: number
  snapshotLoad: number
  /** Floors measured after the open: every event read in pages of 512; the state applied to a fresh Y.Doc. */
  readLog: number
  read: number
  applyState: number
  /** The guard's check of that state on a new worker (its start included), then on the same worker. */
  guardCold: number
  guardWarm: number
  stateBytes: number
}

async function openCanvasBench(): Promise<string> {
  const page = buildPage(join(ROOT, 'bench/canvas-page'), {}, ['--base', './'])
  const site = await serveStatic(page.outDir)
  const browser = await launchChromium()
  try {
    const tab = await (await browser.newContext()).newPage()
    tab.on('pageerror', (e) => console.error(`page error: ${e.message}`))
    const ready = async () => {
      await tab.goto(site.url)
      await tab.waitForFunction('"canvasBench" in window')
    }
    await ready()
    const seeded = (await tab.evaluate(`canvasBench.seed(${EDITS}, ${CHARS})`)) as {
      relayKey: string
      length: number
      seedMs: number
    }
    console.log(
      `seeded ${EDITS} signed edits, ${seeded.length} characters, in ${(seeded.seedMs / 1000).toFixed(1)} s`,
    )
    const runs: Record<'cached' | 'replay', Opened[]> = { cached: [], replay: [] }
    // Alternating, each on a fresh page load (a cold start: the canvas is opened after a reload).
    for (let i = 0; i <= RUNS; i++)
      for (const mode of ['cached', 'replay'] as const) {
        await ready()
        const o = (await tab.evaluate(
          `canvasBench.open(${JSON.stringify(seeded.relayKey)}, ${mode === 'cached'})`,
        )) as Opened
        if (o.length !== seeded.length)
          throw new Error(`${mode}: opened ${o.length} characters of ${seeded.length}`)
        if (i > 0) runs[mode].push(o) // the first round warms the disk cache
      }
    noteLoad()
    const replay = median(runs.replay.map((o) => o.complete))
    const runsOf = (xs: number[]) => `${ms(median(xs))} (${xs.map((x) => x.toFixed(0)).join(', ')})`
    const med = (f: (o: Opened) => number) => ms(median(runs.cached.map(f)))
    const c = runs.cached[0]!
    const phases = table(
      [
        'cached open, median ms',
        'cache opened',
        'snapshot load (read, guard in worker, apply)',
        'rest of openCanvas',
        'log pass after shown',
        `floor: read ${c.read} events in pages of 512`,
        `floor: Y.applyUpdate of the ${(c.stateBytes / 1024).toFixed(0)} KB state`,
        'floor: its guard check, new worker / warm',
      ],
      [
        [
          '',
          med((o) => o.cacheOpen),
          med((o) => o.snapshotLoad),
          med((o) => o.shown - o.cacheOpen - o.snapshotLoad),
          med((o) => o.complete - o.shown),
          med((o) => o.readLog),
          med((o) => o.applyState),
          `${med((o) => o.guardCold)} / ${med((o) => o.guardWarm)}`,
        ],
      ],
    )
    return `${table(
      [
        'open',
        'text shown, ms (runs)',
        'characters shown',
        'log pass done, ms (runs)',
        'vs no snapshot (done)',
      ],
      [
        [
          'snapshot cache (shipped)',
          runsOf(runs.cached.map((o) => o.shown)),
          String(runs.cached[0]!.shownLength),
          runsOf(runs.cached.map((o) => o.complete)),
          `shown ${ratio(median(runs.cached.map((o) => o.shown)), replay)}, done ${ratio(median(runs.cached.map((o) => o.complete)), replay)}`,
        ],
        [
          'baseline: no snapshot (10,000 events through the guard)',
          '-',
          String(runs.replay[0]!.shownLength),
          runsOf(runs.replay.map((o) => o.complete)),
          '1.00x',
        ],
      ],
    )}\n\n${phases}`
  } finally {
    await browser.close()
    await site.close()
    rmSync(page.outDir, { recursive: true, force: true })
  }
}

// ---- 4: sizes ---------------------------------------------------------------------------------

/**
 * Lazy parts of the app in its Vite manifest: the canvas pane (its closure holds CodeMirror, the
 * canvas client chunk and Yjs), Yjs alone, and what the app loads at start besides its initial JS
 * (the real client, and the WebRTC transport, which already brings Yjs for y-webrtc).
 */
const LAZY = {
  canvas: /components\/canvas\/CanvasPane\.vue$/,
  yjs: /^_yjs-/,
  started: /src\/client\/real\.ts$|webrtc-transport/,
  startedAndCanvas: /src\/client\/real\.ts$|webrtc-transport|components\/canvas\/CanvasPane\.vue$/,
}

function sizes(): string {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`
  const worker = (dir: string) => {
    const f = readdirSync(join(dir, 'assets')).find((n) => /^update-guard\.worker-.*\.js$/.test(n))
    return f ? gzipSync(readFileSync(join(dir, 'assets', f)), { level: 9 }).length : 0
  }
  const now = buildPage(join(ROOT, 'ui-vue'), LAZY)
  const l = now.lazy as Record<keyof typeof LAZY, number>
  const rows = [
    [
      'canvas: all it loads beyond the initial JS (pane, CodeMirror, canvas client, Yjs)',
      kb(l.canvas),
      `${ratio(l.canvas, now.initial)} of the initial JS`,
    ],
    ['of which the Yjs chunk (+ lib0)', kb(l.yjs), '-'],
    [
      'canvas beyond what the app loads at start (real client + WebRTC, with Yjs)',
      kb(l.startedAndCanvas - l.started),
      `${ratio(l.startedAndCanvas - l.started, now.initial)} of the initial JS`,
    ],
    ['update-guard Web Worker (own file, started by the first canvas)', kb(worker(now.outDir)), '-'],
  ]
  if (/Yjs was already imported|cm-content/.test(now.initialText))
    rows.push(['warning: Yjs or CodeMirror in the initial JS', '', ''])
  if (before) {
    const then = buildPage(join(before, 'ui-vue'), LAZY)
    const t = then.lazy as Record<keyof typeof LAZY, number>
    rows.push(
      ['chat initial JS (entry + static imports), before (a4046ce)', kb(then.initial), '1.00x'],
      ['chat initial JS, now', kb(now.initial), ratio(now.initial, then.initial)],
      ['chat at start (initial + real client + WebRTC), before', kb(then.initial + t.started), '1.00x'],
      [
        'chat at start, now',
        kb(now.initial + l.started),
        ratio(now.initial + l.started, then.initial + t.started),
      ],
    )
    rmSync(then.outDir, { recursive: true, force: true })
  } else rows.push(['chat initial JS (entry + static imports), now', kb(now.initial), '(no --before)'])
  rmSync(now.outDir, { recursive: true, force: true })
  return table(['what', 'gzip', 'vs baseline'], rows)
}

const LATENCY_HEAD = ['path', 'case', 'p50 ms', 'p99 ms', 'vs chat p50 / p99', 'events per key', 'arrived by']

// ---- run ------------------------------------------------------------------------------------

console.log(
  `bench:canvas ${new Date().toISOString()}, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
)
const out: string[] = []
if (wanted('latency')) {
  const paths = [['relay only', false] as const, ['WebRTC mesh on', true] as const]
  const lat: string[][] = []
  const bytes: string[][] = []
  for (const [name, webrtc] of paths) {
    const runs = await livePath(webrtc)
    const rows = latencyRows(name, runs)
    lat.push(...rows)
    bytes.push(...byteRows(name, runs))
    console.log(table(LATENCY_HEAD, rows))
  }
  out.push(
    `1. keystroke to remote display (${KEYS} keys per case; target p50 <= 50 ms)`,
    table(LATENCY_HEAD, lat),
    '2. wire bytes per keystroke (request to relay + stamped event to the reader, WebSocket headers included)',
    table(
      [
        'path',
        'typing',
        'events per key',
        'publish + event frame, B',
        'canvas B per key',
        'Yjs update B',
        'y-webrtc msg B',
        'vs y-webrtc',
        'all relay bytes per key',
      ],
      bytes,
    ),
  )
}
if (wanted('open'))
  out.push(
    `3. opening a ${CHARS.toLocaleString('en')}-character canvas of ${EDITS.toLocaleString('en')} signed edits from IndexedDB (target <= 200 ms), median of ${RUNS}`,
    await openCanvasBench(),
  )
if (wanted('sizes')) out.push('4. sizes (gzip -9)', sizes())
console.log(`\n${out.join('\n\n')}\n\nload average (1 min) during the cases: ${loads.join(', ')}`)
process.exit(0)
