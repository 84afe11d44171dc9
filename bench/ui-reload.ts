/**
 * Reload-to-first-message (issue 11): how long after a reload the web app shows the newest
 * messages of a channel whose history this browser holds in IndexedDB (10,000 messages by
 * default), in Debian's Chromium against the relay CLI on loopback.
 *
 * Measured in the page, from the reload's navigation start (`performance.now()` is relative
 * to it) to the insertion of the first message row into the DOM (a MutationObserver set up
 * before the app's scripts run), with the milestones before it: the app's code ran
 * (DOMContentLoaded), the client was created (relay configuration, store, outbox and blob store
 * opened) and started (the `client:created` and `client:started` marks). "After the client
 * started" is the stored history's own part: the chat layout mounts, the newest page is read,
 * folded and rendered.
 *
 * Cases, in the same run:
 * - shipped: the relay up (nobody else online); the page is on a static server naming the
 *   relay (`?relay=`), so that the same page also loads in the next case;
 * - relay down: the relay stopped (the community opens from storage);
 * - relay up with another peer online (the baseline's profile), who may hold more: asked in
 *   the background, never waited for;
 * - baseline, first message over the network: a profile that keeps nothing
 *   (`?store=memory`), whose history must come from a peer holding the same 10,000 (the
 *   IndexedDB profile, left open) over WebRTC;
 * - offline, from the service worker (issue 17, offline cold start): a profile on the relay's
 *   own page (production build: its service worker installed and in control) holding the same
 *   history, reloaded with the relay stopped, so that the page and its files come from the
 *   worker's cache. Fails unless every such reload was served by the worker.
 *
 *   pnpm bench:ui-reload     (MESSAGES=10000, RUNS=5 by default)
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeEvent, eventDigest, Identity, signRequest, stamp, toBase64url } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { fixtureUlid } from '@peerchat/engine/testing'
import { EVENTS, logDatabaseName } from '../stores/indexeddb/src/index.ts'
import { joinAs, startRealStack } from '../tests/e2e/real-harness.ts'
import { serveStatic } from '../tests/e2e/static-server.ts'
import { encodeBody } from '../ui-vue/src/client/bodies.ts'
import { median } from './cli.ts'

type Page = Awaited<ReturnType<typeof joinAs>>
type BrowserContext = ReturnType<Page['context']>

useNodeCrypto()
const MESSAGES = Number(process.env.MESSAGES ?? 10_000)
const RUNS = Number(process.env.RUNS ?? 5)
const CHANNEL = 'general'
/** Rows written into the page's IndexedDB per `evaluate`. */
const SEED_BATCH = 1_000
const WAIT = { timeout: 120_000 }

const fmt = (xs: number[]): string => `${median(xs).toFixed(0)} (${xs.map((x) => x.toFixed(0)).join(', ')})`

/** Runs before the app: the time the first message row enters the DOM. */
const FIRST_ROW = `(() => {
  const seen = () => {
    if (window.__firstRow === undefined && document.querySelector('article.msg p.text'))
      window.__firstRow = performance.now()
    return window.__firstRow !== undefined
  }
  const obs = new MutationObserver(() => seen() && obs.disconnect())
  obs.observe(document, { subtree: true, childList: true })
})()`

// The relay's key is made here, so the seeded history carries valid relay stamps.
const relayId = await Identity.generate()
const keyDir = mkdtempSync(join(tmpdir(), 'peerchat-bench-reload-'))
const keyFile = join(keyDir, 'relay.key')
writeFileSync(keyFile, `${relayId.export()}\n`)
chmodSync(keyFile, 0o600)

