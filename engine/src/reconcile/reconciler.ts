/**
 * Range-based set reconciliation of one channel log (negentropy-like, Meyer 2023), as a
 * transport-free state machine: `initiate()` makes the first frame, and each side feeds
 * what it receives to `receive()`, which returns the frame to send back (null: nothing).
 *
 * A range whose fingerprints differ is split by rank into `branching` parts; a range one
 * side holds few events of is listed by id. Events the peer lacks travel in the frames
 * themselves as soon as they are known: when the peer's count for a range is 0, or after
 * an id list. Frames never exceed `maxFrameBytes`: events beyond it wait for the next
 * turn (the `more` flag asks the peer for one), and ranges beyond it are folded into one
 * fingerprint of the remainder, which a later round splits again.
 */
import { equalBytes } from '../bytes.ts'
import { DecodeError, RejectedError } from '../errors.ts'
import type { ChannelLog } from '../log.ts'
import type { Source } from '../source.ts'
import type { Fingerprint, IdRange } from '../store/store.ts'
import { ULID_MIN, type Ulid } from '../ulid.ts'
import {
  type Bound,
  boundBetween,
  decodeFrame,
  encodeFrame,
  type Frame,
  headerSize,
  MAX_FRAME_BYTES,
  MAX_ID_LIST,
  Mode,
  rangeSize,
  type WireRange,
} from './frame.ts'
import { Outbox } from './outbox.ts'

/** Default frame size cap (bytes). */
export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024
/** Smallest accepted `maxFrameBytes`. */
export const MIN_FRAME_BYTES = 1024
/** Default number of parts a differing range is split into (4 minimises bytes per difference). */
export const DEFAULT_BRANCHING = 4
export const MAX_BRANCHING = 64
/** A side holding at most this many events of a differing range lists their ids instead of splitting. */
export const DEFAULT_ID_LIST_THRESHOLD = 8

export interface ReconcilerOptions {
  /** Sync only this range (scroll-back); default the whole log. */
  range?: IdRange
  maxFrameBytes?: number
  branching?: number
  idListThreshold?: number
  /**
   * Answer a frame that carries only events (and announces more) before storing them, so the
   * peer prepares its next frame while this side verifies and stores (one frame at a time).
   * Their `added`/`rejected` counts then come with the next `receive` result. Default false.
   */
  pipeline?: boolean
  /** Tags the events this session stores (the log passes it to its listeners). */
  source?: Source
}

export interface ReceiveResult {
  reply: Uint8Array | null
  /** Events from this frame newly stored / refused by the log (plus those of a pipelined frame before it). */
  added: number
  rejected: number
  /** Nothing further is expected from either side unless the peer sends again. */
  done: boolean
}

export interface ReconcileStats {
  framesOut: number
  bytesOut: number
  eventsSent: number
  eventsReceived: number
  /** Frames received. */
  rounds: number
}

/** Output ranges with consecutive skips merged and a running byte count. */
class RangeWriter {
  readonly ranges: WireRange[] = []
  bytes = 0
  open = false

  skip(upper: Bound): void {
    const last = this.ranges[this.ranges.length - 1]
    if (last?.mode === Mode.skip) {
      this.bytes -= rangeSize(last)
      last.upper = upper
      this.bytes += rangeSize(last)
    } else this.push({ upper, mode: Mode.skip })
  }

  push(range: WireRange): void {
    if (range.mode === Mode.skip) {
      const last = this.ranges[this.ranges.length - 1]
      if (last?.mode === Mode.skip) {
        this.skip(range.upper)
        return
      }
    } else this.open = true
    this.ranges.push(range)
    this.bytes += rangeSize(range)
  }
}

const rangeKey = (lower: Ulid, upper: Bound): string => `${lower}-${upper ?? ''}`

