/**
 * ChannelLog: the grow-only set of one channel's stamped events, behind a `Store`.
 *
 * Every event is checked before it is stored (shape, channel, relay stamp, author
 * signature); an invalid one is rejected with a reason and never stored. Signatures are
 * verified in parallel chunks since native verification is asynchronous. The relay vouches
 * for who sent an event (its session), not for the author signature, which it does not check
 * on ordinary events: this log is where it is checked, for every event, however it arrived.
 * A batch-stamped event (stamp-proof.ts) costs a path of hashes; its root's signature is
 * checked once per batch (`VerifiedRoots`).
 *
 * Dedup rule (convergent): at most one event per (author, clientNonce). When two verified
 * events share a pair, the one with the smaller ULID stays, whatever the arrival order, so
 * every replica that has seen the same events holds the same set.
 * One ChannelLog should own a (store, channel) pair: it keeps an in-memory nonce index.
 *
 * Relay checkpoints (checkpoint.ts): events whose digests, together with the held events of
 * the range, hash to the root of a valid relay checkpoint skip their relay stamp check — the
 * checkpoint is the relay's signature over their exact bytes. Their author signatures are
 * checked like any event's, before they are stored. Anything not fully covered is verified per
 * event.
 */

import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, equalBytes } from './bytes.ts'
import {
  type Checkpoint,
  checkCheckpointEvent,
  checkpointRoot,
  isCheckpointEvent,
  ulidAfter,
} from './checkpoint.ts'
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
  sharedVerifiedRoots,
} from './event.ts'
import { firstIndex } from './first-index.ts'
import type { Ed25519Backend } from './identity/backend.ts'
import { Domain } from './identity/domains.ts'
import { verifySignature } from './identity/verify.ts'
import { LOCAL, type Source } from './source.ts'
import {
  batchRootPayload,
  isBatchProof,
  leafHash,
  rootFromProof,
  sameProof,
  type VerifiedRoots,
} from './stamp-proof.ts'
import type { Fingerprint, GetRangeOptions, IdRange, Store, StoredEvent } from './store/store.ts'
import { parseUlid, type Ulid, ulidTime, ulidToBytes } from './ulid.ts'

export const RejectReason = {
  /** The relay signature does not verify under any trusted relay key. */
  badRelaySig: 'badRelaySig',
  /** The author signature does not verify (checked when `verifyAuthors`, on every event). */
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
  /**
   * Events accepted on a relay checkpoint (their relay stamps hashed, not checked one by one;
   * their author signatures checked all the same); among `added` or counted as duplicates.
   */
  vouched: number
}

/** What `auditAuthors()` did: nothing since issue #13 (every author signature is checked on arrival). */
export interface AuditResult {
  checked: number
  removed: Rejection[]
}

export interface ChannelLogOptions {
  channel: string
  store: Store
  /** Relay keys whose stamps are accepted. */
  relayKeys: Uint8Array[]
  /**
   * Verify author signatures too (default true). The relay checks no author signature of an
   * ordinary event, so a log with `false` may hold events every other peer refuses: for
   * benchmarks and tests only.
   */
  verifyAuthors?: boolean
  /** Ed25519 backend (default: the engine's default backend). */
  backend?: Ed25519Backend
  /** Skip the relay stamp check of events a valid relay checkpoint covers, hashing them (default true). */
  checkpoints?: boolean
  /** Batch roots known to verify (default: the engine's shared cache, which the relay client also fills). */
  roots?: VerifiedRoots
}

/** Signature checks in flight at once: enough to keep native verification's thread pool busy. */
export const VERIFY_CHUNK = 512
/** Page size when the nonce index is rebuilt from the store. */
const INDEX_PAGE = 4096
/** Ids a log remembers having announced, to announce an event stored by two tabs at once only once. */
export const NOTIFIED_MAX = 1024
/** Valid checkpoints remembered (oldest forgotten first), for events that arrive after theirs. */
export const MAX_KNOWN_CHECKPOINTS = 1024

/** What one add changed: the events stored, the ids they replaced, and where they came from. */
export interface LogChange {
  added: StampedEvent[]
  replaced: Ulid[]
  source: Source
}

export interface AddOptions {
  /** Where the events came from, passed to listeners (default `{ via: 'local' }`). */
  source?: Source
}

type Listener = (events: StampedEvent[], change: LogChange) => void

