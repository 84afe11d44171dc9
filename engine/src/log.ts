/**
 * ChannelLog: the grow-only set of one channel's stamped events, behind a `Store`.
 *
 * Every event is checked before it is stored (shape, channel, relay stamp, author
 * signature); an invalid one is rejected with a reason and never stored. Signatures are
 * verified in parallel chunks since native verification is asynchronous.
 *
 * Dedup rule (convergent): at most one event per (author, clientNonce). When two verified
 * events share a pair, the one with the smaller ULID stays, whatever the arrival order, so
 * every replica that has seen the same events holds the same set.
 * One ChannelLog should own a (store, channel) pair: it keeps an in-memory nonce index.
 */
import { concatBytes, equalBytes } from './bytes.ts'
import { DecodeError } from './errors.ts'
import type { StampedEvent } from './event.ts'
import {
  decodeEvent,
  encodeAuthored,
  eventDigest,
  isValidChannel,
  isValidKind,
  Limits,
  sameContent,
} from './event.ts'
import type { Ed25519Backend } from './identity/backend.ts'
import { Domain } from './identity/domains.ts'
import { verifySignature } from './identity/verify.ts'
import type { Fingerprint, GetRangeOptions, IdRange, Store, StoredEvent } from './store/store.ts'
import { parseUlid, type Ulid, ulidTime, ulidToBytes } from './ulid.ts'

export const RejectReason = {
  /** The relay signature does not verify under any trusted relay key. */
  badRelaySig: 'badRelaySig',
  /** The author signature does not verify (checked when `verifyAuthors`). */
  badAuthorSig: 'badAuthorSig',
  /** The event names another channel. */
  channelMismatch: 'channelMismatch',
  /** Wrong field types or lengths, an invalid id, kind or channel name, or `ts` not the id's time. */
  malformed: 'malformed',
  /** Another event with the same (author, clientNonce) and a different content has the smaller id. */
  duplicateNonce: 'duplicateNonce',
  /** The body exceeds `Limits.body`. */
  tooLarge: 'tooLarge',
  /**
   * A validly stamped event whose id is held with other content: the relay equivocated. The
   * first one seen stays; the pair of stamps is proof of the relay's misbehaviour.
   */
  idConflict: 'idConflict',
} as const
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason]

export interface Rejection {
  id?: string
  reason: RejectReason
  detail?: string
}

export interface AddResult {
  /** Newly stored events, in ULID order. */
  added: StampedEvent[]
  rejected: Rejection[]
  /** Exact copies of held events, or same-content copies of a held (author, clientNonce). */
  duplicates: number
  /** Ids removed because an event with the same (author, clientNonce) and a smaller id arrived. */
  replaced: Ulid[]
}

export interface ChannelLogOptions {
  channel: string
  store: Store
  /** Relay keys whose stamps are accepted. */
  relayKeys: Uint8Array[]
  /** Verify author signatures too (default true). */
  verifyAuthors?: boolean
  /** Ed25519 backend (default: the engine's default backend). */
  backend?: Ed25519Backend
}

/** Signature checks in flight at once: enough to keep native verification's thread pool busy. */
export const VERIFY_CHUNK = 512
/** Page size when the nonce index is rebuilt from the store. */
const INDEX_PAGE = 4096

type Listener = (events: StampedEvent[]) => void

export class ChannelLog {
  readonly channel: string
  readonly store: Store
  private readonly relayKeys: Uint8Array[]
  private readonly verifyAuthors: boolean
  private readonly backend: Ed25519Backend | undefined
  private readonly listeners = new Set<Listener>()
  /** hash(author, clientNonce) -> ids of the events kept under that hash; built on first use. */
  private nonces: Map<number, Ulid[]> | undefined
  /** Serialises the check-then-write part of `add`. */
  private tail: Promise<unknown> = Promise.resolve()

  constructor(opts: ChannelLogOptions) {
    if (!isValidChannel(opts.channel))
      throw new RangeError(`invalid channel name ${JSON.stringify(opts.channel)}`)
    this.channel = opts.channel
    this.store = opts.store
    this.relayKeys = [...opts.relayKeys]
    this.verifyAuthors = opts.verifyAuthors ?? true
    this.backend = opts.backend
  }

  async add(events: readonly StampedEvent[]): Promise<AddResult> {
    const result: AddResult = { added: [], rejected: [], duplicates: 0, replaced: [] }
    const candidates: StampedEvent[] = []
    for (const e of events) {
      const problem = this.checkShape(e)
      if (problem) result.rejected.push({ id: idOf(e), ...problem })
      else candidates.push(e)
    }
    // Re-deliveries are common (gossip, sync): an exact copy of a held event is not verified again.
    const fresh: StampedEvent[] = []
    for (const e of candidates) {
      const held = await this.load(e.id)
      if (held && sameEvent(held, e)) result.duplicates++
      else fresh.push(e)
    }
    const verified = await this.verifyAll(fresh, result)
    const run = this.tail.then(() =>
      this.admit(verified, result).catch((err) => {
        // The store failed mid-write: the nonce index may be ahead of it, so rebuild it next time.
        this.nonces = undefined
        throw err
      }),
    )
    this.tail = run.catch(() => {})
    await run
    if (result.added.length > 0) this.notify(result.added)
    return result
  }

