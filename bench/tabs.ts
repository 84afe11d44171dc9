/**
 * Several tabs of one person (issue #18): Ann has N tabs open, each a Replica over its own
 * handles of one IndexedDB database (fake-indexeddb; the handles talk over Node's
 * BroadcastChannel, as tabs do) and its one outbox, each with its own session on a MemoryRelay;
 * Bob is on another device (MemoryStore + MemoryOutboxStore). Ann's tab one writes M messages
 * back to back (each `write` awaited, i.e. queued in the outbox; the stamps are not awaited
 * one by one), then the bench waits until every one of Ann's tabs and Bob has shown all M in its
 * `subscribe` listener. Per message it counts:
 *
 *   relay submissions and stamps        1.00 for every N (every tab sending every queued write
 *                                       would be N submissions)
 *   IndexedDB event rows added          what `putMany` returned, summed over Ann's N handles
 *                                       (~1: the first tab to store an event writes it, the
 *                                       others find it in their index)
 *   IndexedDB `add` calls on `events`   rows that reached a transaction, the duplicates too (two
 *                                       tabs storing one event at once: one gets ConstraintError)
 *   outbox puts, deletes                in the shared outbox: one put per write; the deletes,
 *                                       from every tab that sees the write stamped
 *   events shown per tab                1.00: each tab shows each event once
 *
 * The baseline is N = 1 in the same run (time ratio vs N = 1). The counts are read after the
 * last write plus 2 x ADOPT_DELAY_MS + 0.5 s (the longest adoption wait), so that a late
 * adoption by another tab would be counted.
 *
 * Adoption (N >= 2): tab one writes one message and its relay link is cut right after the
 * write is queued (before the relay sees it): the write is stamped once another tab adopts it,
 * 1-2 x ADOPT_DELAY_MS after it saw it queued (a random extra wait per tab). Timed from the write to its stamp in tab one (it learns
 * it from the shared store), against the same write with tab one's link up.
 *
 * Each round uses a fresh relay key, hence a fresh database; cases are interleaved in every
 * round and each figure is the median round.
 *
 *   pnpm bench:tabs [N ...]                      (default 1 2 4; M=200 ROUNDS=3)
 *   pnpm bench:tabs --messages 500 --rounds 5 1 4
 */
import 'fake-indexeddb/auto'
import { loadavg } from 'node:os'
import {
  ADOPT_DELAY_MS,
  Identity,
  MemoryOutboxStore,
  MemoryStore,
  type OutboxStore,
  Replica,
  type Store,
  type StoredEvent,
  utf8,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import {
  deleteIndexedDbStore,
  EVENTS,
  OUTBOX,
  openIndexedDbOutbox,
  openIndexedDbStore,
} from '@peerchat/store-indexeddb'
import { type MemoryLivePort, MemoryRelay } from '@peerchat/transports/memory'
import { flag, median } from './cli.ts'

const args = process.argv.slice(2)
if (args.includes('--help')) {
  console.log(`usage: pnpm bench:tabs [--messages M] [--rounds R] [N ...]

  N           numbers of Ann's tabs (default 1 2 4; 1 is the baseline)
  --messages  messages written by Ann's tab one per round (default 200, or env M)
  --rounds    rounds, cases interleaved in each (default 3, or env ROUNDS)

Each fan-out round waits 2 x ADOPT_DELAY_MS (${ADOPT_DELAY_MS} ms) + 0.5 s after the last write before it
reads the counts; each adoption round takes 1-2 x ADOPT_DELAY_MS.`)
  process.exit(0)
}
const M = Number(flag('--messages') ?? process.env.M ?? 200)
const ROUNDS = Number(flag('--rounds') ?? process.env.ROUNDS ?? 3)
const sizes = args
  .filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'))
  .map(Number)
  .filter((n) => Number.isInteger(n) && n >= 1)
const NS = sizes.length ? [...new Set(sizes)].sort((a, b) => a - b) : [1, 2, 4]
const CH = 'general'
/** After the last write: every other tab's adoption timer has fired by then. */
const SETTLE_MS = 2 * ADOPT_DELAY_MS + 500

useNodeCrypto()

// ---- IndexedDB traffic, counted on every handle of the process (Bob's store is in memory) ----

const idb = { eventAdds: 0, outboxPuts: 0, outboxDeletes: 0 }
const proto = globalThis.IDBObjectStore.prototype
const { add, put, delete: del } = proto
proto.add = function (this: IDBObjectStore, ...a: Parameters<IDBObjectStore['add']>) {
  if (this.name === EVENTS) idb.eventAdds++
  return add.apply(this, a)
}
proto.put = function (this: IDBObjectStore, ...a: Parameters<IDBObjectStore['put']>) {
  if (this.name === OUTBOX) idb.outboxPuts++
  return put.apply(this, a)
}
proto.delete = function (this: IDBObjectStore, ...a: Parameters<IDBObjectStore['delete']>) {
  if (this.name === OUTBOX) idb.outboxDeletes++
  return del.apply(this, a)
}

/** Rows `putMany` added over Ann's handles. */
const puts = { added: 0 }

// ---- a tab ------------------------------------------------------------------------------

interface Tab {
  replica: Replica
  port: MemoryLivePort
  /** Events its listener was given (a second copy of one counts again). */
  shown(): number
  /** Resolves with performance.now() once its listener has shown `n` distinct events. */
  reached(n: number): Promise<number>
  close(): Promise<void>
}

async function openTab(relay: MemoryRelay, signer: Identity, device: 'ann' | 'other'): Promise<Tab> {
  let store: Store
  let outbox: OutboxStore & { close?(): Promise<void> }
  if (device === 'ann') {
    const s = await openIndexedDbStore({ relayKey: relay.publicKey })
    const putMany = s.putMany.bind(s)
    s.putMany = async (channel: string, items: readonly StoredEvent[]) => {
      const n = await putMany(channel, items)
      puts.added += n
      return n
    }
    store = s
    outbox = await openIndexedDbOutbox({ relayKey: relay.publicKey, author: signer.publicKey })
  } else {
    store = new MemoryStore()
    outbox = new MemoryOutboxStore()
  }
  const replica = await Replica.open({ store, outbox, relayKeys: [relay.publicKey], signer })
  const ids = new Set<string>()
  let shown = 0
  const waiters: { n: number; resolve: (at: number) => void }[] = []
  await replica.subscribe(
    CH,
    (c) => {
      shown += c.added.length
      for (const e of c.added) ids.add(e.id)
      const at = performance.now()
      for (const w of [...waiters])
        if (ids.size >= w.n) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(at)
        }
    },
    { replay: false },
  )
  const port = relay.client()
  const detach = replica.connect(port)
  return {
    replica,
    port,
    shown: () => shown,
    reached: (n) =>
      ids.size >= n
        ? Promise.resolve(performance.now())
        : new Promise((resolve) => waiters.push({ n, resolve })),
    async close() {
      detach()
      port.close()
      await replica.stop()
      await outbox.close?.()
      await store.close()
    },
  }
}

