/**
 * LwwMap: a last-writer-wins map with removals, folded from one channel's events of one kind
 * (`kit.lww` by default; bodies in lww-body.ts, docs/protocol/kit.md). Each event sets or
 * removes one or more keys of one named map under one author clock; per key, the greatest
 * write wins. The fold is a per-key maximum over a total order, so it is order-independent
 * and idempotent: any permutation or duplication of the same events gives the same map.
 * Writes to different keys never interfere.
 *
 * WHICH WRITE IS "LAST" (the `clock` option; every replica of a map must use the same one):
 *
 * - `'author'` (default): a hybrid logical clock carried in the body. A writer stamps
 *   `time = max(its wall clock, 1 + the largest effective time this replica has seen for the
 *   keys it writes)` and `counter = 1 + the largest counter seen for them`. An event's
 *   effective time is `min(time, ts)`: clamped to its relay stamp, so a clock set in the
 *   future cannot win for ever. Writes compare by (effective time, counter, event id). An edit
 *   made offline earlier loses to a later online edit, and an edit made after seeing another
 *   wins over it even when the writer's wall clock is behind (with one relay, or relays whose
 *   clocks agree: a stamp is never earlier than the stamp of what its author had seen).
 * - `'relay'`: the stamp order (event id; its time part is `ts`). An edit made offline is
 *   "last" when it reaches the relay, whenever it was made.
 *
 * Local-first: `set`/`delete` show the new value at once (before signing), keep it while the
 * write is pending, and the stamped event takes over when the relay has stamped it. A pending
 * write compares as its author time and counter (unclamped) and after every stamped event
 * with the same (time, counter); among pending writes the later one wins. A write the relay
 * refuses for good (`failed`) stops counting.
 *
 * Every applied event is kept as a small record per key (tombstones included), so an event
 * the log later replaces (`Change.replaced`) can be taken back and the next-greatest write
 * shows again. Memory is O(entries ever written) for the map's keys.
 */
import { equalBytes } from '../bytes.ts'
import { isValidKind, type StampedEvent } from '../event.ts'
import { publicKeyToText } from '../identity/keys.ts'
import { outboxKey } from '../replica/outbox.ts'
import type { Change, Replica, Write } from '../replica/replica.ts'
import { LOCAL, type Source } from '../source.ts'
import type { Ulid } from '../ulid.ts'
import { decodeLww, encodeLww, isValidMapName, KitLimits, LWW_KIND, type LwwBody } from './lww-body.ts'

/** Turns values into bytes and back. `decode` must be deterministic and throw on bytes that are not a value. */
export interface ValueCodec<V> {
  encode(value: V): Uint8Array
  /** `key` is the entry's key, for codecs whose type depends on it. */
  decode(bytes: Uint8Array, key: string): V
}

/** Which write is "last": see the module comment. */
export type LwwClock = 'author' | 'relay'

/** What a map needs of a Replica (a Replica fits). */
export type ReplicaPort = Pick<Replica, 'subscribe' | 'write' | 'clock'>

export interface LwwMapOptions<V> {
  /** The map's name, carried in every body (`[a-z0-9][a-z0-9._-]*`, at most 64 bytes). */
  name: string
  codec: ValueCodec<V>
  /** Default `'author'`. Part of the map's definition: every replica must use the same. */
  clock?: LwwClock
  /** Event kind (default `kit.lww`); maps of one channel may share it, their names differ. */
  kind?: string
  /** The author's wall clock in ms (default the replica's clock). */
  now?: () => number
  /** A change listener threw (default: rethrown in a microtask). */
  onError?: (error: unknown) => void
}

/** One write: `{ key, value }` sets, `{ key, remove: true }` removes. */
export type LwwOp<V> = { key: string; value: V } | { key: string; remove: true }

export interface LwwKeyChange<V> {
  /** The visible value now; undefined when absent or removed. */
  value: V | undefined
  previous: V | undefined
  /** True while the winning write is a local write the relay has not stamped. */
  pending: boolean
  /** Where the write that changed it came from (`local` for this replica's pending writes). */
  source: Source
}