export class Reconciler {
  readonly stats: ReconcileStats = { framesOut: 0, bytesOut: 0, eventsSent: 0, eventsReceived: 0, rounds: 0 }
  private readonly maxFrameBytes: number
  private readonly branching: number
  private readonly threshold: number
  private readonly limit: IdRange | undefined
  /** The sync range: `opts.range` for the initiator, the first frame's for a responder. */
  private lower: Ulid | undefined
  private upper: Bound = null
  private established = false
  private readonly outbox: Outbox
  /** Ids we listed in our last frame, per range: the peer's `need` bits index into them. */
  private listed = new Map<string, Ulid[]>()
  private readonly pipeline: boolean
  private readonly add: { source?: Source }
  /** The add of the last pipelined frame, its counts, and its error (raised by the next receive). */
  private adding: Promise<void> | undefined
  private pendingAdded = 0
  private pendingRejected = 0
  private addError: { error: unknown } | undefined

  constructor(
    private readonly log: ChannelLog,
    opts: ReconcilerOptions = {},
  ) {
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.branching = opts.branching ?? DEFAULT_BRANCHING
    this.threshold = opts.idListThreshold ?? DEFAULT_ID_LIST_THRESHOLD
    this.pipeline = opts.pipeline ?? false
    this.add = opts.source ? { source: opts.source } : {}
    if (
      !Number.isInteger(this.maxFrameBytes) ||
      this.maxFrameBytes < MIN_FRAME_BYTES ||
      this.maxFrameBytes > MAX_FRAME_BYTES
    )
      throw new RangeError(`maxFrameBytes must be an integer in [${MIN_FRAME_BYTES}, ${MAX_FRAME_BYTES}]`)
    if (!Number.isInteger(this.branching) || this.branching < 2 || this.branching > MAX_BRANCHING)
      throw new RangeError(`branching must be an integer in [2, ${MAX_BRANCHING}]`)
    if (!Number.isInteger(this.threshold) || this.threshold < 0 || this.threshold > MAX_ID_LIST)
      throw new RangeError(`idListThreshold must be an integer in [0, ${MAX_ID_LIST}]`)
    // Progress needs at least one range's answer to fit in a frame, with room to spare.
    if (this.worstAnswerBytes() * 2 + headerSize(ULID_MIN) + 64 > this.maxFrameBytes)
      throw new RangeError('maxFrameBytes is too small for this branching and idListThreshold')
    const { gte, lt } = opts.range ?? {}
    if (gte !== undefined && lt !== undefined && gte >= lt) throw new RangeError('the sync range is empty')
    this.limit = opts.range
    this.outbox = new Outbox(log.store, log.channel)
  }

  /** The first frame, from the initiating side: one fingerprint (or id list) of the whole range. */
  async initiate(): Promise<Uint8Array> {
    if (this.established) throw new Error('initiate() may only be called once, before any receive()')
    this.established = true
    this.lower = this.limit?.gte ?? ULID_MIN
    this.upper = this.limit?.lt ?? null
    const w = new RangeWriter()
    const whole = this.idRange(this.lower, this.upper)
    const mine = await this.log.fingerprint(whole)
    // One fingerprint for the whole range: when nothing differs, that is the whole cost.
    if (mine.count <= this.listMax) await this.describe(whole, this.upper, mine, w)
    else w.push({ upper: this.upper, mode: Mode.fingerprint, fingerprint: mine })
    return this.emit({ more: false, lower: this.lower, ranges: w.ranges, events: [] })
  }