interface World {
  relay: MemoryRelay
  ann: Tab[]
  bob: Tab
}

async function world(n: number): Promise<World> {
  const relay = new MemoryRelay({ signer: await Identity.generate() })
  const ann = await Identity.generate()
  const tabs: Tab[] = []
  for (let i = 0; i < n; i++) tabs.push(await openTab(relay, ann, 'ann'))
  return { relay, ann: tabs, bob: await openTab(relay, await Identity.generate(), 'other') }
}

async function closeWorld(w: World): Promise<void> {
  for (const t of [...w.ann, w.bob].reverse()) await t.close()
  await deleteIndexedDbStore({ relayKey: w.relay.publicKey })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

// ---- fan-out: M messages from tab one -----------------------------------------------------

interface FanOut {
  queueMs: number
  allMs: number
  annMs: number
  bobMs: number
  submitted: number
  stamped: number
  added: number
  eventAdds: number
  outboxPuts: number
  outboxDeletes: number
  /** The most events any listener was given, over M. */
  shownMax: number
}

async function fanOut(n: number): Promise<FanOut> {
  const w = await world(n)
  try {
    Object.assign(idb, { eventAdds: 0, outboxPuts: 0, outboxDeletes: 0 })
    Object.assign(puts, { added: 0 })
    const one = w.ann[0]!
    const t0 = performance.now()
    const annDone = Promise.all(w.ann.map((t) => t.reached(M)))
    const bobDone = w.bob.reached(M)
    for (let i = 0; i < M; i++) await one.replica.write(CH, 'message', utf8(`message ${i} from tab one`))
    const lastWrite = performance.now()
    const ann = Math.max(...(await annDone))
    const bob = await bobDone
    // Wait out the other tabs' adoption timers before counting.
    await until(() => w.ann.every((t) => t.replica.writes().length === 0), "Ann's outbox to drain")
    await sleep(lastWrite + SETTLE_MS - performance.now())
    return {
      queueMs: lastWrite - t0,
      allMs: Math.max(ann, bob) - t0,
      annMs: ann - t0,
      bobMs: bob - t0,
      submitted: w.relay.stats.submitted / M,
      stamped: w.relay.stats.stamped / M,
      added: puts.added / M,
      eventAdds: idb.eventAdds / M,
      outboxPuts: idb.outboxPuts / M,
      outboxDeletes: idb.outboxDeletes / M,
      shownMax: Math.max(...[...w.ann, w.bob].map((t) => t.shown())) / M,
    }
  } finally {
    await closeWorld(w)
  }
}

// ---- adoption: tab one cut off right after writing ----------------------------------------

type AdoptCase = 'own tab online' | 'own tab cut off'
interface Adopt {
  stampMs: number
  bobMs: number
  submitted: number
  stamped: number
}

async function adopt(n: number, which: AdoptCase): Promise<Adopt> {
  const w = await world(n)
  try {
    const one = w.ann[0]!
    const bobDone = w.bob.reached(1)
    const t0 = performance.now()
    const write = await one.replica.write(CH, 'message', utf8('written in tab one'))
    // Synchronously after the write is queued: its submission is still on the wire (5 ms).
    if (which === 'own tab cut off') one.port.setLink(false)
    await one.replica.stamped(write)
    const stampMs = performance.now() - t0
    const bobMs = (await bobDone) - t0
    await until(() => w.ann.every((t) => t.replica.writes().length === 0), "Ann's outbox to drain")
    // Every tab that adopted the write has sent it by now (their timers fire together).
    await sleep(500)
    return { stampMs, bobMs, submitted: w.relay.stats.submitted, stamped: w.relay.stats.stamped }
  } finally {
    await closeWorld(w)
  }
}

// ---- run -------------------------------------------------------------------------------

const load: string[] = [loadavg()[0]!.toFixed(2)]
const started = new Date()
const fan = new Map<number, FanOut[]>(NS.map((n) => [n, []]))
const ADOPT_NS = NS.filter((n) => n >= 2)
const CASES: AdoptCase[] = ['own tab online', 'own tab cut off']
const adopted = new Map<string, Adopt[]>()
console.log(
  `tabs: N = ${NS.join(', ')}; M = ${M} messages from tab one, ${ROUNDS} rounds; ADOPT_DELAY_MS = ${ADOPT_DELAY_MS}; ${started.toISOString()}`,
)
for (let r = 0; r < ROUNDS; r++) {
  for (const n of NS) {
    const s = await fanOut(n)
    fan.get(n)!.push(s)
    console.log(
      `#${r + 1} N=${n}: all shown ${s.allMs.toFixed(0)} ms (queued ${s.queueMs.toFixed(0)}), ${s.submitted.toFixed(2)} submissions/msg, ${s.added.toFixed(2)} rows added/msg`,
    )
  }
  for (const n of ADOPT_NS)
    for (const which of CASES) {
      const s = await adopt(n, which)
      const key = `${n} ${which}`
      adopted.set(key, [...(adopted.get(key) ?? []), s])
      console.log(
        `#${r + 1} N=${n} ${which}: stamped in tab one after ${s.stampMs.toFixed(0)} ms, ${s.submitted} submission(s)`,
      )
    }
  load.push(loadavg()[0]!.toFixed(2))
}

const f1 = (x: number) => x.toFixed(1)
const f2 = (x: number) => x.toFixed(2)
const most = (xs: number[]) => Math.max(...xs)
const base = median(fan.get(NS[0]!)!.map((s) => s.allMs))
console.log(`\nload average (1 min) at the start and after each round: ${load.join(', ')}`)
console.log(
  `\nFan-out: M = ${M} messages written by tab one (each write awaited, stamps not), ${ROUNDS} rounds; counts per message (worst round), times median (max)`,
)
console.log(
  "| N tabs | relay submissions | stamped | IDB event rows added | IDB `add` on events | outbox puts | outbox deletes | events shown per tab | ms queued | ms all tabs + Bob shown | ms Ann's last tab | ms Bob | vs N = 1 |",
)
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const n of NS) {
  const xs = fan.get(n)!
  const all = xs.map((s) => s.allMs)
  console.log(
    `| ${n} | ${f2(most(xs.map((s) => s.submitted)))} | ${f2(most(xs.map((s) => s.stamped)))} | ${f2(most(xs.map((s) => s.added)))} | ${f2(most(xs.map((s) => s.eventAdds)))} | ${f2(most(xs.map((s) => s.outboxPuts)))} | ${f2(most(xs.map((s) => s.outboxDeletes)))} | ${f2(most(xs.map((s) => s.shownMax)))} | ${median(xs.map((s) => s.queueMs)).toFixed(0)} | ${median(all).toFixed(0)} (${most(all).toFixed(0)}) | ${median(xs.map((s) => s.annMs)).toFixed(0)} | ${median(xs.map((s) => s.bobMs)).toFixed(0)} | ${f2(median(all) / base)}x |`,
  )
}
if (ADOPT_NS.length) {
  console.log(
    `\nAdoption: one write, tab one's relay link cut right after it is queued vs left up; ${ROUNDS} rounds, median (max)`,
  )
  console.log(
    '| N tabs | case | ms write -> stamped in tab one | ms -> Bob shows it | relay submissions (max) | stamped | vs own tab online |',
  )
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: |')
  for (const n of ADOPT_NS) {
    const own = median(adopted.get(`${n} own tab online`)!.map((s) => s.stampMs))
    for (const which of CASES) {
      const xs = adopted.get(`${n} ${which}`)!
      const t = xs.map((s) => s.stampMs)
      const b = xs.map((s) => s.bobMs)
      console.log(
        `| ${n} | ${which} | ${f1(median(t))} (${f1(most(t))}) | ${f1(median(b))} (${f1(most(b))}) | ${most(xs.map((s) => s.submitted))} | ${most(xs.map((s) => s.stamped))} | ${(median(t) / own).toFixed(0)}x |`,
      )
    }
  }
}
console.log(
  `\nfinished ${new Date().toISOString()} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`,
)
process.exit(0)