  /** Decodes and adds; bytes that do not decode are rejected as `malformed`. */
  async addEncoded(frames: readonly Uint8Array[]): Promise<AddResult> {
    const events: StampedEvent[] = []
    const malformed: Rejection[] = []
    for (const frame of frames) {
      try {
        events.push(decodeEvent(frame))
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e
        malformed.push({ reason: RejectReason.malformed, detail: e.message })
      }
    }
    const result = await this.add(events)
    result.rejected.unshift(...malformed)
    return result
  }

  async range(range: IdRange, opts?: GetRangeOptions): Promise<StampedEvent[]> {
    return (await this.store.getRange(this.channel, range, opts)).map((s) => s.event)
  }

  count(range?: IdRange): Promise<number> {
    return this.store.count(this.channel, range)
  }

  fingerprint(range: IdRange): Promise<Fingerprint> {
    return this.store.fingerprint(this.channel, range)
  }

  /** Called with each batch of newly stored events; returns the unsubscribe function. */
  onAdded(listener: Listener): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  private checkShape(e: StampedEvent): { reason: RejectReason; detail: string } | undefined {
    try {
      if (typeof e !== 'object' || e === null) return malformed('not an event object')
      parseUlid(e.id)
      if (e.ts !== ulidTime(e.id)) return malformed('ts is not the time of id')
      if (typeof e.channel !== 'string' || !isValidChannel(e.channel))
        return malformed('invalid channel name')
      if (e.channel !== this.channel)
        return { reason: RejectReason.channelMismatch, detail: `event of channel ${e.channel}` }
      if (typeof e.kind !== 'string' || !isValidKind(e.kind)) return malformed('invalid kind')
      if (!isBytes(e.author, 32) || !isBytes(e.clientNonce, 16)) return malformed('bad author or clientNonce')
      if (!isBytes(e.authorSig, 64) || !isBytes(e.relaySig, 64)) return malformed('bad signature length')
      if (!(e.body instanceof Uint8Array)) return malformed('body is not bytes')
      if (e.body.length > Limits.body)
        return { reason: RejectReason.tooLarge, detail: `body of ${e.body.length} bytes > ${Limits.body}` }
      return undefined
    } catch (err) {
      return malformed((err as Error).message)
    }
  }

  private async verifyAll(events: StampedEvent[], result: AddResult): Promise<StampedEvent[]> {
    const ok: StampedEvent[] = []
    for (let i = 0; i < events.length; i += VERIFY_CHUNK) {
      const chunk = events.slice(i, i + VERIFY_CHUNK)
      const verdicts = await Promise.all(chunk.map((e) => this.verify(e)))
      chunk.forEach((e, j) => {
        const reason = verdicts[j]
        if (reason) result.rejected.push({ id: e.id, reason })
        else ok.push(e)
      })
    }
    return ok
  }

  private async verify(e: StampedEvent): Promise<RejectReason | undefined> {
    const authored = encodeAuthored(e)
    const stamp = concatBytes(ulidToBytes(e.id), authored, e.authorSig)
    const [relayOk, authorOk] = await Promise.all([
      this.verifyRelay(stamp, e.relaySig),
      this.verifyAuthors
        ? verifySignature(Domain.event, e.author, authored, e.authorSig, this.backend)
        : Promise.resolve(true),
    ])
    if (!relayOk) return RejectReason.badRelaySig
    if (!authorOk) return RejectReason.badAuthorSig
    return undefined
  }

  private async verifyRelay(payload: Uint8Array, sig: Uint8Array): Promise<boolean> {
    for (const key of this.relayKeys)
      if (await verifySignature(Domain.stamp, key, payload, sig, this.backend)) return true
    return false
  }

  /** The check-then-write step, run one at a time. */
  private async admit(events: StampedEvent[], result: AddResult): Promise<void> {
    const nonces = await this.nonceIndex()
    const batch = new Map<Ulid, StampedEvent>()
    const removed: Ulid[] = []
    events.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    for (const e of events) {
      const sameId = batch.get(e.id) ?? (await this.load(e.id))
      if (sameId) {
        if (sameEvent(sameId, e)) result.duplicates++
        else
          result.rejected.push({
            id: e.id,
            reason: RejectReason.idConflict,
            detail: 'the relay stamped two different events with this id (both stamps verify)',
          })
        continue
      }
      const key = nonceKey(e)
      const held = await this.findHeld(nonces.get(key), e, batch)
      if (!held) {
        // No event for this pair yet (or the index pointed at one since deleted).
        batch.set(e.id, e)
        addId(nonces, key, e.id)
      } else if (held.id < e.id) {
        this.countLoser(held, e, result)
      } else {
        if (!batch.delete(held.id)) removed.push(held.id)
        batch.set(e.id, e)
        removeId(nonces, key, held.id)
        addId(nonces, key, e.id)
        this.countLoser(e, held, result)
      }
    }
    const items: StoredEvent[] = [...batch.values()].map((event) => ({ event, digest: eventDigest(event) }))
    // Write before deleting: a crash in between leaves both, which the index rebuild resolves.
    await this.store.putMany(this.channel, items)
    if (removed.length > 0) await this.store.deleteMany(this.channel, removed)
    result.added.push(...batch.values())
    result.replaced.push(...removed)
  }