  async receive(bytes: Uint8Array): Promise<ReceiveResult> {
    if (!(bytes instanceof Uint8Array)) throw new RejectedError('malformed', 'a frame must be bytes')
    if (bytes.length > MAX_FRAME_BYTES)
      throw new RejectedError('tooLarge', `frame of ${bytes.length} bytes > ${MAX_FRAME_BYTES}`)
    let frame: Frame
    try {
      frame = decodeFrame(bytes)
    } catch (e) {
      if (e instanceof DecodeError) throw new RejectedError('malformed', e.message)
      throw e
    }
    this.adoptRange(frame)
    this.stats.rounds++
    const lower = this.lower!
    // Whatever a pipelined frame added is settled (and counted) before anything else.
    await this.settle()
    let added = this.pendingAdded
    let rejected = this.pendingRejected
    this.pendingAdded = this.pendingRejected = 0
    if (frame.events.length > 0) {
      this.stats.eventsReceived += frame.events.length
      // Events only, more to come, nothing owed: the answer is an empty frame whatever they hold.
      if (this.pipeline && frame.more && frame.ranges.length === 0 && this.outbox.empty) {
        this.adding = this.log.addEncoded(frame.events, this.add).then(
          (r) => {
            this.pendingAdded += r.added.length
            this.pendingRejected += r.rejected.length
          },
          (error: unknown) => {
            this.addError = { error }
          },
        )
      } else {
        const result = await this.log.addEncoded(frame.events, this.add)
        added += result.added.length
        rejected += result.rejected.length
      }
    }
    const previouslyListed = this.listed
    this.listed = new Map()
    const w = new RangeWriter()
    if (frame.ranges.length > 0) await this.answer(frame.ranges, previouslyListed, w)
    const ranges = w.open ? w.ranges : []
    const room = this.maxFrameBytes - headerSize(lower)
    const events = await this.outbox.fill(room - (w.open ? w.bytes : 0), room)
    const more = !this.outbox.empty
    const done = !w.open && !more && !frame.more
    if (done && events.length === 0) return { reply: null, added, rejected, done }
    return { reply: this.emit({ more, lower, ranges, events }), added, rejected, done }
  }

  /** Waits for the last pipelined add; rethrows its error (the session is then dead). */
  private async settle(): Promise<void> {
    if (this.adding) {
      await this.adding
      this.adding = undefined
    }
    if (this.addError) throw this.addError.error
  }

  /** The responder learns the sync range from the first frame; later frames must agree. */
  private adoptRange(frame: Frame): void {
    const last = frame.ranges[frame.ranges.length - 1]
    if (!this.established) {
      if (!last) throw new RejectedError('malformed', 'the first frame must describe a range')
      if (this.limit && !contains(this.limit, frame.lower, last.upper))
        throw new RejectedError('outOfRange', 'the peer asked for a range outside this reconciler')
      this.lower = frame.lower
      this.upper = last.upper
      this.established = true
      return
    }
    if (frame.lower !== this.lower || (last && last.upper !== this.upper))
      throw new RejectedError('malformed', 'frame range differs from the sync range')
  }

  private async answer(incoming: WireRange[], listed: Map<string, Ulid[]>, w: RangeWriter): Promise<void> {
    const budget = this.maxFrameBytes - headerSize(this.lower!)
    const reserve = this.worstAnswerBytes() + REMAINDER_BYTES
    let lower = this.lower!
    for (const r of incoming) {
      const range = this.idRange(lower, r.upper)
      if (w.bytes + reserve > budget) {
        // Out of room: everything from here on becomes one fingerprint, split again later.
        const rest = this.idRange(lower, this.upper)
        w.push({ upper: this.upper, mode: Mode.fingerprint, fingerprint: await this.log.fingerprint(rest) })
        return
      }
      switch (r.mode) {
        case Mode.skip:
          w.skip(r.upper)
          break
        case Mode.fingerprint:
          await this.onFingerprint(range, r.upper, r.fingerprint, w)
          break
        case Mode.idList:
          await this.onIdList(range, r.upper, r.ids, w)
          break
        case Mode.need:
          this.onNeed(listed.get(rangeKey(lower, r.upper)), r.listed, r.bits)
          w.skip(r.upper)
          break
      }
      lower = r.upper ?? lower
    }
  }

  private async onFingerprint(
    range: IdRange,
    upper: Bound,
    theirs: Fingerprint,
    w: RangeWriter,
  ): Promise<void> {
    const mine = await this.log.fingerprint(range)
    if (mine.count === theirs.count && equalBytes(mine.hash, theirs.hash)) return w.skip(upper)
    if (theirs.count === 0) {
      // The peer holds nothing here: send it all, no questions.
      if (mine.count > 0) this.outbox.sendRange(range)
      return w.skip(upper)
    }
    await this.describe(range, upper, mine, w)
  }