export class ChannelLog {
  readonly channel: string
  readonly store: Store
  private readonly relayKeys: Uint8Array[]
  private readonly verifyAuthors: boolean
  private readonly backend: Ed25519Backend | undefined
  private readonly roots: VerifiedRoots
  private readonly listeners = new Set<Listener>()
  /** hash(author, clientNonce) -> ids of the events kept under that hash; built on first use. */
  private nonces: Map<number, Ulid[]> | undefined
  /** Serialises the check-then-write part of `add`. */
  private tail: Promise<unknown> = Promise.resolve()
  /** Whether relay checkpoints are used. */
  private readonly useCheckpoints: boolean
  /** Valid checkpoints seen, by the checkpoint event's id (insertion order = age). */
  private readonly known = new Map<Ulid, Checkpoint>()
  /** The ids listeners were told of last (oldest forgotten first): each is told once. */
  private readonly notified = new Set<Ulid>()

  constructor(opts: ChannelLogOptions) {
    if (!isValidChannel(opts.channel))
      throw new RangeError(`invalid channel name ${JSON.stringify(opts.channel)}`)
    this.channel = opts.channel
    this.store = opts.store
    this.relayKeys = [...opts.relayKeys]
    this.verifyAuthors = opts.verifyAuthors ?? true
    this.backend = opts.backend
    this.roots = opts.roots ?? sharedVerifiedRoots
    this.useCheckpoints = opts.checkpoints ?? true
  }

  /**
   * Always 0: no event is stored before its author signature is checked (issue #13; before it,
   * checkpoint-covered events were checked later by `auditAuthors`). Kept for its callers.
   */
  get pendingAudit(): number {
    return 0
  }

  /** Whether checkpoints are used (the `checkpoints` option). */
  get checkpointsTrusted(): boolean {
    return this.useCheckpoints
  }

  add(events: readonly StampedEvent[], opts: AddOptions = {}): Promise<AddResult> {
    return this.addWith(events, new Map(), opts.source ?? LOCAL)
  }

  /** `digests` may hold the digest of some events already (from their received bytes). */
  private async addWith(
    events: readonly StampedEvent[],
    digests: Map<StampedEvent, Uint8Array>,
    source: Source,
  ): Promise<AddResult> {
    const result: AddResult = { added: [], rejected: [], duplicates: 0, replaced: [], vouched: 0 }
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
    const verified = await this.verifyAll(fresh, result, digests)
    const run = this.tail.then(() =>
      this.admit(verified, result, digests).catch((err) => {
        // The store failed mid-write: the nonce index may be ahead of it, so rebuild it next time.
        this.nonces = undefined
        throw err
      }),
    )
    this.tail = run.catch(() => {})
    await run
    if (result.added.length > 0 || result.replaced.length > 0)
      this.notify({ added: result.added, replaced: result.replaced, source })
    return result
  }

  /** Decodes and adds; bytes that do not decode are rejected as `malformed`. */
  async addEncoded(frames: readonly Uint8Array[], opts: AddOptions = {}): Promise<AddResult> {
    const events: StampedEvent[] = []
    const digests = new Map<StampedEvent, Uint8Array>()
    const malformed: Rejection[] = []
    for (const frame of frames) {
      try {
        const e = decodeEvent(frame)
        events.push(e)
        // The codec is canonical (what decodes re-encodes to the same bytes), so these are its bytes.
        digests.set(e, sha256(frame))
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e
        malformed.push({ reason: RejectReason.malformed, detail: e.message })
      }
    }
    const result = await this.addWith(events, digests, opts.source ?? LOCAL)
    result.rejected.unshift(...malformed)
    return result
  }

  /**
   * Another handle of the shared store (another tab) stored `added` and deleted `deleted`: they
   * were verified there. Keeps the duplicate index true and tells the listeners, as a local change.
   */
  async takeExternal(added: readonly Ulid[], deleted: readonly Ulid[]): Promise<LogChange> {
    const run = this.tail.then(async () => {
      const events: StampedEvent[] = []
      for (const id of added) {
        const e = await this.load(id)
        if (e) events.push(e)
      }
      // A deleted id may stay in the index: `findHeld` skips ids whose event is gone.
      if (this.nonces) for (const e of events) addId(this.nonces, nonceKey(e), e.id)
      return { added: events, replaced: [...deleted], source: LOCAL }
    })
    this.tail = run.catch(() => {})
    const change = await run
    if (change.added.length > 0 || change.replaced.length > 0) this.notify(change)
    return change
  }

