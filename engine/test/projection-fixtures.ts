/**
 * Shared fixtures for the projection and document tests: deterministic identities, a relay
 * that really signs (node:crypto), and a seeded delivery schedule (permutation, duplication
 * and batching) for convergence properties.
 */
import { toHex } from '../src/bytes.ts'
import { Role, type Roles } from '../src/chat/roles.ts'
import { type StampedEvent, signRequest, stamp } from '../src/event.ts'
import { Identity } from '../src/identity/keys.ts'
import { useNodeCrypto } from '../src/node/index.ts'
import { seededUniform } from '../src/random.ts'
import { monotonicUlid } from '../src/ulid.ts'

useNodeCrypto()

export const CHANNEL = 'general'

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n)

/** A relay plus `n` users; user 0 is a moderator for the whole test. */
export async function cast(n = 4): Promise<{ relay: Identity; users: Identity[] }> {
  const relay = await Identity.fromSeed(seed(200))
  const users = await Promise.all(Array.from({ length: n }, (_, i) => Identity.fromSeed(seed(i + 1))))
  return { relay, users }
}

/** Roles where only `moderator` moderates (pure: ignores time). */
export function moderatorRoles(moderator: Identity): Roles {
  const key = moderator.publicKey
  const mod = new Set([Role.moderator])
  const none = new Set<string>()
  return (k) => (k.length === key.length && k.every((b, i) => b === key[i]) ? mod : none)
}

/** Stamps events with strictly increasing ULIDs on a fake clock, as a relay would. */
export function stamper(relay: Identity, start = 1_700_000_000_000) {
  let now = start
  let nonce = 0
  const nextId = monotonicUlid(
    () => now,
    (n) => new Uint8Array(n).fill(7),
  )
  const send = async (
    user: Identity,
    kind: string,
    body: Uint8Array,
    channel = CHANNEL,
  ): Promise<StampedEvent> => {
    now += 1 + (nonce % 3)
    const clientNonce = new Uint8Array(16)
    new DataView(clientNonce.buffer).setUint32(12, ++nonce)
    const req = await signRequest(user, { channel, kind, clientNonce, body })
    return stamp(relay, nextId(), req)
  }
  /** A retried send stamped twice: same signed request (author, clientNonce), a later id. */
  const restamp = (ev: StampedEvent): Promise<StampedEvent> => {
    now += 1
    return stamp(relay, nextId(), ev)
  }
  return Object.assign(send, { restamp })
}

/** The log's dedup key: one event per (author, clientNonce). */
export const nonceKey = (ev: StampedEvent): string => toHex(ev.author) + toHex(ev.clientNonce)

/** The engine's seeded PRNG as `() => number`, so schedules reproduce from fast-check's seed. */
export const prng = (seedValue: number): (() => number) => seededUniform(seedValue >>> 0)

/**
 * One replica's delivery schedule: the events shuffled, about a fifth delivered twice, cut
 * into batches of random sizes. Every event arrives at least once.
 */
export function schedule<T>(events: readonly T[], seedValue: number): T[][] {
  const rnd = prng(seedValue)
  const all = [...events]
  for (const e of events) if (rnd() < 0.2) all.push(e)
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[all[i], all[j]] = [all[j]!, all[i]!]
  }
  const batches: T[][] = []
  for (let i = 0; i < all.length; ) {
    const size = 1 + Math.floor(rnd() * 6)
    batches.push(all.slice(i, i + size))
    i += size
  }
  return batches
}