  private countLoser(winner: StampedEvent, loser: StampedEvent, result: AddResult): void {
    if (sameContent(winner, loser)) result.duplicates++
    else
      result.rejected.push({
        id: loser.id,
        reason: RejectReason.duplicateNonce,
        detail: `(author, clientNonce) is held by ${winner.id}`,
      })
  }

  /** The event kept for e's (author, clientNonce), among the ids whose key hash matches. */
  private async findHeld(
    candidates: Ulid[] | undefined,
    e: StampedEvent,
    batch: Map<Ulid, StampedEvent>,
  ): Promise<StampedEvent | undefined> {
    for (const id of candidates ?? []) {
      const held = batch.get(id) ?? (await this.load(id))
      if (held && equalBytes(held.author, e.author) && equalBytes(held.clientNonce, e.clientNonce))
        return held
    }
    return undefined
  }

  private async load(id: Ulid): Promise<StampedEvent | undefined> {
    const [found] = await this.store.getRange(this.channel, { gte: id }, { limit: 1 })
    return found?.event.id === id ? found.event : undefined
  }

  /** Builds the (author, clientNonce) index from the store, applying the dedup rule to what it finds. */
  private async nonceIndex(): Promise<Map<number, Ulid[]>> {
    if (this.nonces) return this.nonces
    const nonces = new Map<number, Ulid[]>()
    const kept = new Map<number, StampedEvent[]>() // only for keys seen twice
    const losers: Ulid[] = []
    let cursor: Ulid | undefined
    for (;;) {
      const page = await this.store.getRange(this.channel, cursor ? { gte: cursor } : {}, {
        limit: INDEX_PAGE,
      })
      const fresh = cursor ? page.filter((s) => s.event.id !== cursor) : page
      for (const { event } of fresh) {
        const key = nonceKey(event)
        const ids = nonces.get(key)
        if (!ids) {
          nonces.set(key, [event.id])
          continue
        }
        // A hash collision or a real duplicate. Ascending order: the first event of a pair is the smallest.
        let held = kept.get(key)
        if (!held) {
          held = [(await this.load(ids[0]!))!]
          kept.set(key, held)
        }
        const same = held.some(
          (h) => equalBytes(h.author, event.author) && equalBytes(h.clientNonce, event.clientNonce),
        )
        if (same) losers.push(event.id)
        else {
          held.push(event)
          ids.push(event.id)
        }
      }
      if (page.length < INDEX_PAGE) break
      cursor = page[page.length - 1]!.event.id
    }
    if (losers.length > 0) await this.store.deleteMany(this.channel, losers)
    this.nonces = nonces
    return nonces
  }

  private notify(events: StampedEvent[]): void {
    for (const listener of this.listeners) {
      try {
        listener(events)
      } catch (err) {
        // A listener's bug must not undo or block the add; surface it as an uncaught error.
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }
}

/** Byte-identical events (the relay signature covers id, content and author signature). */
function sameEvent(a: StampedEvent, b: StampedEvent): boolean {
  return equalBytes(a.relaySig, b.relaySig) && equalBytes(a.authorSig, b.authorSig) && sameContent(a, b)
}

function malformed(detail: string): { reason: RejectReason; detail: string } {
  return { reason: RejectReason.malformed, detail }
}

function isBytes(v: unknown, length: number): boolean {
  return v instanceof Uint8Array && v.length === length
}

function idOf(e: unknown): string | undefined {
  const id = (e as { id?: unknown } | null)?.id
  return typeof id === 'string' ? id : undefined
}

/** A 52-bit hash of (author, clientNonce): two FNV-1a lanes. Collisions are resolved by comparing events. */
function nonceKey(e: StampedEvent): number {
  let h1 = 0x811c9dc5
  let h2 = 0x01000193
  for (const bytes of [e.author, e.clientNonce])
    for (let i = 0; i < bytes.length; i++) {
      h1 = Math.imul(h1 ^ bytes[i]!, 0x01000193)
      h2 = Math.imul(h2 ^ bytes[i]!, 0x5bd1e995)
    }
  return (h1 >>> 0) * 0x100000 + ((h2 >>> 0) & 0xfffff)
}

function addId(index: Map<number, Ulid[]>, key: number, id: Ulid): void {
  const ids = index.get(key)
  if (ids) ids.push(id)
  else index.set(key, [id])
}

function removeId(index: Map<number, Ulid[]>, key: number, id: Ulid): void {
  const ids = index.get(key)
  if (!ids) return
  const at = ids.indexOf(id)
  if (at >= 0) ids.splice(at, 1)
  if (ids.length === 0) index.delete(key)
}
