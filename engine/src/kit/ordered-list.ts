/**
 * OrderedList: items with an id, a value and a fractional position (position.ts), built on an
 * LwwMap whose keys are two independent last-writer-wins fields per item:
 *
 *   `v/<id>` -> the value (removed: the item is deleted)
 *   `p/<id>` -> the position (a fractional key)
 *
 * Inserting writes both in one event; moving writes only the position, updating only the
 * value, removing only the value's tombstone. So a concurrent move and edit of one item both
 * count, two concurrent moves resolve by the map's clock, and a remove concurrent with an
 * edit resolves by the clock too (an edit that is "later" brings the item back).
 *
 * `items()` is every item whose value is present, sorted by (position, id): the same order on
 * every replica that holds the same events, whatever the order they arrived in. An item with a
 * value and no position (not written by this module) sorts first, at position ''.
 */
import { DecodeError } from '../errors.ts'
import type { StampedEvent } from '../event.ts'
import type { Change, Write } from '../replica/replica.ts'
import { LOCAL, type Source } from '../source.ts'
import type { Ulid } from '../ulid.ts'
import { KitLimits } from './lww-body.ts'
import {
  compareStrings,
  type LwwClock,
  LwwMap,
  type LwwMapChange,
  type LwwMapOptions,
  type ReplicaPort,
  type ValueCodec,
} from './lww-map.ts'
import { between, isValidPosition, MAX_POSITION_LENGTH, POSITION_DIGITS } from './position.ts'

export interface OrderedListOptions<V> {
  /** The list's name (the underlying map's name). */
  name: string
  codec: ValueCodec<V>
  /** Default `'author'` (see LwwMap). */
  clock?: LwwClock
  /** Event kind (default `kit.lww`). */
  kind?: string
  now?: () => number
  /** Uniform [0, 1) for new ids and positions' tie-breaks (default crypto). */
  random?: () => number
  onError?: (error: unknown) => void
}

export interface ListItem<V> {
  id: string
  value: V
  position: string
}

/** Where an item goes: right after `after`, right before `before`, between both, or (neither) at the end. */
export interface Placement {
  before?: string
  after?: string
}

export interface ListItemChange<V> {
  /** The value now; undefined when the item is gone. */
  value: V | undefined
  previous: V | undefined
  /** The position now and before (undefined when absent). */
  position: string | undefined
  previousPosition: string | undefined
  /** True while a local write to the item is not stamped. */
  pending: boolean
  source: Source
}

export interface OrderedListChange<V> {
  ids: string[]
  changes: ReadonlyMap<string, ListItemChange<V>>
}

/** A field of an item, as stored in the map. */
export type ListField<V> = { value: V } | { position: string }

/** Characters of a generated item id (base 62, about 95 bits). */
export const LIST_ID_LENGTH = 16
const VALUE_PREFIX = 'v/'
const POSITION_PREFIX = 'p/'
/** Longest item id: its keys must fit `KitLimits.key`. */
export const MAX_LIST_ID_BYTES = KitLimits.key - 2

const ascii = new TextDecoder('ascii')

/** The map codec of a list: the caller's codec for values, ASCII for positions (checked). */
export function listFieldCodec<V>(codec: ValueCodec<V>): ValueCodec<ListField<V>> {
  return {
    encode: (f) => ('position' in f ? new TextEncoder().encode(f.position) : codec.encode(f.value)),
    decode: (bytes, key) => {
      if (key.startsWith(POSITION_PREFIX)) {
        if (bytes.length > MAX_POSITION_LENGTH) throw new DecodeError('position too long')
        for (const b of bytes) if (b >= 128) throw new DecodeError('position is not ASCII')
        const position = ascii.decode(bytes)
        if (!isValidPosition(position)) throw new DecodeError('invalid position')
        return { position }
      }
      if (key.startsWith(VALUE_PREFIX)) return { value: codec.decode(bytes, key) }
      throw new DecodeError(`not a list field: ${JSON.stringify(key)}`)
    },
  }
}

const cryptoRandom = (): number => {
  const b = new Uint32Array(1)
  globalThis.crypto.getRandomValues(b)
  return b[0]! / 2 ** 32
}

interface Visible<V> {
  id: string
  value: V
  position: string
}

const compareItems = (a: Visible<unknown>, b: Visible<unknown>): number =>
  compareStrings(a.position, b.position) || compareStrings(a.id, b.id)