export interface LwwMapChange<V> {
  /** Keys whose visible value or pending state changed, in the order they changed. */
  keys: string[]
  changes: ReadonlyMap<string, LwwKeyChange<V>>
}

/** The winning write of a key. */
export interface LwwMeta {
  /** Author key (base64url); unknown for a local write until it is signed. */
  author?: string
  /** Author clock as written. */
  time: number
  counter: number
  /** Stamped writes: the event and its relay time. */
  id?: Ulid
  ts?: number
  pending: boolean
  removed: boolean
}

/** One event or local write, as far as the fold needs it. */
interface Rec {
  id: Ulid | undefined
  ts: number | undefined
  author: Uint8Array | undefined
  nonce: Uint8Array | undefined
  time: number
  counter: number
  /** Stamped: min(time, ts). Pending: time. */
  eff: number
  pending: boolean
  /** Local arrival order: orders pending writes among themselves. */
  seq: number
  /** Pending writes: the outbox key. */
  op: string | undefined
  /** Optimistic writes (not yet signed): their body, to recognise their pending write. */
  body: Uint8Array | undefined
  keys: string[]
}

interface Entry<V> {
  rec: Rec
  value: V | undefined
  removed: boolean
}

interface Slot<V> {
  entries: Entry<V>[]
  winner: Entry<V> | undefined
  /** Largest effective time and counter seen for the key: the writer's clock starts above them. */
  maxTime: number
  maxCounter: number
}

const rethrow = (e: unknown): void =>
  queueMicrotask(() => {
    throw e
  })

export class LwwMap<V> {
  readonly name: string
  readonly kind: string
  readonly clock: LwwClock
  readonly stats = { malformed: 0, rejectedValues: 0 }
  private readonly codec: ValueCodec<V>
  private readonly now: () => number
  private readonly onError: (e: unknown) => void
  private readonly slots = new Map<string, Slot<V>>()
  private readonly byId = new Map<Ulid, Rec>()
  private readonly pendingByOp = new Map<string, Rec>()
  private readonly optimistic = new Set<Rec>()
  private readonly listeners = new Set<(change: LwwMapChange<V>) => void>()
  private touched: Map<string, { before: Entry<V> | undefined; source: Source }> | undefined
  private seq = 0
  private live = 0
  private closed = false
  private unsubscribe: (() => void) | undefined

  private constructor(
    readonly channel: string,
    options: LwwMapOptions<V>,
    private readonly port: ReplicaPort | undefined,
  ) {
    if (!isValidMapName(options.name))
      throw new RangeError(`invalid map name ${JSON.stringify(options.name)}`)
    const kind = options.kind ?? LWW_KIND
    if (!isValidKind(kind)) throw new RangeError(`invalid event kind ${JSON.stringify(kind)}`)
    const clock = options.clock ?? 'author'
    if (clock !== 'author' && clock !== 'relay')
      throw new RangeError(`unknown clock ${JSON.stringify(clock)}`)
    this.name = options.name
    this.kind = kind
    this.clock = clock
    this.codec = options.codec
    this.now = options.now ?? (port ? () => port.clock.now() : () => Date.now())
    this.onError = options.onError ?? rethrow
  }

  /**
   * Opens the map on a replica: folds the channel's stored events and pending writes, then
   * every change (`subscribe` with full replay); `set`/`delete` write through the replica.
   */
  static async open<V>(replica: ReplicaPort, channel: string, options: LwwMapOptions<V>): Promise<LwwMap<V>> {
    const map = new LwwMap(channel, options, replica)
    map.unsubscribe = await replica.subscribe(channel, (change) => map.applyChange(change))
    return map
  }

  /** A map fed by hand (`apply`, `remove`, `applyChange`); it cannot write. */
  static detached<V>(channel: string, options: LwwMapOptions<V>): LwwMap<V> {
    return new LwwMap(channel, options, undefined)
  }