  /** The event held for a signed request (its author and clientNonce), if any. */
  async held(author: Uint8Array, clientNonce: Uint8Array): Promise<StampedEvent | undefined> {
    const probe = { author, clientNonce } as StampedEvent
    return this.findHeld((await this.nonceIndex()).get(nonceKey(probe)), probe, new Map())
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

  /**
   * Called with each batch of newly stored events (and the ids they replaced, and their source);
   * returns the unsubscribe function.
   */
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
      if (e.batch !== undefined && !isBatchProof(e.batch)) return malformed('bad batch proof')
      if (!(e.body instanceof Uint8Array)) return malformed('body is not bytes')
      if (e.body.length > Limits.body)
        return { reason: RejectReason.tooLarge, detail: `body of ${e.body.length} bytes > ${Limits.body}` }
      return undefined
    } catch (err) {
      return malformed((err as Error).message)
    }
  }

  /**
   * Splits `events` into the ones covered by a valid checkpoint (relay stamp hashed, author
   * signature checked) and the rest (both checked), signatures in parallel chunks; returns the
   * accepted ones. Fills `digests`.
   */
  private async verifyAll(
    events: StampedEvent[],
    result: AddResult,
    digests: Map<StampedEvent, Uint8Array>,
  ): Promise<StampedEvent[]> {
    const ok: StampedEvent[] = []
    let covered = new Set<StampedEvent>()
    let pending = events
    if (this.useCheckpoints && events.length > 0) {
      covered = await this.coverage(events, result, digests, ok)
      pending = events.filter((e) => !isCheckpointEvent(e, this.relayKeys)) // checked by coverage()
    }
    for (let i = 0; i < pending.length; i += VERIFY_CHUNK) {
      const chunk = pending.slice(i, i + VERIFY_CHUNK)
      const verdicts = await Promise.all(chunk.map((e) => this.verify(e, covered.has(e))))
      chunk.forEach((e, j) => {
        const reason = verdicts[j]
        if (reason) result.rejected.push({ id: e.id, reason })
        else {
          ok.push(e)
          if (covered.has(e)) result.vouched++
        }
      })
    }
    return ok
  }

  /**
   * Verifies the checkpoint events among `events` (accepted ones go to `ok`), then returns the
   * events of `events` that a known valid checkpoint covers: every event of its range, from
   * this batch and from the store together, is present exactly once and their digests, in id
   * order, hash to its root. A checkpoint only partly held, or with any other event in its
   * range, covers nothing (those events are verified one by one).
   */
  private async coverage(
    events: StampedEvent[],
    result: AddResult,
    digests: Map<StampedEvent, Uint8Array>,
    ok: StampedEvent[],
  ): Promise<Set<StampedEvent>> {
    const claimed = events.filter((e) => isCheckpointEvent(e, this.relayKeys))
    const verdicts = await Promise.all(claimed.map((e) => this.verifyCheckpoint(e)))
    claimed.forEach((e, i) => {
      const v = verdicts[i]!
      if (typeof v === 'string') result.rejected.push({ id: e.id, reason: v })
      else ok.push(e)
    })
    const covered = new Set<StampedEvent>()
    if (this.known.size === 0 || events.length === 0) return covered
    const sorted = [...events].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    const first = sorted[0]!.id
    const last = sorted[sorted.length - 1]!.id
    for (const cp of this.known.values()) {
      if (cp.last < first || cp.first > last) continue // most checkpoints: nothing of this batch
      const from = firstIndex(sorted, (e) => e.id < cp.first)
      const to = firstIndex(sorted, (e) => e.id <= cp.last)
      if (from === to) continue
      const mine = sorted.slice(from, to)
      if (mine.length > cp.count) continue
      if (await this.covers(cp, mine, digests)) for (const e of mine) covered.add(e)
    }
    return covered
  }

  /** Whether the held events of cp's range plus `mine` (batch events in it, id order) are exactly cp's. */
  private async covers(
    cp: Checkpoint,
    mine: StampedEvent[],
    digests: Map<StampedEvent, Uint8Array>,
  ): Promise<boolean> {
    const held = await this.store.getRange(
      this.channel,
      { gte: cp.first, lt: ulidAfter(cp.last) },
      { limit: cp.count + 1 },
    )
    if (held.length + mine.length < cp.count || held.length > cp.count) return false
    const items: { id: Ulid; digest: Uint8Array }[] = []
    let i = 0
    let j = 0
    while (i < held.length || j < mine.length) {
      const h = held[i]
      const m = mine[j]
      if (m === undefined || (h !== undefined && h.event.id < m.id)) {
        items.push({ id: h!.event.id, digest: h!.digest })
        i++
        continue
      }
      const d = this.digestOf(m, digests)
      if (!d) return false
      const prev = items[items.length - 1]
      j++
      if (prev?.id === m.id) {
        // The same id twice (held and received, or twice in the batch): only one exact copy is allowed.
        if (!equalBytes(prev.digest, d)) return false
        continue
      }
      if (h !== undefined && h.event.id === m.id) {
        if (!equalBytes(h.digest, d)) return false
        i++
      }
      items.push({ id: m.id, digest: d })
    }
    if (items.length !== cp.count) return false
    return equalBytes(checkpointRoot(items.map((it) => it.digest)), cp.root)
  }

  private digestOf(e: StampedEvent, digests: Map<StampedEvent, Uint8Array>): Uint8Array | undefined {
    let d = digests.get(e)
    if (!d) {
      try {
        d = eventDigest(e)
      } catch {
        return undefined
      }
      digests.set(e, d)
    }
    return d
  }

  /** A checkpoint event's verdict; a valid one becomes known (when checkpoints are used). */
  private async verifyCheckpoint(e: StampedEvent): Promise<RejectReason | Checkpoint> {
    const verdict = await checkCheckpointEvent(e, this.relayKeys, this.backend)
    if (typeof verdict === 'string') return verdict === 'notCheckpoint' ? RejectReason.malformed : verdict
    if (this.useCheckpoints) {
      this.known.delete(e.id)
      this.known.set(e.id, verdict)
      if (this.known.size > MAX_KNOWN_CHECKPOINTS) this.known.delete(this.known.keys().next().value!)
    }
    return verdict
  }

  /**
   * Per-event check: the relay stamp (unless a checkpoint covers the event: `covered`), and the
   * author signature when `verifyAuthors`.
   */
  private async verify(e: StampedEvent, covered: boolean): Promise<RejectReason | undefined> {
    if (isCheckpointEvent(e, this.relayKeys)) {
      const v = await this.verifyCheckpoint(e)
      return typeof v === 'string' ? v : undefined
    }
    const authored = encodeAuthored(e)
    const [relayOk, authorOk] = await Promise.all([
      covered || this.verifyStamp(e, authored),
      !this.verifyAuthors || verifySignature(Domain.event, e.author, authored, e.authorSig, this.backend),
    ])
    if (!relayOk) return RejectReason.badRelaySig
    if (!authorOk) return RejectReason.badAuthorSig
    return undefined
  }

  /** The relay stamp under any trusted relay key: a single signature, or a batch proof and its root's. */
  private async verifyStamp(e: StampedEvent, authored: Uint8Array): Promise<boolean> {
    const payload = concatBytes(ulidToBytes(e.id), authored, e.authorSig)
    if (e.batch === undefined) return this.verifyRelay(payload, e.relaySig)
    const root = rootFromProof(leafHash(payload), e.batch)
    if (!root) return false
    const signed = batchRootPayload(e.batch.size, root)
    for (const key of this.relayKeys)
      if (
        await this.roots.verify(key, signed, e.relaySig, () =>
          verifySignature(Domain.stampBatch, key, signed, e.relaySig, this.backend),
        )
      )
        return true
    return false
  }

  /**
   * Nothing to do: every event's author signature is checked before it is stored (issue #13;
   * before it, events accepted on a checkpoint were checked here, later). Kept for its callers.
   */
  async auditAuthors(): Promise<AuditResult> {
    return { checked: 0, removed: [] }
  }

  private async verifyRelay(payload: Uint8Array, sig: Uint8Array): Promise<boolean> {
    for (const key of this.relayKeys)
      if (await verifySignature(Domain.stamp, key, payload, sig, this.backend)) return true
    return false
  }

  /** The check-then-write step, run one at a time. */
  private async admit(
    events: StampedEvent[],
    result: AddResult,
    digests: Map<StampedEvent, Uint8Array>,
  ): Promise<void> {
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
    const items: StoredEvent[] = [...batch.values()].map((event) => ({
      event,
      digest: digests.get(event) ?? eventDigest(event),
    }))
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

  private notify(change: LogChange): void {
    // Two tabs storing one event at once both see it as new, then hear of it from the other:
    // listeners get each id once.
    const added = change.added.filter((e) => !this.notified.has(e.id))
    for (const e of added) {
      this.notified.add(e.id)
      if (this.notified.size > NOTIFIED_MAX) this.notified.delete(this.notified.values().next().value!)
    }
    if (added.length === 0 && change.replaced.length === 0) return
    change = { ...change, added }
    for (const listener of this.listeners) {
      try {
        listener(change.added, change)
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
  return (
    equalBytes(a.relaySig, b.relaySig) &&
    sameProof(a.batch, b.batch) &&
    equalBytes(a.authorSig, b.authorSig) &&
    sameContent(a, b)
  )
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