export class OrderedList<V> {
  private readonly visible = new Map<string, Visible<V>>()
  /** Visible items sorted by (position, id). */
  private sorted: Visible<V>[] = []
  private readonly listeners = new Set<(change: OrderedListChange<V>) => void>()
  private readonly random: () => number
  private readonly onError: (e: unknown) => void
  private readonly offMap: () => void

  private constructor(
    /** The underlying map (fields `v/<id>` and `p/<id>`). */
    readonly map: LwwMap<ListField<V>>,
    options: OrderedListOptions<V>,
  ) {
    this.random = options.random ?? cryptoRandom
    this.onError =
      options.onError ??
      ((e) =>
        queueMicrotask(() => {
          throw e
        }))
    for (const key of map.keys()) if (key.startsWith(VALUE_PREFIX)) this.refresh(key.slice(2), undefined)
    this.offMap = map.on('change', (c) => this.onMapChange(c))
  }

  static async open<V>(
    replica: ReplicaPort,
    channel: string,
    options: OrderedListOptions<V>,
  ): Promise<OrderedList<V>> {
    return new OrderedList(await LwwMap.open(replica, channel, mapOptions(options)), options)
  }

  /** A list fed by hand (`apply`, `remove`, `applyChange`); it cannot write. */
  static detached<V>(channel: string, options: OrderedListOptions<V>): OrderedList<V> {
    return new OrderedList(LwwMap.detached(channel, mapOptions(options)), options)
  }

  // ---- reading ---------------------------------------------------------------------------

  /** Every item, sorted by (position, id). */
  items(): ListItem<V>[] {
    return this.sorted.map((v) => ({ id: v.id, value: v.value, position: v.position }))
  }

  /** Ids in list order. */
  ids(): string[] {
    return this.sorted.map((v) => v.id)
  }

  get(id: string): ListItem<V> | undefined {
    const v = this.visible.get(id)
    return v && { id: v.id, value: v.value, position: v.position }
  }

  has(id: string): boolean {
    return this.visible.has(id)
  }

  get size(): number {
    return this.sorted.length
  }

  /** Index of `id` in list order, -1 when absent (O(log n)). */
  indexOf(id: string): number {
    const v = this.visible.get(id)
    return v ? this.search(v) : -1
  }

