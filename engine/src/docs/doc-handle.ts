/**
 * Signed Yjs documents: a Y.Doc whose every change travels as a stamped `yjs` event, so the
 * document is a function of the channel log and each change is attributable to a key and
 * a relay time.
 *
 * Local transactions are collected for `batchMs` (default 200 ms), merged with
 * `Y.mergeUpdates` and published through the injected host (which signs and sends them to
 * the relay). With `leading`, a change after a quiet `batchMs` goes at once and only the
 * changes that follow it within `batchMs` are collected: live editing (a canvas) sees each
 * keystroke of normal typing at once, while a burst still costs at most one event per window.
 *
 * Remote `yjs` events pass `authorize` (may this key edit this document then?) and the
 * `UpdateGuard` before `Y.applyUpdate`: a Yjs update cannot be taken back once later updates
 * build on it. They are applied with a private origin so they are never re-published.
 */
import * as Y from 'yjs'
import { LimitError } from '../errors.ts'
import type { StampedEvent } from '../event.ts'
import { keyTextInterner } from '../key-text.ts'
import type { Ulid } from '../ulid.ts'
import { DocLimits, decodeYjs, encodeYjs, isValidDocName, YJS_KIND } from './body.ts'
import {
  DEFAULT_UPDATE_LIMITS,
  type GuardVerdict,
  inlineGuard,
  TRANSIENT_REFUSALS,
  type UpdateGuard,
  type UpdateLimits,
} from './guard.ts'

/** Default collection window for local transactions before one signed event is published. */
export const DEFAULT_BATCH_MS = 200

/**
 * Options for a document edited live by people (a channel canvas): a keystroke after a pause
 * is published at once; a burst costs at most one event per 80 ms (12.5/s, within the relay's
 * default 20 events/s per key, leaving room for chat).
 */
export const LIVE_DOC_OPTIONS = { batchMs: 80, leading: true } as const satisfies DocOptions

/** Where a document publishes its changes: usually the engine's signer + relay session. */
export interface DocHost {
  /**
   * Signs and sends one event. Resolve with the stamped event when it is known (it is then
   * recorded as included); resolving with nothing is fine, the echo from the log does it.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: hosts written as `async () => {}` must fit
  publish(channel: string, kind: string, body: Uint8Array): Promise<StampedEvent | void>
}

export interface DocOptions {
  /** Milliseconds to collect local transactions into one event. Default `DEFAULT_BATCH_MS`. */
  batchMs?: number
  /** Publish a change that follows a quiet `batchMs` at once (default false: always collect). */
  leading?: boolean
  /**
   * Whether the event's author may change this document at its relay time (roles, bans). A
   * refused event never reaches the Y.Doc (reason `not-permitted`). Default: everyone may.
   */
  authorize?: (event: StampedEvent) => boolean
  /** Where untrusted updates are checked. Default `inlineGuard`. */
  guard?: UpdateGuard
  /** Called when a background flush fails (publishing is retried on the next flush). */
  onError?: (error: unknown) => void
  /** The Y.Doc's client id (random by default); tests pin it to make replicas reproducible. */
  clientID?: number
}

/** One change to the document: who made it and when (relay time). */
export interface DocChange {
  id: Ulid
  ts: number
  author: string
}

export interface DocApplyResult {
  applied: Ulid[]
  rejected: { id: Ulid; reason: string }[]
}

/** Marks transactions that came from the log, so they are not published again. */
export const REMOTE_ORIGIN: unique symbol = Symbol('peerchat.remote')