  // ---- reading ---------------------------------------------------------------------------

  get(key: string): V | undefined {
    const w = this.slots.get(key)?.winner
    return w && !w.removed ? w.value : undefined
  }

  has(key: string): boolean {
    const w = this.slots.get(key)?.winner
    return w !== undefined && !w.removed
  }

  /** Keys present (not removed). */
  get size(): number {
    return this.live
  }

  /** Present keys, sorted (UTF-16 code unit order, the same on every replica). */
  keys(): string[] {
    const out: string[] = []
    for (const [key, slot] of this.slots) if (slot.winner && !slot.winner.removed) out.push(key)
    return out.sort(compareStrings)
  }

  /** Present entries, sorted by key. */
  entries(): [string, V][] {
    return this.keys().map((k) => [k, this.slots.get(k)!.winner!.value as V])
  }

  /** The winning write of `key` (also for a removed key: its tombstone). */
  meta(key: string): LwwMeta | undefined {
    const w = this.slots.get(key)?.winner
    if (!w) return undefined
    const r = w.rec
    return {
      ...(r.author ? { author: publicKeyToText(r.author) } : {}),
      time: r.time,
      counter: r.counter,
      ...(r.id !== undefined ? { id: r.id, ts: r.ts! } : {}),
      pending: r.pending,
      removed: w.removed,
    }
  }