  on(_event: 'change', listener: (change: OrderedListChange<V>) => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  // ---- writing ---------------------------------------------------------------------------

  /** Inserts a new item (value and position in one event); resolves with its id once queued. */
  async insert(value: V, at: Placement & { id?: string } = {}): Promise<string> {
    const id = at.id ?? this.newId()
    checkId(id)
    if (this.map.get(VALUE_PREFIX + id) !== undefined) throw new RangeError(`item ${id} exists`)
    const position = this.positionFor(at, undefined)
    await this.map.write([
      { key: VALUE_PREFIX + id, value: { value } },
      { key: POSITION_PREFIX + id, value: { position } },
    ])
    return id
  }

  /** Moves an item: writes a new position only. */
  async move(id: string, at: Placement): Promise<Write> {
    this.need(id)
    if (at.after === id || at.before === id) throw new RangeError('an item cannot move next to itself')
    return this.map.set(POSITION_PREFIX + id, { position: this.positionFor(at, id) })
  }

  /** Replaces an item's value: writes the value only. */
  async update(id: string, value: V): Promise<Write> {
    this.need(id)
    return this.map.set(VALUE_PREFIX + id, { value })
  }

  /** Removes an item (a tombstone on its value); nothing is written when it is absent. */
  async remove(id: string): Promise<Write | undefined> {
    return this.map.delete(VALUE_PREFIX + id)
  }

  // ---- folding (detached lists; an opened list follows its replica) -----------------------

  applyChange(change: Pick<Change, 'added' | 'replaced' | 'writes' | 'source'>): void {
    this.map.applyChange(change)
  }

  apply(events: Iterable<StampedEvent>, source: Source = LOCAL): void {
    this.map.apply(events, source)
  }

  removeEvents(ids: Iterable<Ulid>, source: Source = LOCAL): void {
    this.map.remove(ids, source)
  }

  close(): void {
    this.offMap()
    this.listeners.clear()
    this.map.close()
  }

  // ---- internals -------------------------------------------------------------------------

  private need(id: string): void {
    if (!this.visible.has(id)) throw new RangeError(`no item ${JSON.stringify(id)}`)
  }

  private newId(): string {
    let id = ''
    for (let i = 0; i < LIST_ID_LENGTH; i++)
      id += POSITION_DIGITS[Math.min(61, Math.max(0, Math.floor(this.random() * 62)))]
    return id
  }

  /**
   * A position for `at`, ignoring `moving` (the item being moved). Neighbours with equal
   * positions (a tie-break collision, or a hostile writer) are skipped over: the item then
   * lands after (or before) all of them.
   */
  private positionFor(at: Placement, moving: string | undefined): string {
    const list = moving === undefined ? this.sorted : this.sorted.filter((v) => v.id !== moving)
    const index = (id: string): number => {
      const i = list.findIndex((v) => v.id === id)
      if (i < 0) throw new RangeError(`no item ${JSON.stringify(id)}`)
      return i
    }
    let lower: string | undefined
    let upper: string | undefined
    if (at.after !== undefined && at.before !== undefined) {
      lower = list[index(at.after)]!.position
      upper = list[index(at.before)]!.position
      if (lower >= upper) throw new RangeError('placement: `after` must come before `before`')
    } else if (at.after !== undefined) {
      let i = index(at.after)
      lower = list[i]!.position
      while (i < list.length && list[i]!.position <= lower) i++
      upper = list[i]?.position
    } else if (at.before !== undefined) {
      let i = index(at.before)
      upper = list[i]!.position
      while (i >= 0 && list[i]!.position >= upper) i--
      lower = list[i]?.position
    } else {
      lower = list.at(-1)?.position
    }
    // '' marks an item without a position (sorted first): nothing goes below it.
    if (lower === '') lower = undefined
    if (upper === '') upper = undefined
    return between(lower, upper, { random: this.random })
  }

  private onMapChange(c: LwwMapChange<ListField<V>>): void {
    const ids = new Map<string, { pending: boolean; source: Source }>()
    for (const key of c.keys) {
      if (!key.startsWith(VALUE_PREFIX) && !key.startsWith(POSITION_PREFIX)) continue
      const k = c.changes.get(key)!
      const id = key.slice(2)
      const known = ids.get(id)
      ids.set(id, { pending: (known?.pending ?? false) || k.pending, source: k.source })
    }
    const changes = new Map<string, ListItemChange<V>>()
    for (const [id, { pending, source }] of ids) {
      const before = this.visible.get(id)
      const after = this.refresh(id, before)
      if (!before && !after) continue
      changes.set(id, {
        value: after?.value,
        previous: before?.value,
        position: after?.position,
        previousPosition: before?.position,
        pending,
        source,
      })
    }
    if (changes.size === 0) return
    const change: OrderedListChange<V> = { ids: [...changes.keys()], changes }
    for (const listener of [...this.listeners]) {
      try {
        listener(change)
      } catch (e) {
        this.onError(e)
      }
    }
  }

  /** Recomputes item `id` from the map and re-sorts it; returns what is visible now. */
  private refresh(id: string, before: Visible<V> | undefined): Visible<V> | undefined {
    const field = this.map.get(VALUE_PREFIX + id)
    const pos = this.map.get(POSITION_PREFIX + id)
    const after: Visible<V> | undefined =
      field && 'value' in field
        ? { id, value: field.value, position: pos && 'position' in pos ? pos.position : '' }
        : undefined
    if (before) {
      this.sorted.splice(this.search(before), 1)
      this.visible.delete(id)
    }
    if (after) {
      this.sorted.splice(this.insertionPoint(after), 0, after)
      this.visible.set(id, after)
    }
    return after
  }

  /** Index of an item known to be in `sorted`. */
  private search(v: Visible<V>): number {
    const i = this.insertionPoint(v)
    return this.sorted[i] === v ? i : this.sorted.indexOf(v)
  }

  /** First index whose item sorts at or after `v`. */
  private insertionPoint(v: Visible<V>): number {
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (compareItems(this.sorted[mid]!, v) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

function mapOptions<V>(o: OrderedListOptions<V>): LwwMapOptions<ListField<V>> {
  return {
    name: o.name,
    codec: listFieldCodec(o.codec),
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.kind ? { kind: o.kind } : {}),
    ...(o.now ? { now: o.now } : {}),
    ...(o.onError ? { onError: o.onError } : {}),
  }
}

function checkId(id: string): void {
  if (typeof id !== 'string' || id.length === 0 || new TextEncoder().encode(id).length > MAX_LIST_ID_BYTES)
    throw new RangeError(`an item id is 1 to ${MAX_LIST_ID_BYTES} bytes`)
}