/** MESSAGES signed, stamped messages by a few authors over the last 20 hours, as IndexedDB rows. */
async function history(): Promise<{ c: string; i: string; d: string; e: string }[]> {
  const authors = await Promise.all([1, 2, 3].map(() => Identity.generate()))
  const start = Date.now() - 20 * 60 * 60_000
  const step = Math.floor((20 * 60 * 60_000) / MESSAGES)
  const rows: { c: string; i: string; d: string; e: string }[] = []
  for (let from = 0; from < MESSAGES; from += 256) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(256, MESSAGES - from) }, async (_, k) => {
        const n = from + k
        const req = await signRequest(authors[n % authors.length]!, {
          channel: CHANNEL,
          kind: 'message',
          clientNonce: new Uint8Array(16).map((_, j) => (n >> (8 * (j % 4))) & 0xff),
          body: encodeBody({ kind: 'message', text: `stored message ${n} ${'lorem ipsum '.repeat(n % 7)}` }),
        })
        return stamp(relayId, fixtureUlid(start + n * step, n), req)
      }),
    )
    for (const e of batch)
      rows.push({ c: e.channel, i: e.id, d: toBase64url(eventDigest(e)), e: toBase64url(encodeEvent(e)) })
  }
  return rows
}

/**
 * Writes rows into the page's community database, as the IndexedDB store lays them out. A
 * string, not a function: the bundler's helpers (name keeping) do not exist in the page.
 */
const SEED = `async ([name, store, batch]) => {
  const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open(name)
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })
  await new Promise((resolve, reject) => {
    const tx = db.transaction(store, 'readwrite')
    for (const row of batch) tx.objectStore(store).put({ ...row, d: bytes(row.d), e: bytes(row.e) })
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error)
  })
  db.close()
}`

async function seed(page: Page, rows: { c: string; i: string; d: string; e: string }[]): Promise<void> {
  const db = logDatabaseName(relayId.publicKey)
  for (let i = 0; i < rows.length; i += SEED_BATCH)
    await page.evaluate(`(${SEED})(${JSON.stringify([db, EVENTS, rows.slice(i, i + SEED_BATCH)])})`)
}

/** Milestones of one reload, ms from its navigation start. */
interface Reload {
  /** The first message row in the DOM. */
  firstRow: number
  /** The app's code ran (DOMContentLoaded done). */
  loaded: number
  /** The client was created: relay config found, store and outbox opened. */
  created: number
  /** `start()` returned. */
  started: number
  /** A service worker controls the page (`navigator.serviceWorker.controller`). */
  controlled: boolean
  /** The page's own response came through the service worker. */
  viaWorker: boolean
}

/** One measured load of `page` (a reload unless `navigate` says otherwise). */
async function reload(page: Page, navigate = () => page.reload()): Promise<Reload> {
  const response = await navigate()
  await page.waitForFunction('window.__firstRow !== undefined', null, WAIT)
  const marks = (await page.evaluate(`(() => {
    const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? NaN
    return {
      firstRow: window.__firstRow,
      loaded: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
      created: mark('client:created'),
      started: mark('client:started'),
      controlled: navigator.serviceWorker.controller !== null,
    }
  })()`)) as Omit<Reload, 'viaWorker'>
  return { ...marks, viaWorker: response?.fromServiceWorker() ?? false }
}

async function reloads(page: Page): Promise<Reload[]> {
  const out: Reload[] = []
  for (let r = 0; r < RUNS; r++) out.push(await reload(page))
  return out
}

