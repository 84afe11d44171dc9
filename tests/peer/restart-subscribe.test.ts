/**
 * Issue #11: a replica restarted while events keep coming loses nothing and delivers nothing
 * twice. In-process, against the real relay process: R keeps a channel in a FileStore with
 * `STORED` events of earlier days; a poster (another Replica) writes every `POST_EVERY_MS`.
 * R is stopped (its store closed) and reopened while the poster goes on; the reopened R joins
 * the relay FIRST, so live events stream in while `subscribe` replays the store. The
 * subscriber must then see every event exactly once (replay + live + what R caught up from the
 * poster for the time it was down), and R's store must hold every event written.
 *
 * The FileStore reads synchronously, so by itself the replay would leave live events no moment
 * to land in. The reopened store is therefore seen through `overlapping`: its replay read waits
 * for `OVERLAP` live events to be stored just before it reads and `OVERLAP` more just after (as
 * an asynchronous store, IndexedDB say, lets happen), the two ways a replay and a subscription
 * can miss each other.
 *
 * Why this fails before 4b2ba52: there was no replay-and-subscribe step. An application read
 * the store (`log.range`) and registered `onAdded` as two calls; live events stored between
 * them reached neither (replay-then-subscribe lost 3 events on restart in the issue), and the
 * other order delivered them twice. Nor did a restarted replica catch up what it missed unless
 * the application asked (see reconnect-catchup.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Identity,
  MemoryStore,
  Replica,
  type StampedEvent,
  type Store,
  type Ulid,
  utf8,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { signedPool, toStored } from '@peerchat/engine/testing'
import { type Connection, connectReplica } from '@peerchat/transports/connect'
import { FileStore } from '@peerchat/virtual-client'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { type ScenarioRelay, sleep, startRelay, until } from './scenario.ts'

useNodeCrypto()
const CH = 'general'
/** Stored before the test, outside the sync window: the replay's bulk. */
const STORED = 10_000
const DAY = 24 * 3600_000
const POST_EVERY_MS = 10
/** Live events R receives before it is stopped, and how long it stays down. */
const LIVE_BEFORE_RESTART = 30
const DOWN_MS = 500
/** How long the poster goes on after R came back. */
const POST_AFTER_MS = 1_500
/** Live events stored just before, and just after, the replay's read. */
const OVERLAP = 3

/**
 * `store` whose next full-range read (the replay) runs between `gate()`s: events stored before
 * it are both replayed and seen live (a subscription registered first would deliver them
 * twice), events stored after it only live (one registered after the replay would miss them).
 */
function overlapping(store: Store, gate: () => Promise<void>): Store & { arm(): void } {
  let armed = false
  return new Proxy(store as Store & { arm(): void }, {
    get(target, key) {
      if (key === 'arm')
        return () => {
          armed = true
        }
      if (key === 'getRange')
        return async (...args: Parameters<Store['getRange']>) => {
          const replay = armed && Object.keys(args[1]).length === 0 && args[2] === undefined
          if (replay) armed = false
          if (replay) await gate()
          const out = await target.getRange(...args)
          if (replay) await gate()
          return out
        }
      const value = Reflect.get(target, key)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

const dir = mkdtempSync(join(tmpdir(), 'peerchat-restart-'))
let relay: ScenarioRelay | undefined
const cleanup: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
  await relay?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('restart while events keep coming', () => {
  it('subscribe delivers every event exactly once (replay + live + catch-up), and none is lost', {
    timeout: 180_000,
  }, async () => {
    const relayId = await Identity.generate()
    relay = await startRelay({ env: { PEERCHAT_RELAY_KEY: relayId.export() } })
    const relayKeys = [relayId.publicKey]
    const link = (replica: Replica, identity: Identity): Connection =>
      connectReplica(replica, {
        relayUrl: relay!.url,
        relayKey: relayId.publicKey,
        identity,
        webrtc: false, // peers through the relay's forwarded channel: no WebRTC in the test process
        WebSocket: WebSocket as never,
      })

    // R's history of earlier days, then R online.
    const storeDir = join(dir, 'r')
    const seed = await FileStore.open({ dir: storeDir })
    const authors = await Promise.all(Array.from({ length: 4 }, () => Identity.generate()))
    const old = await signedPool({
      channel: CH,
      relay: relayId,
      authors,
      count: STORED,
      start: Date.now() - 3 * DAY,
    })
    await seed.putMany(CH, old.map(toStored))
    await seed.close()
    const rIdentity = await Identity.generate()
    let store = await FileStore.open({ dir: storeDir })
    let r = await Replica.open({ store, relayKeys })
    let rLink = link(r, rIdentity)
    cleanup.push(() => rLink.stop())

    // The poster writes on until told to stop.
    const posterIdentity = await Identity.generate()
    const poster = await Replica.open({ store: new MemoryStore(), relayKeys, signer: posterIdentity })
    poster.open(CH)
    const posterLink = link(poster, posterIdentity)
    cleanup.push(() => posterLink.stop())
    const stamped: Promise<StampedEvent>[] = []
    let posting = true
    const writes = (async () => {
      for (let i = 0; posting; i++) {
        stamped.push(poster.write(CH, 'message', utf8(`m${i}`)).then((w) => poster.stamped(w)))
        await sleep(POST_EVERY_MS)
      }
    })()

    const first = new Set<Ulid>()
    await r.subscribe(CH, (c) => {
      for (const e of c.added) first.add(e.id)
    })
    await until(() => first.size >= STORED + LIVE_BEFORE_RESTART, 'R to receive live events')

    // Restart: stop, close the store, stay down a while, reopen; the relay first, then subscribe.
    await rLink.stop()
    await r.stop()
    await store.close()
    await sleep(DOWN_MS)
    store = await FileStore.open({ dir: storeDir })
    let stored = 0
    const gated = overlapping(store, async () => {
      const from = stored
      await until(() => stored >= from + OVERLAP, `${OVERLAP} live events stored during the replay`)
    })
    r = await Replica.open({ store: gated, relayKeys })
    const offCount = r.open(CH).onAdded((added) => {
      stored += added.length
    })
    rLink = link(r, rIdentity)
    const delivered = new Map<Ulid, number>()
    const held = new Set<Ulid>()
    gated.arm()
    await r.subscribe(CH, (c) => {
      for (const e of c.added) {
        delivered.set(e.id, (delivered.get(e.id) ?? 0) + 1)
        held.add(e.id)
      }
      for (const id of c.replaced) held.delete(id)
    })
    offCount()
    const duringReplay = stored // at least 2 x OVERLAP, by the gates
    await sleep(POST_AFTER_MS)
    posting = false
    await writes
    const sent = (await Promise.all(stamped)).map((e) => e.id)

    // Everything written reaches R: live, or from the poster for the time R was down.
    const want = [...old.map((e) => e.id), ...sent].sort()
    const storedIds = async () => (await r.open(CH).range({})).map((e) => e.id)
    await until(async () => (await storedIds()).length >= want.length, `R to hold all ${want.length} events`)
    await r.settled()
    console.log(
      `restart-subscribe: ${sent.length} posted, ${duringReplay} stored by R while subscribe replayed its ${STORED + LIVE_BEFORE_RESTART}+ events`,
    )
    expect(await storedIds()).toEqual(want)
    expect([...held].sort()).toEqual(want)
    expect([...delivered].filter(([, n]) => n > 1)).toEqual([]) // nothing twice
    await rLink.stop()
    await r.stop()
    await store.close()
    await posterLink.stop()
    await poster.stop()
  })
})
