/**
 * Catch-up over real WebRTC between two Node peer processes (relay for signaling only):
 * B holds n stamped events, a fresh C reconciles them from B. Reports verified events/s and
 * bytes on the wire vs the events' own bytes, with full verification (relay + author
 * signatures) and relay-only verification (the relay checked authors when it stamped).
 * Baseline in the same run: the same events added to a ChannelLog in-process (the verify
 * and store ceiling with no network), so the ratio shows what the network path costs.
 *
 *   pnpm bench:catchup [n ...]     (default 10000 100000)
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ChannelLog, Identity, MemoryStore } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { signedPool } from '@peerchat/engine/testing'
import { PeerProcess } from '../tests/peer/peer-process.ts'
import { spawnRelay } from '../tests/relay/relay-process.ts'

useNodeCrypto()
const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0)
const NS = sizes.length ? sizes : [10_000, 100_000]
const LIMITS = [
  'signalsPerSecondPerKey=100000',
  'signalBurstPerKey=100000',
  'unauthenticatedPerAddress=1000',
].flatMap((l) => ['--limit', l])

async function localCeiling(n: number, relay: Identity, verifyAuthors: boolean): Promise<number> {
  const authors = await Promise.all(Array.from({ length: 8 }, () => Identity.generate()))
  const events = await signedPool({
    channel: 'general',
    relay,
    authors,
    count: Math.min(n, 20_000),
    start: Date.now() - n,
    stepMs: 1,
  })
  const log = new ChannelLog({
    channel: 'general',
    store: new MemoryStore(),
    relayKeys: [relay.publicKey],
    verifyAuthors,
  })
  const t0 = performance.now()
  for (let i = 0; i < events.length; i += 1000) await log.add(events.slice(i, i + 1000))
  return events.length / ((performance.now() - t0) / 1000)
}

const until = async (cond: () => Promise<boolean>, what: string) => {
  const end = Date.now() + 60_000
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const relayId = await Identity.generate()
const relay = await spawnRelay(
  ['--data-dir', mkdtempSync(join(tmpdir(), 'peerchat-bench-')), '--quiet', ...LIMITS],
  {
    PEERCHAT_RELAY_KEY: relayId.export(),
  },
)
const base = {
  relayUrl: relay.url,
  relayKey: relay.relayKey,
  channels: ['general'],
  room: 'community',
  kind: 'client',
  webrtc: true,
  catchUpSince: 0,
}
const rows: string[] = []
try {
  for (const n of NS) {
    const b = new PeerProcess('B')
    await b.call('start', { args: base })
    process.stdout.write(`n=${n}: signing events in B ... `)
    const eventBytes = await b.call<number>('generate', {
      channel: 'general',
      n,
      relaySecret: relayId.export(),
    })
    console.log('done')
    for (const verifyAuthors of [true, false]) {
      const c = new PeerProcess('C')
      await c.call('start', { args: { ...base, verifyAuthors } })
      await until(async () => (await c.call<number>('meshPeers')) === 1, 'C meshed with B')
      const t0 = performance.now()
      const r = await c.call<{
        added: number
        bytesIn: number
        bytesOut: number
        rounds: number
        complete: boolean
      }>('sync', { channel: 'general' })
      const secs = (performance.now() - t0) / 1000
      if (!r.complete || r.added !== n) throw new Error(`catch-up incomplete: ${JSON.stringify(r)}`)
      const ceiling = await localCeiling(n, relayId, verifyAuthors)
      const rate = n / secs
      const wire = (r.bytesIn + r.bytesOut) / eventBytes
      const mode = verifyAuthors ? 'relay + author sigs' : 'relay sig only'
      rows.push(
        `| ${n.toLocaleString('en')} | ${mode} | ${secs.toFixed(2)} | ${Math.round(rate).toLocaleString('en')} | ${Math.round(ceiling).toLocaleString('en')} | ${(rate / ceiling).toFixed(2)} | ${wire.toFixed(3)} | ${r.rounds} |`,
      )
      console.log(rows[rows.length - 1])
      c.kill()
    }
    b.kill()
  }
} finally {
  await relay.stop()
}
console.log(
  '\n| events | verification | seconds | verified events/s | in-process ceiling/s | ratio | wire bytes / event bytes | frames in |',
)
console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const r of rows) console.log(r)
process.exit(0)