// A build of its own (production, as `buildUi` always makes): e2e runs alongside rebuild
// ui-vue/dist, which would swap the files (and the service worker) under the bench.
// The `ws` shell: it is stopped and started again on its port (uWS cannot re-bind one in TIME_WAIT).
const stack = await startRealStack({
  relayArgs: ['--quiet', '--shell', 'ws', '--key-file', keyFile],
  ownBuild: true,
})
const { relay, browser } = stack
const site = await serveStatic(stack.dist)
const relayOrigin = relay.appUrl.replace(/\/$/, '')
const contexts: BrowserContext[] = []
try {
  const rows = await history()
  // The offline case's profile, on the relay's origin, made first and its page closed: it must
  // be nobody's peer while the other cases run.
  const cy = await joinAs(browser, relay.appUrl, 'Cy', '', { initScript: FIRST_ROW })
  const offlineProfile = cy.context()
  contexts.push(offlineProfile)
  await seed(cy, rows)
  await reload(cy)
  // Activated = every file of the build cached (sw.js install); only then does it open offline.
  // No worker at all means a development build (it registers on production builds only).
  await cy.waitForFunction("navigator.serviceWorker.controller?.state === 'activated'", null, WAIT)
  await cy.close()

  // The IndexedDB profile, on the static server's origin so that it also loads with the relay down.
  const ann = await joinAs(browser, site.url, 'Ann', `?relay=${encodeURIComponent(relayOrigin)}`, {
    initScript: FIRST_ROW,
  })
  contexts.push(ann.context())
  await seed(ann, rows)
  await reload(ann) // the first open of the seeded store: not counted

  const shipped = await reloads(ann)

  await relay.kill()
  const down = await reloads(ann)
  // Offline cold start: a new tab on the relay's address, then reloads, the relay still down.
  const cyOffline = await offlineProfile.newPage()
  await reload(cyOffline, () => cyOffline.goto(relay.appUrl)) // the new tab's first open: not counted
  const offline = await reloads(cyOffline)
  // Closed before the relay is back: it would be one more peer online in the cases below.
  await offlineProfile.close()
  // Nothing answers on the relay's port, so a page that showed its messages came from the
  // worker's cache; still, the case is void unless the worker is seen serving each reload.
  const stray = offline.find((x) => !x.controlled || !x.viaWorker)
  if (stray) throw new Error(`offline reload not served by the service worker: ${JSON.stringify(stray)}`)
  await relay.restart()
  await ann.locator('.conn.online').waitFor(WAIT)

  // Baseline: nothing stored; the history comes from Ann over WebRTC on every load.
  const ben = await joinAs(browser, relay.appUrl, 'Ben', '?store=memory', { initScript: FIRST_ROW })
  contexts.push(ben.context())
  const network = await reloads(ben)
  // The issue's case: others online, who may hold older history (they are asked in the background).
  const withPeer = await reloads(ann)

  const ms = (xs: number[]) => median(xs).toFixed(0)
  const row = (label: string, xs: Reload[]) =>
    console.log(
      `| ${label} | ${fmt(xs.map((x) => x.firstRow))} | ${ms(xs.map((x) => x.firstRow - x.started))} | ` +
        `${ms(xs.map((x) => x.loaded))} / ${ms(xs.map((x) => x.created))} / ${ms(xs.map((x) => x.started))} |`,
    )
  console.log(
    `reload-to-first-message, ${MESSAGES} stored messages, ${RUNS} reloads (${new Date().toISOString()})`,
  )
  console.log(
    '| case | first message ms, median (runs) | after the client started, median ms | code ran / client created / started, median ms |',
  )
  console.log('|---|---|---:|---|')
  const cases: [string, Reload[]][] = [
    ['IndexedDB store, relay up (shipped)', shipped],
    ['IndexedDB store, relay up, another peer online', withPeer],
    ['IndexedDB store, relay down', down],
    ["IndexedDB store, relay down, the relay's page from the service worker (offline)", offline],
    ['baseline: memory store, history from a peer over WebRTC', network],
  ]
  for (const [label, xs] of cases) row(label, xs)
  // The static server's page registers the same worker: say which loads it controlled.
  console.log(
    `service worker in control: ${cases.map(([label, xs]) => `${label} ${xs.filter((x) => x.controlled).length}/${xs.length}`).join('; ')}`,
  )
  /** Median first message of `a` over that of `b`. */
  const ratio = (a: Reload[], b: Reload[]) =>
    median(a.map((x) => x.firstRow)) / median(b.map((x) => x.firstRow))
  console.log(`first message, shipped vs baseline: ${ratio(network, shipped).toFixed(1)}x faster`)
  console.log(
    `first message, offline from the service worker vs shipped: ${ratio(offline, shipped).toFixed(2)}x the time`,
  )
} finally {
  for (const c of contexts) await c.close().catch(() => {})
  await site.close()
  await stack.stop()
  rmSync(keyDir, { recursive: true, force: true })
}
