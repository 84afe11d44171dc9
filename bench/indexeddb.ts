/**
 * IndexedDB store benchmark (issue 6), in Debian's Chromium: writing a channel log and
 * reopening it (the index rebuilt from a key-only cursor, no event read).
 *
 * Compared in the same run: batched writes (one transaction per putMany of 500 events) against
 * the baseline of one transaction per event, each with 'strict' durability (the default:
 * resolved = flushed) and 'relaxed'. Run: `pnpm bench:indexeddb` (EVENTS=20000 by default).
 */
import { rmSync } from 'node:fs'
import { randomBytes, toHex } from '@peerchat/engine'
import { launchChromium } from '../tests/e2e/browser.ts'
import { buildIndexedDbPage } from '../tests/e2e/indexeddb-page/build.ts'
import { serveStatic } from '../tests/e2e/static-server.ts'

const EVENTS = Number(process.env.EVENTS ?? 20_000)
// The one-event-per-transaction baseline is slow: measured on fewer events, reported per event.
const SINGLE = Math.min(EVENTS, 2000)

const outDir = buildIndexedDbPage()
const server = await serveStatic(outDir)
const browser = await launchChromium()
const page = await (await browser.newContext()).newPage()
await page.goto(server.url)
await page.waitForFunction(() => 'idbCheck' in window)

interface Row {
  label: string
  events: number
  perEventUs: number
}
const rows: Row[] = []
for (const durability of ['strict', 'relaxed'] as const)
  for (const batch of [500, 1]) {
    const n = batch === 1 ? SINGLE : EVENTS
    const key = toHex(randomBytes(32))
    const { writeMs } = await page.evaluate(([k, count, b, d]) => window.idbCheck.write(k, count, b, d), [
      key,
      n,
      batch,
      durability,
    ] as const)
    rows.push({
      label: `putMany ${batch === 1 ? '1 event' : `${batch} events`}, ${durability}`,
      events: n,
      perEventUs: (writeMs * 1000) / n,
    })
  }

const key = toHex(randomBytes(32))
await page.evaluate(([k, n]) => window.idbCheck.write(k, n, 500, 'relaxed'), [key, EVENTS] as const)
await page.reload()
await page.waitForFunction(() => 'idbCheck' in window)
const opened = await page.evaluate((k) => window.idbCheck.read(k), key)

await browser.close()
await server.close()
rmSync(outDir, { recursive: true, force: true })

console.log(`| write | events | µs per event | speed-up vs 1 event per transaction |`)
console.log(`|---|---:|---:|---:|`)
for (const r of rows) {
  const baseline = rows.find((b) => b.label.endsWith(r.label.split(', ')[1]!) && b.label.includes('1 event'))!
  console.log(
    `| ${r.label} | ${r.events} | ${r.perEventUs.toFixed(1)} | ${(baseline.perEventUs / r.perEventUs).toFixed(1)}x |`,
  )
}
console.log(
  `\nreopen ${opened.count} events (index rebuilt from keys): ${opened.openMs.toFixed(0)} ms, ` +
    `${((opened.openMs * 1000) / opened.count).toFixed(1)} µs per event`,
)