  /** Our view of a range that differs: an id list when small, else `branching` fingerprints. */
  private async describe(range: IdRange, upper: Bound, mine: Fingerprint, w: RangeWriter): Promise<void> {
    if (mine.count <= this.listMax) {
      const ids = (await this.log.store.getRange(this.log.channel, range)).map((s) => s.event.id)
      this.listed.set(rangeKey(range.gte ?? ULID_MIN, upper), ids)
      return w.push({ upper, mode: Mode.idList, ids })
    }
    const parts = Math.min(this.branching, mine.count)
    const ranks: number[] = []
    for (let i = 1; i < parts; i++) {
      const cut = Math.floor((mine.count * i) / parts)
      ranks.push(cut - 1, cut)
    }
    const ids = await this.log.store.idsAtRanks(this.log.channel, range, ranks)
    let lower = range.gte ?? ULID_MIN
    for (let i = 0; i < parts; i++) {
      const partUpper = i < parts - 1 ? boundBetween(ids[2 * i]!, ids[2 * i + 1]!) : upper
      const part = this.idRange(lower, partUpper)
      w.push({ upper: partUpper, mode: Mode.fingerprint, fingerprint: await this.log.fingerprint(part) })
      if (partUpper !== null) lower = partUpper
    }
  }

  private async onIdList(range: IdRange, upper: Bound, theirs: Ulid[], w: RangeWriter): Promise<void> {
    this.outbox.sendRange(range, new Set(theirs))
    const bits = new Uint8Array(Math.ceil(theirs.length / 8))
    let wanted = false
    for (let i = 0; i < theirs.length; i++) {
      if (await this.log.store.has(this.log.channel, theirs[i]!)) continue
      bits[i >> 3]! |= 1 << (i & 7)
      wanted = true
    }
    if (wanted) w.push({ upper, mode: Mode.need, listed: theirs.length, bits })
    else w.skip(upper)
  }

  private onNeed(ids: Ulid[] | undefined, listed: number, bits: Uint8Array): void {
    if (!ids || ids.length !== listed)
      throw new RejectedError('malformed', 'need refers to an id list this side did not send')
    const wanted = ids.filter((_, i) => (bits[i >> 3]! >> (i & 7)) & 1)
    this.outbox.sendIds(wanted)
  }

  /** Listing is forced at one item: a single item cannot be split, and two sides could bounce it. */
  private get listMax(): number {
    return Math.max(this.threshold, 1)
  }

  private idRange(lower: Ulid, upper: Bound): IdRange {
    const range: IdRange = lower === ULID_MIN ? {} : { gte: lower }
    if (upper !== null) range.lt = upper
    return range
  }

  /** The largest answer one incoming range can produce. */
  private worstAnswerBytes(): number {
    const fingerprintRange = 1 + 17 + 1 + 9 + 16
    return Math.max(
      this.branching * fingerprintRange,
      1 + 17 + 1 + 3 + 16 * this.listMax,
      1 + 17 + 1 + 3 + MAX_ID_LIST / 8,
    )
  }

  private emit(frame: Frame): Uint8Array {
    const bytes = encodeFrame(frame)
    this.stats.framesOut++
    this.stats.bytesOut += bytes.length
    this.stats.eventsSent += frame.events.length
    return bytes
  }
}

/** A remainder fingerprint's size: bound + mode + count + hash. */
const REMAINDER_BYTES = 1 + 17 + 1 + 9 + 16

function contains(outer: IdRange, lower: Ulid, upper: Bound): boolean {
  if (outer.gte !== undefined && lower < outer.gte) return false
  if (outer.lt !== undefined && (upper === null || upper > outer.lt)) return false
  return true
}
