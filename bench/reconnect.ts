/**
 * A reconnected replica's catch-up (issue #11), real relay and two Node peer processes meshed
 * over WebRTC on loopback. B holds a few events in its FileStore and is killed; A posts `n`
 * more; B restarts from its store. Two cases, alternating, each `ROUNDS` times:
 *
 *   peer after login   A goes offline before B restarts, and comes back once B is logged in
 *                      and its mesh is up: the issue's case (the old code never caught up).
 *                      Timed from A's appearance on B's links (and from A's `online` call,
 *                      which adds A's own login) to B holding every event.
 *   peer at login      (baseline) A stays online; timed from B's relay login to B holding
 *                      every event, and from A's appearance on B's links.
 *
 * No application code syncs: the replicas' sync policy does it (target: <= 1 s on loopback).
 *
 *   pnpm bench:reconnect [n ...]     (default 21 1000; ROUNDS=5)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { PeerProcess, untilMeshed } from '../tests/peer/peer-process.ts'
import { peerArgs, type ScenarioRelay, startRelay, until } from '../tests/peer/scenario.ts'
import { median } from './cli.ts'

useNodeCrypto()
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0)
const NS = sizes.length ? sizes : [21, 1000]
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const CH = 'general'
/** Held by B before it goes down. */
const BEFORE = 3

type Case = 'peer after login' | 'peer at login'
interface Reached {
  at: number
  loginAt: number
  firstPeerAt: number
}
interface Sample {
  /** From A's first appearance on B's links to B converged. */
  fromAppearance: number
  /** From A's `online` call (peer after login) or B's relay login (peer at login). */
  fromStart: number
}

const messages = (p: PeerProcess) => p.call<string[]>('ids', { channel: CH, kind: 'message' })

async function round(relay: ScenarioRelay, n: number, which: Case): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'peerchat-reconnect-'))
  const base = peerArgs(relay)
  const bArgs = { ...base, storeDir: join(dir, 'b'), secret: (await Identity.generate()).export() }
  const a = new PeerProcess('A')
  const b = new PeerProcess('B')
  let b2: PeerProcess | undefined
  try {
    await Promise.all([a.call('start', { args: base }), b.call('start', { args: bArgs })])
    await untilMeshed([a, b], 1)
    await a.call('post', { channel: CH, n: BEFORE, prefix: 'before ' })
    await until(async () => (await messages(b)).length === BEFORE, 'the live events to reach B')
    b.kill()
    await a.call('post', { channel: CH, n, prefix: 'while B was down ' })
    const total = BEFORE + n
    b2 = new PeerProcess('B restarted')
    const watch = () => b2!.call<Reached>('reach', { channel: CH, count: total, kind: 'message' })
    if (which === 'peer after login') {
      await a.call('offline')
      await b2.call('start', { args: bArgs, wait: 'mesh' })
      const reached = watch()
      const t0 = Date.now()
      await a.call('online', { wait: 'none' })
      const r = await reached
      return { fromAppearance: r.at - r.firstPeerAt, fromStart: r.at - t0 }
    }
    // Not waiting for the login: the watch must be in place before B can converge.
    await b2.call('start', { args: bArgs, wait: 'none' })
    const r = await watch()
    return { fromAppearance: r.at - r.firstPeerAt, fromStart: r.at - r.loginAt }
  } finally {
    for (const p of [a, b, b2]) p?.kill()
    rmSync(dir, { recursive: true, force: true })
  }
}

const relay = await startRelay()
const rows: string[] = []
const load: string[] = [loadavg()[0]!.toFixed(2)]
try {
  for (const n of NS) {
    const samples: Record<Case, Sample[]> = { 'peer after login': [], 'peer at login': [] }
    for (let i = 0; i < ROUNDS; i++)
      for (const which of Object.keys(samples) as Case[]) {
        const s = await round(relay, n, which)
        samples[which].push(s)
        console.log(
          `n=${n} ${which} #${i + 1}: ${s.fromAppearance} ms from A's appearance, ${s.fromStart} ms from start`,
        )
      }
    load.push(loadavg()[0]!.toFixed(2))
    for (const [which, xs] of Object.entries(samples)) {
      const appear = xs.map((x) => x.fromAppearance)
      const start = xs.map((x) => x.fromStart)
      const since = which === 'peer after login' ? "A's online call" : "B's relay login"
      rows.push(
        `| ${n} | ${which} | ${median(appear)} | ${Math.max(...appear)} | ${median(start)} (${since}) | ${Math.max(...start)} |`,
      )
    }
  }
} finally {
  await relay.stop()
}
console.log(`\nload average (1 min) at the start and after each size: ${load.join(', ')}`)
console.log(
  `\n| events missed | case | median ms from A's appearance | max | median ms from | max |  (${ROUNDS} rounds)`,
)
console.log('| ---: | --- | ---: | ---: | --- | ---: |')
for (const r of rows) console.log(r)
process.exit(0)
