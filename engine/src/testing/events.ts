/**
 * Deterministic event fixtures for store, log and reconciliation tests and benchmarks.
 * Deterministic so that a fast-check seed reproduces the same events.
 */
import { CheckpointWindow, DEFAULT_CHECKPOINT_EVERY, stampCheckpoint, ulidAfter } from '../checkpoint.ts'
import { eventDigest, type StampedEvent, signRequest, stamp } from '../event.ts'
import type { Signer } from '../identity/keys.ts'
import type { StoredEvent } from '../store/store.ts'
import { type Ulid, ulidFromBytes, ulidTime } from '../ulid.ts'

/** A ULID at `ms` whose random part is a counter, so ids are unique and reproducible. */
export function fixtureUlid(ms: number, n: number): Ulid {
  const b = new Uint8Array(16)
  let t = ms
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256
    t = Math.floor(t / 256)
  }
  new DataView(b.buffer).setUint32(12, n >>> 0)
  b[6] = (n * 37) & 0xff
  return ulidFromBytes(b)
}

/**
 * Well-formed but unsigned events (zero signatures): enough for a store, which never
 * verifies. `i` picks a distinct id; ids increase with `i`.
 */
export function fakeStoredEvent(channel: string, i: number, start = 1_700_000_000_000): StoredEvent {
  const id = fixtureUlid(start + i * 1000, i)
  const body = new TextEncoder().encode(`event ${i}`)
  const clientNonce = new Uint8Array(16)
  new DataView(clientNonce.buffer).setUint32(0, i >>> 0)
  const event: StampedEvent = {
    id,
    ts: ulidTime(id),
    channel,
    kind: 'message',
    author: new Uint8Array(32).fill(1),
    clientNonce,
    body,
    authorSig: new Uint8Array(64),
    relaySig: new Uint8Array(64),
  }
  return { event, digest: eventDigest(event) }
}

export interface PoolOptions {
  channel: string
  relay: Signer
  authors: readonly Signer[]
  count: number
  /** Time of the first event (ms); events are `stepMs` apart. */
  start?: number
  stepMs?: number
  bodyBytes?: number
  /**
   * Index of the first event (default 0): it seeds each event's clientNonce, so pools made in
   * batches must pass it or their (author, clientNonce) pairs repeat and a log keeps one of each.
   */
  first?: number
}

/** `count` really signed and stamped events, ids ascending. Sign once per test file and reuse. */
export async function signedPool(opts: PoolOptions): Promise<StampedEvent[]> {
  const { channel, relay, authors, count } = opts
  const start = opts.start ?? 1_700_000_000_000
  const step = opts.stepMs ?? 1000
  const out: StampedEvent[] = []
  const CHUNK = 256
  for (let from = 0; from < count; from += CHUNK) {
    const batch = Array.from({ length: Math.min(CHUNK, count - from) }, async (_, k) => {
      const i = from + k
      const clientNonce = new Uint8Array(16)
      new DataView(clientNonce.buffer).setUint32(0, (i + (opts.first ?? 0)) >>> 0)
      const body = new Uint8Array(opts.bodyBytes ?? 24).fill(i & 0xff)
      const req = await signRequest(authors[i % authors.length]!, {
        channel,
        kind: 'message',
        clientNonce,
        body,
      })
      return stamp(relay, fixtureUlid(start + i * step, i), req)
    })
    out.push(...(await Promise.all(batch)))
  }
  return out
}

export const toStored = (event: StampedEvent): StoredEvent => ({ event, digest: eventDigest(event) })

/**
 * `events` (ids ascending) with the relay's checkpoints inserted as a relay would issue them:
 * after every `every` stamps (a checkpoint event is itself a stamp of the next window), and
 * one for the remainder at the end. A checkpoint's id is its window's last id + 1.
 */
export async function withCheckpoints(
  events: readonly StampedEvent[],
  relay: Signer,
  every = DEFAULT_CHECKPOINT_EVERY,
): Promise<StampedEvent[]> {
  const out: StampedEvent[] = []
  const window = new CheckpointWindow()
  const flush = () => {
    const cp = window.close()
    if (!cp) return undefined
    const channel = events[0]!.channel
    return stampCheckpoint(relay, ulidAfter(cp.last), channel, cp)
  }
  for (const e of events) {
    out.push(e)
    window.add(e.id, eventDigest(e))
    if (window.count >= every) {
      const cpEvent = await flush()!
      out.push(cpEvent)
      window.add(cpEvent.id, eventDigest(cpEvent))
    }
  }
  const last = flush()
  if (last) out.push(await last)
  return out
}
