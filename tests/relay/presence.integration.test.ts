/**
 * Presence that scales (issue #13) through the real relay process: 300 sockets join one channel at
 * once with `presenceHead=100`. Each member gets at most one PresenceTick per tick interval, every
 * snapshot and the ticks after it add up to the same head of 100, a newcomer's snapshot holds the
 * head and itself, pages return every member exactly once, and a find returns a member outside the
 * head. No assertion depends on timing: the tick bound is checked against the time each client saw.
 */
import { decodeSession, Identity, toHex } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TestClient } from './client.ts'
import { type RelayProcess, spawnRelay } from './relay-process.ts'

useNodeCrypto()

const N = 300
const HEAD = 100
const TICK_MS = 200

let relay: RelayProcess
const clients: TestClient[] = []

beforeAll(async () => {
  relay = await spawnRelay([
    '--channel',
    'general',
    ...[
      'presenceHead=100',
      `presenceTickMs=${TICK_MS}`,
      'socketsPerAddress=1000',
      'unauthenticatedPerAddress=1000',
    ]
      .concat(['framesPerSecondPerAddress=Infinity', 'frameBurstPerAddress=100000'])
      .flatMap((l) => ['--limit', l]),
  ])
  for (let i = 0; i < N; i += 50)
    clients.push(
      ...(await Promise.all(Array.from({ length: Math.min(50, N - i) }, () => TestClient.login(relay.url)))),
    )
}, 120_000)

afterAll(async () => {
  for (const c of clients) c.close()
  expect(await relay.stop()).toBe(0)
})

const hex = (b: Uint8Array) => toHex(b)
const sessionOf = (attestation: Uint8Array) => hex(decodeSession(attestation).value.sessionId)

describe('presence at scale (real relay)', () => {
  it('a storm of 300 joins: one tick per interval at most, every member ends with the same head of 100 and the count', async () => {
    const start = Date.now()
    for (const c of clients) c.send({ type: 'join', channel: 'general' })
    /** Per client: the head it holds (snapshot then ticks), the count, ticks seen and the last tick's time. */
    const held = clients.map(() => ({ head: null as Set<string> | null, count: 0, ticks: 0, last: start }))
    const settled = () => held.every((h) => h.head !== null && h.count === N)
    const deadline = Date.now() + 60_000
    while (!settled()) {
      if (Date.now() > deadline)
        throw new Error(`not settled: ${held.filter((h) => h.count !== N).length} behind`)
      for (const [i, c] of clients.entries()) {
        const h = held[i]!
        for (const f of c.frames.splice(0)) {
          if (f.type === 'presenceSnapshot') {
            expect(h.head).toBeNull() // one snapshot per join
            h.head = new Set(f.attestations.map(sessionOf))
            h.count = f.count
          } else if (f.type === 'presenceTick') {
            h.ticks++
            h.last = Date.now()
            if (!h.head) continue
            for (const id of f.left) h.head.delete(hex(id))
            for (const a of f.entered) h.head.add(sessionOf(a))
            h.count = f.count
          }
        }
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    // The head as the relay has it now: the first page of HEAD members.
    const asker = clients[0]!
    asker.send({ type: 'presenceQuery', q: 1, channel: 'general', after: null, limit: HEAD })
    const truth = new Set((await asker.next('presencePage')).attestations.map(sessionOf))
    expect(truth.size).toBe(HEAD)
    for (const [i, h] of held.entries()) {
      // A member outside the head holds itself too (its snapshot adds it): compare without it.
      const own = hex(clients[i]!.session!.value.sessionId)
      const mine = new Set(h.head!)
      if (!truth.has(own)) mine.delete(own)
      expect(mine).toEqual(truth)
    }
    // At most one tick per interval: the relay's ticks of a channel are TICK_MS apart on its clock,
    // within the span each client observed (from the first join sent to its last tick).
    for (const h of held) expect(h.ticks).toBeLessThanOrEqual(Math.floor((h.last - start) / TICK_MS) + 1)
    // And far below one frame per join (the protocol before issue 13 sent each early member ~N).
    expect(Math.max(...held.map((h) => h.ticks))).toBeLessThan(N / 3)
  }, 120_000)

  it('a newcomer gets the head and itself; pages give every member once; find reaches beyond the head', async () => {
    const late = await TestClient.login(relay.url, await Identity.generate())
    clients.push(late)
    late.send({ type: 'join', channel: 'general' })
    const snap = await late.next('presenceSnapshot', 10_000)
    expect(snap.count).toBe(N + 1)
    expect(snap.attestations).toHaveLength(HEAD + 1)
    const own = hex(late.session!.value.sessionId)
    expect(sessionOf(snap.attestations.at(-1)!)).toBe(own)

    const seen: string[] = []
    let after: Uint8Array | null = null
    for (let q = 1; ; q++) {
      late.send({ type: 'presenceQuery', q, channel: 'general', after, limit: 128 })
      const page = await late.next('presencePage')
      expect(page.q).toBe(q)
      seen.push(...page.attestations.map(sessionOf))
      if (!page.next) break
      after = page.next
    }
    const everyone = clients.map((c) => hex(c.session!.value.sessionId))
    expect(seen).toHaveLength(everyone.length)
    expect(new Set(seen)).toEqual(new Set(everyone))
    // The first page of HEAD members is the head the snapshot gave.
    expect(seen.slice(0, HEAD)).toEqual(snap.attestations.slice(0, HEAD).map(sessionOf))

    // A member outside the head, by key.
    const outsider = clients.find((c) => !seen.slice(0, HEAD).includes(hex(c.session!.value.sessionId)))!
    late.send({ type: 'presenceFind', q: 99, channel: 'general', keys: [outsider.session!.value.publicKey] })
    const found = await late.next('presencePage')
    expect(found).toMatchObject({ q: 99, count: N + 1, next: null })
    expect(found.attestations.map(sessionOf)).toEqual([hex(outsider.session!.value.sessionId)])
  }, 60_000)
})
