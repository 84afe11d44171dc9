/**
 * Send-to-display latency between two browser contexts through the real relay (issue 7):
 * Ann presses Enter in her composer, Ben's page shows the row. Measured in the pages (one
 * machine clock: `performance.timeOrigin + performance.now()`): at Ann's keydown, and when the
 * message's row is inserted into Ben's DOM (a MutationObserver; paint follows in the next frame).
 * The path: sign in Ann's page, WebSocket to the relay, author check and stamp, fan-out,
 * Ben's relay-stamp and author verification, store, fold into the view, render.
 *
 * Run with the shipped IndexedDB store (a row shows once its event is durably written) and
 * with the memory store (`?store=memory`).
 * Baseline in the same run: two Node `RelayClient`s on the same relay (sign, stamp, fan-out,
 * verify; no browser, no UI), so the ratio shows what the page adds to the network path.
 *
 *   pnpm bench:ui-latency     (MESSAGES=50, GAP_MS=100 by default)
 */
import { Identity, publicKeyFromText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { RelayClient } from '@peerchat/transports/relay'
import { WebSocket } from 'ws'
import { launchChromium } from '../tests/e2e/browser.ts'
import { buildUi } from '../tests/e2e/build.ts'
import { composer, joinAs, startRealRelay } from '../tests/e2e/real-harness.ts'

useNodeCrypto()
const MESSAGES = Number(process.env.MESSAGES ?? 50)
const GAP_MS = Number(process.env.GAP_MS ?? 100)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}
const row = (name: string, xs: number[]) =>
  `| ${name} | ${xs.length} | ${pct(xs, 0.5).toFixed(1)} | ${pct(xs, 0.99).toFixed(1)} | ${Math.max(...xs).toFixed(1)} |`

buildUi()
const relay = await startRealRelay(['--quiet'])
const browser = await launchChromium()

async function browserLatencies(query: string): Promise<number[]> {
  const ann = await joinAs(browser, relay.appUrl, 'Ann', query)
  const ben = await joinAs(browser, relay.appUrl, 'Ben', query)
  const now = () => performance.timeOrigin + performance.now()
  await ann.evaluate(`(() => {
    window.__sent = {}
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && e.target.id === 'composer-input') window.__sent[e.target.value] = (${now})()
    }, true)
  })()`)
  await ben.evaluate(`(() => {
    window.__seen = {}
    new MutationObserver((records) => {
      const t = (${now})()
      for (const r of records)
        for (const n of r.addedNodes)
          if (n.nodeType === 1)
            for (const p of n.matches('p.text') ? [n] : n.querySelectorAll('p.text'))
              if (p.textContent.startsWith('lat ') && !(p.textContent in window.__seen)) window.__seen[p.textContent] = t
    }).observe(document.body, { subtree: true, childList: true, characterData: true })
  })()`)
  for (let i = 0; i < MESSAGES; i++) {
    await composer(ann).fill(`lat ${i}`)
    await composer(ann).press('Enter')
    await sleep(GAP_MS)
  }
  await ben.waitForFunction(
    (n) => Object.keys((window as never as { __seen: object }).__seen).length >= n,
    MESSAGES,
    {
      timeout: 30_000,
    },
  )
  const sent = (await ann.evaluate('window.__sent')) as Record<string, number>
  const seen = (await ben.evaluate('window.__seen')) as Record<string, number>
  await ann.context().close()
  await ben.context().close()
  return Object.keys(sent).map((text) => seen[text]! - sent[text]!)
}

async function nodeLatencies(): Promise<number[]> {
  const relayKey = publicKeyFromText(relay.process.relayKey)
  const open = async () => {
    const c = new RelayClient({
      url: `${relay.process.url}/relay`,
      identity: await Identity.generate(),
      relayKey,
      channels: ['general'],
      WebSocket: WebSocket as never,
    })
    await c.start()
    while (c.state !== 'online') await sleep(10)
    return c
  }
  const [a, b] = [await open(), await open()]
  await sleep(200)
  const seen = new Map<string, number>()
  b.on('event', (e) => seen.set(new TextDecoder().decode(e.body), performance.now()))
  const out: number[] = []
  for (let i = 0; i < MESSAGES; i++) {
    const text = `lat ${i}`
    const t = performance.now()
    await a.publish({ channel: 'general', kind: 'message', body: new TextEncoder().encode(text) })
    while (!seen.has(text)) await sleep(0)
    out.push(seen.get(text)! - t)
    await sleep(GAP_MS)
  }
  await a.stop()
  await b.stop()
  return out
}

try {
  const baseline = await nodeLatencies()
  const page = await browserLatencies('')
  const memory = await browserLatencies('?store=memory')
  console.log(
    `send-to-display latency, ${MESSAGES} messages ${GAP_MS} ms apart, ms (${new Date().toISOString()})`,
  )
  console.log('| path | n | p50 | p99 | max |\n|---|---|---|---|---|')
  console.log(row('browser → relay → browser, IndexedDB store (shipped)', page))
  console.log(row('browser → relay → browser, memory store (`?store=memory`)', memory))
  console.log(row('baseline: Node RelayClient → relay → Node RelayClient', baseline))
  const ratio = (xs: number[]) => (pct(xs, 0.5) / pct(baseline, 0.5)).toFixed(2)
  console.log(`p50 vs baseline: IndexedDB ${ratio(page)}x, memory ${ratio(memory)}x`)
} finally {
  await browser.close()
  await relay.stop()
}
