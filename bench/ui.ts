/**
 * UI benchmark (issue 7): the initial bundle (gzip) and the time to first render of a channel
 * holding 10,000 local messages, in Debian's Chromium on the simulated network.
 *
 * First render = from the click on the channel to the frame after its rows are in the DOM:
 * reading the local log, folding the events into the view, building rows, rendering.
 * Compared in the same run: the shipped app (first page of 500 events, virtual list), the
 * virtual list with all 10,000 loaded, and the baseline that renders every row (no
 * virtualization, all 10,000 loaded). Run: `pnpm bench:ui` (RUNS=5 by default).
 *
 * Scrolling: the whole channel is loaded, then scrolled from bottom to top in 300 animation
 * frames (a fling far beyond what a hand does); frame times at 100,000 messages are compared
 * with the same scroll at 1,000 messages: a flat ratio means the cost does not grow with n.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { launchChromium } from '../tests/e2e/browser.ts'
import { buildUi, DIST_DIR } from '../tests/e2e/build.ts'
import { serveStatic } from '../tests/e2e/static-server.ts'
import { median } from './cli.ts'

const RUNS = Number(process.env.RUNS ?? 5)
const HISTORY = 10_000

function bundleSizes(): { file: string; raw: number; gzip: number }[] {
  const html = readFileSync(`${DIST_DIR}/index.html`, 'utf8')
  return readdirSync(`${DIST_DIR}/assets`).map((file) => {
    const bytes = readFileSync(`${DIST_DIR}/assets/${file}`)
    const initial = html.includes(file) ? '' : ' (lazy)'
    return { file: file + initial, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length }
  })
}

const kb = (n: number): string => (n / 1024).toFixed(1)

buildUi()
const sizes = bundleSizes()
const server = await serveStatic(DIST_DIR)
const browser = await launchChromium()

async function openChat(query: string, startIn = 'general') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  await context.addInitScript((channel) => localStorage.setItem('peerchat.channel', channel), startIn)
  const page = await context.newPage()
  await page.goto(`${server.url}?otherHistory=50&activity=0&seed=11&${query}`)
  await page.getByLabel('Display name').fill('Bench')
  await page.getByRole('button', { name: 'Create my key and start' }).click()
  await page.getByRole('log', { name: `Messages in ${startIn}` }).waitFor({ timeout: 120_000 })
  await page.waitForFunction(() => document.documentElement.dataset.firstRenderMs !== undefined, null, {
    timeout: 120_000,
  })
  return { context, page }
}

const SCROLL_SCRIPT = `new Promise((resolve) => {
  const el = document.querySelector('.vlist')
  const FRAMES = 300
  const frames = []
  let dom = 0
  let last = performance.now()
  let n = 0
  const step = (t) => {
    if (n > 0) frames.push(t - last)
    last = t
    el.scrollTop = el.scrollHeight * (1 - n / FRAMES)
    dom = Math.max(dom, document.querySelectorAll('.vlist-row').length)
    if (++n <= FRAMES) requestAnimationFrame(step)
    else {
      frames.sort((a, b) => a - b)
      const at = (q) => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))]
      resolve({ p50: at(0.5), p95: at(0.95), max: at(1), dom })
    }
  }
  requestAnimationFrame(step)
})`

/** Scrolls the loaded channel from bottom to top in 300 frames; frame-time percentiles. */
async function scrollFrames(
  history: number,
): Promise<{ p50: number; p95: number; max: number; dom: number }> {
  const { context, page } = await openChat(`history=${history}&page=${history}`)
  // A string, not a function: tsx would inject its `__name` helper, unknown in the page.
  const result = (await page.evaluate(SCROLL_SCRIPT)) as {
    p50: number
    p95: number
    max: number
    dom: number
  }
  await context.close()
  return result
}

async function firstRender(query: string): Promise<{ ms: number; rows: number; dom: number }> {
  // Start in another channel, so opening #general is its first render.
  const { context, page } = await openChat(`history=${HISTORY}&${query}`, 'random')
  await page.evaluate(() => {
    delete document.documentElement.dataset.firstRenderMs
  })
  await page.getByRole('button', { name: /^general/ }).click()
  await page.waitForFunction(() => document.documentElement.dataset.firstRenderMs !== undefined, null, {
    timeout: 60_000,
  })
  const result = await page.evaluate(() => ({
    ms: Number(document.documentElement.dataset.firstRenderMs),
    rows: Number(document.documentElement.dataset.firstRenderRows),
    dom: document.querySelectorAll('.vlist-row').length,
  }))
  await context.close()
  return result
}

const modes = [
  { name: 'shipped: first page 500, virtual list', query: '' },
  { name: 'virtual list, all 10,000 loaded', query: 'page=10000' },
  { name: 'baseline: every row rendered, all 10,000 loaded', query: 'page=10000&overscan=100000000' },
]
const results: { name: string; ms: number; dom: number }[] = []
for (const mode of modes) {
  const runs: number[] = []
  let dom = 0
  for (let i = 0; i < RUNS; i++) {
    const r = await firstRender(mode.query)
    runs.push(r.ms)
    dom = r.dom
  }
  results.push({ name: mode.name, ms: median(runs), dom })
  console.log(
    `${mode.name}: median ${median(runs).toFixed(1)} ms over ${RUNS} runs [${runs.join(', ')}], ${dom} rows in DOM`,
  )
}
const scroll = []
for (const history of [1_000, 100_000]) {
  const r = await scrollFrames(history)
  scroll.push({ history, ...r })
  console.log(
    `scroll ${history}: p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`,
  )
}
await browser.close()
await server.close()

const initial = sizes.filter((s) => !s.file.endsWith('(lazy)'))
const lazy = sizes.filter((s) => s.file.endsWith('(lazy)'))
const sum = (xs: typeof sizes) => xs.reduce((a, s) => a + s.gzip, 0)
console.log('\n## ui (paste into bench/README.md)\n')
console.log('| asset | raw KiB | gzip KiB |\n| --- | ---: | ---: |')
for (const s of sizes) console.log(`| ${s.file} | ${kb(s.raw)} | ${kb(s.gzip)} |`)
console.log(`| **initial total (gzip)** | | **${kb(sum(initial))}** |`)
console.log(`| initial + lazy (gzip) | | ${kb(sum(initial) + sum(lazy))} |`)
console.log('\n| first render of #general (10,000 local messages) | median ms | rows in DOM | vs baseline |')
console.log('| --- | ---: | ---: | ---: |')
const baseline = results[results.length - 1]!.ms
for (const r of results)
  console.log(`| ${r.name} | ${r.ms.toFixed(1)} | ${r.dom} | ${(baseline / r.ms).toFixed(1)}x faster |`)

console.log(
  '\n| scroll bottom to top in 300 frames | p50 frame ms | p95 frame ms | max frame ms | most rows in DOM |',
)
console.log('| --- | ---: | ---: | ---: | ---: |')
for (const r of scroll)
  console.log(
    `| ${r.history.toLocaleString('en')} messages | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.max.toFixed(1)} | ${r.dom} |`,
  )
const [small, big] = scroll
console.log(`\np95 frame at 100,000 / at 1,000: ${(big!.p95 / small!.p95).toFixed(2)}`)