export class DocHandle {
  readonly doc: Y.Doc
  private pending: Uint8Array[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  private flushing: Promise<void> = Promise.resolve()
  /** Every event id looked at (applied or refused), so duplicates cost nothing. */
  private readonly seen = new Set<Ulid>()
  /** Ids of the `yjs` events whose changes the document contains. */
  private readonly included = new Set<Ulid>()
  private readonly changes: DocChange[] = []
  private closed = false
  private readonly keyText = keyTextInterner()
  private readonly batchMs: number
  private readonly guard: UpdateGuard
  /** When the last batch left (`Date.now()`: fake timers move it), for `leading`. */
  private lastPublished = Number.NEGATIVE_INFINITY
  private readonly onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === REMOTE_ORIGIN || this.closed) return
    this.pending.push(update)
    if (this.timer) return
    // Leading: after a quiet window, 0 ms (the rest of this task's transactions still join it).
    const wait = this.options.leading
      ? Math.max(0, this.lastPublished + this.batchMs - Date.now())
      : this.batchMs
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush().catch((e) => this.options.onError?.(e))
    }, wait)
  }

  constructor(
    readonly channel: string,
    readonly name: string,
    private readonly host: DocHost,
    private readonly options: DocOptions = {},
  ) {
    if (!isValidDocName(name)) throw new RangeError(`invalid document name ${JSON.stringify(name)}`)
    this.batchMs = options.batchMs ?? DEFAULT_BATCH_MS
    this.guard = options.guard ?? inlineGuard
    this.doc = new Y.Doc()
    if (options.clientID !== undefined) this.doc.clientID = options.clientID
    this.doc.on('update', this.onUpdate)
  }

  /** Publishes every collected local change now (tests and shutdown call this). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    // Serialise flushes so batches reach the relay in the order they were made.
    const run = this.flushing.then(() => this.publishPending())
    this.flushing = run.catch(() => {}) // a failed flush must not poison the next one
    return run
  }

  private async publishPending(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.takeBatch()
      let update = batch.length === 1 ? batch[0]! : Y.mergeUpdates(batch)
      if (update.length > DocLimits.yjsUpdate && batch.length > 1) {
        // Merging added framing beyond the cap: send the first transaction alone.
        this.pending.unshift(...batch.slice(1))
        update = batch[0]!
      }
      if (update.length > DocLimits.yjsUpdate) {
        // One transaction too large for an event: it stays local. Callers should cap pastes.
        throw new LimitError(
          `a local Yjs change of ${update.length} bytes exceeds ${DocLimits.yjsUpdate}`,
          'DocLimits.yjsUpdate',
        )
      }
      this.lastPublished = Date.now()
      const published = this.host
        .publish(this.channel, YJS_KIND, encodeYjs({ doc: this.name, update }))
        .catch((e: unknown) => {
          this.pending.unshift(update) // keep it for the next flush
          throw e
        })
      const ev = await published
      if (ev) this.record(ev)
    }
  }

  /** Takes pending updates while their total size stays within one event. */
  private takeBatch(): Uint8Array[] {
    let size = 0
    let n = 0
    while (n < this.pending.length && (n === 0 || size + this.pending[n]!.length <= DocLimits.yjsUpdate)) {
      size += this.pending[n]!.length
      n++
    }
    return this.pending.splice(0, n)
  }

  private record(ev: StampedEvent): void {
    // The relay's echo may have been applied before `publish` resolved: record it once.
    if (this.included.has(ev.id)) return
    this.seen.add(ev.id)
    this.included.add(ev.id)
    this.changes.push({ id: ev.id, ts: ev.ts, author: this.keyText(ev.author) })
  }

  /** Feeds verified stamped events; those for other channels, kinds or documents are skipped. */
  async apply(events: Iterable<StampedEvent>): Promise<DocApplyResult> {
    const result: DocApplyResult = { applied: [], rejected: [] }
    const mine: { ev: StampedEvent; update: Uint8Array | undefined; verdict: Promise<GuardVerdict> }[] = []
    for (const ev of events) {
      if (ev.kind !== YJS_KIND || ev.channel !== this.channel || this.seen.has(ev.id)) continue
      let update: Uint8Array | undefined
      try {
        const body = decodeYjs(ev.body)
        if (body.doc !== this.name) continue
        update = body.update
      } catch {
        result.rejected.push({ id: ev.id, reason: 'malformed-body' })
        this.seen.add(ev.id)
        continue
      }
      if (this.options.authorize && !this.options.authorize(ev)) {
        result.rejected.push({ id: ev.id, reason: 'not-permitted' })
        this.seen.add(ev.id)
        continue
      }
      this.seen.add(ev.id) // before awaiting, so a concurrent apply does not take it twice
      mine.push({ ev, update, verdict: this.guard.check(update, DEFAULT_UPDATE_LIMITS) })
    }
    for (const { ev, update, verdict } of mine) {
      const v = await verdict
      if (!v.ok) {
        // A refusal that depends on this machine, not on the bytes, is not final.
        if (TRANSIENT_REFUSALS.has(v.reason)) this.seen.delete(ev.id)
        result.rejected.push({ id: ev.id, reason: v.reason })
        continue
      }
      try {
        Y.applyUpdate(this.doc, update!, REMOTE_ORIGIN)
      } catch {
        result.rejected.push({ id: ev.id, reason: 'apply-failed' })
        continue
      }
      this.included.add(ev.id)
      this.changes.push({ id: ev.id, ts: ev.ts, author: this.keyText(ev.author) })
      result.applied.push(ev.id)
    }
    return result
  }

  /**
   * Applies a compacted state that contains the events `covered` (a snapshot), through the
   * guard with `limits`; those events are then skipped when the log delivers them.
   */
  async applyState(
    state: Uint8Array,
    covered: Iterable<Ulid>,
    limits: Readonly<UpdateLimits>,
    /** The state is this device's own (its cache, built from checked events): no guard pass. */
    own = false,
  ): Promise<GuardVerdict> {
    const verdict: GuardVerdict = own ? { ok: true } : await this.guard.check(state, limits)
    // The snapshot of an empty document changes nothing, yet its covered ids still count.
    if (!verdict.ok && verdict.reason !== 'no-op') return verdict
    try {
      if (verdict.ok) Y.applyUpdate(this.doc, state, REMOTE_ORIGIN)
    } catch {
      return { ok: false, reason: 'apply-failed' }
    }
    for (const id of covered) {
      this.seen.add(id)
      this.included.add(id)
    }
    return { ok: true }
  }

  /**
   * Applies this person's own update that is not stamped yet (a write waiting in the outbox, from
   * before a reload or from another tab): shown now, not published again; its stamped event,
   * when it comes, changes nothing more. Not for others' updates: those take `apply`.
   */
  applyPending(update: Uint8Array): boolean {
    try {
      Y.applyUpdate(this.doc, update, REMOTE_ORIGIN)
      return true
    } catch {
      return false
    }
  }

  /** Ids of every `yjs` event the document contains, in ULID order. */
  covered(): Ulid[] {
    return [...this.included].sort()
  }

  /** Who changed the document and when, in ULID order (changes taken in by a snapshot are not itemised). */
  history(): DocChange[] {
    return [...this.changes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  /** Publishes what is pending, then detaches from the document; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    try {
      await this.flush()
    } finally {
      this.closed = true
      this.doc.off('update', this.onUpdate)
    }
  }
}

/** Opens document `name` of `channel`: local edits are signed and published through `host`. */
export function openDoc(channel: string, name: string, host: DocHost, options?: DocOptions): DocHandle {
  return new DocHandle(channel, name, host, options)
}