  /** Called after each batch of changes; returns the function that stops it. */
  on(_event: 'change', listener: (change: LwwMapChange<V>) => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  // ---- writing ---------------------------------------------------------------------------

  /** Sets `key`: visible at once, pending until stamped. */
  set(key: string, value: V): Promise<Write> {
    return this.write([{ key, value }])
  }

  /** Removes `key` (a tombstone); nothing is written when it is absent here. */
  async delete(key: string): Promise<Write | undefined> {
    if (!this.has(key)) return undefined
    return this.write([{ key, remove: true }])
  }

  /** Sets and removes several keys in one event, under one clock (all visible at once). */
  async write(ops: readonly LwwOp<V>[]): Promise<Write> {
    const port = this.port
    if (!port) throw new Error('a detached map cannot write: open it on a replica')
    if (this.closed) throw new Error('map closed')
    let seenTime = -1
    let seenCounter = -1
    for (const op of ops) {
      const slot = this.slots.get(op.key)
      if (!slot) continue
      seenTime = Math.max(seenTime, slot.maxTime)
      seenCounter = Math.max(seenCounter, slot.maxCounter)
    }
    const wall = this.now()
    const time = Math.min(
      KitLimits.time,
      Math.max(Number.isFinite(wall) ? Math.floor(wall) : 0, seenTime + 1, 0),
    )
    const counter = Math.min(KitLimits.counter, seenCounter + 1)
    const body: LwwBody = {
      name: this.name,
      time,
      counter,
      entries: ops.map((op) =>
        'remove' in op && op.remove
          ? { key: op.key }
          : { key: op.key, value: this.codec.encode((op as { value: V }).value) },
      ),
    }
    const bytes = encodeLww(body)
    const rec = this.record({ time, counter, eff: time, pending: true, body: bytes })
    this.optimistic.add(rec)
    this.batch(() => this.add(rec, body, LOCAL))
    try {
      const w = await port.write(this.channel, this.kind, bytes)
      // Its pending state normally reached the listener inside `write`; if not, adopt it here.
      if (this.optimistic.has(rec)) {
        this.optimistic.delete(rec)
        if (w.state === 'pending' && !this.pendingByOp.has(w.key)) this.adopt(rec, w)
        else this.batch(() => this.drop(rec, LOCAL))
      }
      return w
    } catch (e) {
      if (this.optimistic.delete(rec)) this.batch(() => this.drop(rec, LOCAL))
      throw e
    }
  }

  // ---- folding ---------------------------------------------------------------------------

  /** Folds a replica change: replaced ids leave, added events enter, local writes update. */
  applyChange(change: Pick<Change, 'added' | 'replaced' | 'writes' | 'source'>): void {
    this.batch(() => {
      for (const id of change.replaced) this.removeOne(id, change.source)
      for (const ev of change.added) this.addEvent(ev, change.source)
      for (const w of change.writes) this.addWrite(w)
    })
  }

  /** Folds stamped events (verified by the log), any order, duplicates ignored. */
  apply(events: Iterable<StampedEvent>, source: Source = LOCAL): void {
    this.batch(() => {
      for (const ev of events) this.addEvent(ev, source)
    })
  }

  /** Takes back events the log replaced. */
  remove(ids: Iterable<Ulid>, source: Source = LOCAL): void {
    this.batch(() => {
      for (const id of ids) this.removeOne(id, source)
    })
  }

  /** Stops following the replica and drops every listener; the state stays readable. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.unsubscribe?.()
    this.unsubscribe = undefined
    this.listeners.clear()
  }

  // ---- internals -------------------------------------------------------------------------

  /** Positive when `a` wins over `b`. A total order: distinct stamped events have distinct ids. */
  private compare(a: Rec, b: Rec): number {
    if (this.clock === 'author') {
      if (a.eff !== b.eff) return a.eff - b.eff
      if (a.counter !== b.counter) return a.counter - b.counter
    }
    if (a.pending !== b.pending) return a.pending ? 1 : -1
    if (a.pending) return a.seq - b.seq
    return compareStrings(a.id!, b.id!)
  }

  private record(r: Partial<Rec> & Pick<Rec, 'time' | 'counter' | 'eff' | 'pending'>): Rec {
    return {
      id: undefined,
      ts: undefined,
      author: undefined,
      nonce: undefined,
      op: undefined,
      body: undefined,
      ...r,
      seq: this.seq++,
      keys: [],
    }
  }

  private addEvent(ev: StampedEvent, source: Source): void {
    if (ev.kind !== this.kind || ev.channel !== this.channel || this.byId.has(ev.id)) return
    let body: LwwBody
    try {
      body = decodeLww(ev.body)
    } catch {
      this.stats.malformed++
      return
    }
    if (body.name !== this.name) return
    if (this.pendingByOp.size > 0) {
      const twin = this.pendingByOp.get(outboxKey(ev.author, ev.clientNonce))
      if (twin) this.drop(twin, source)
    }
    const rec = this.record({
      id: ev.id,
      ts: ev.ts,
      author: ev.author,
      nonce: ev.clientNonce,
      time: body.time,
      counter: body.counter,
      eff: Math.min(body.time, ev.ts),
      pending: false,
    })
    this.byId.set(ev.id, rec)
    this.add(rec, body, source)
  }

  private addWrite(w: Write): void {
    const req = w.request
    if (req.kind !== this.kind || req.channel !== this.channel) return
    if (w.state !== 'pending') {
      // Stamped (its event came in `added` first) or refused for good: the pending write leaves.
      const rec = this.pendingByOp.get(w.key)
      if (rec) this.drop(rec, LOCAL)
      return
    }
    if (this.pendingByOp.has(w.key)) return
    for (const rec of this.optimistic) {
      if (rec.body && equalBytes(rec.body, req.body)) {
        this.optimistic.delete(rec)
        this.adopt(rec, w)
        return
      }
    }
    let body: LwwBody
    try {
      body = decodeLww(req.body)
    } catch {
      return
    }
    if (body.name !== this.name || this.isStamped(body, req.author, req.clientNonce)) return
    const rec = this.record({
      author: req.author,
      nonce: req.clientNonce,
      time: body.time,
      counter: body.counter,
      eff: body.time,
      pending: true,
      op: w.key,
    })
    this.pendingByOp.set(w.key, rec)
    this.add(rec, body, LOCAL)
  }

  /** An optimistic write became a pending write of the outbox. */
  private adopt(rec: Rec, w: Write): void {
    rec.op = w.key
    rec.author = w.request.author
    rec.nonce = w.request.clientNonce
    rec.body = undefined
    this.pendingByOp.set(w.key, rec)
  }

  /** A pending write whose event the map already holds (an outbox entry that outlived its stamp). */
  private isStamped(body: LwwBody, author: Uint8Array, nonce: Uint8Array): boolean {
    return body.entries.some(
      (entry) =>
        this.slots
          .get(entry.key)
          ?.entries.some(
            (e) => !e.rec.pending && equalBytes(e.rec.nonce!, nonce) && equalBytes(e.rec.author!, author),
          ) ?? false,
    )
  }

  private add(rec: Rec, body: LwwBody, source: Source): void {
    for (const e of body.entries) {
      let value: V | undefined
      if (e.value !== undefined) {
        try {
          value = this.codec.decode(e.value, e.key)
        } catch {
          this.stats.rejectedValues++
          continue
        }
      }
      rec.keys.push(e.key)
      let slot = this.slots.get(e.key)
      if (!slot) {
        slot = { entries: [], winner: undefined, maxTime: -1, maxCounter: -1 }
        this.slots.set(e.key, slot)
      }
      this.touch(e.key, slot, source)
      const entry: Entry<V> = { rec, value, removed: e.value === undefined }
      slot.entries.push(entry)
      if (rec.eff > slot.maxTime) slot.maxTime = rec.eff
      if (rec.counter > slot.maxCounter) slot.maxCounter = rec.counter
      if (!slot.winner || this.compare(rec, slot.winner.rec) > 0) slot.winner = entry
    }
  }

  private removeOne(id: Ulid, source: Source): void {
    const rec = this.byId.get(id)
    if (rec) this.drop(rec, source)
  }

  private drop(rec: Rec, source: Source): void {
    if (rec.id !== undefined) this.byId.delete(rec.id)
    if (rec.op !== undefined && this.pendingByOp.get(rec.op) === rec) this.pendingByOp.delete(rec.op)
    this.optimistic.delete(rec)
    for (const key of rec.keys) {
      const slot = this.slots.get(key)
      if (!slot) continue
      this.touch(key, slot, source)
      slot.entries = slot.entries.filter((e) => e.rec !== rec)
      if (slot.winner?.rec !== rec) continue
      let best: Entry<V> | undefined
      for (const e of slot.entries) if (!best || this.compare(e.rec, best.rec) > 0) best = e
      slot.winner = best
    }
    rec.keys = []
  }

  private touch(key: string, slot: Slot<V>, source: Source): void {
    const t = this.touched!
    const known = t.get(key)
    if (known) known.source = source
    else t.set(key, { before: slot.winner, source })
  }

  /** Runs `fn`, then notifies listeners once with what changed. */
  private batch(fn: () => void): void {
    if (this.touched) {
      fn()
      return
    }
    this.touched = new Map()
    let touched: Map<string, { before: Entry<V> | undefined; source: Source }>
    try {
      fn()
    } finally {
      touched = this.touched
      this.touched = undefined
    }
    const changes = new Map<string, LwwKeyChange<V>>()
    for (const [key, { before, source }] of touched) {
      const after = this.slots.get(key)?.winner
      if (after === before) continue
      const was = before !== undefined && !before.removed
      const is = after !== undefined && !after.removed
      if (!was && !is) continue
      this.live += (is ? 1 : 0) - (was ? 1 : 0)
      changes.set(key, {
        value: is ? after!.value : undefined,
        previous: was ? before!.value : undefined,
        pending: after?.rec.pending ?? false,
        source,
      })
    }
    if (changes.size === 0) return
    const change: LwwMapChange<V> = { keys: [...changes.keys()], changes }
    for (const listener of [...this.listeners]) {
      try {
        listener(change)
      } catch (e) {
        this.onError(e)
      }
    }
  }
}

export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
