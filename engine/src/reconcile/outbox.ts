/**
 * Events owed to the peer, read from the store lazily and packed into frames up to a byte
 * budget. A whole range (possibly 100,000 events for a fresh replica) is a cursor, not a list.
 */

import { CHECKPOINT_KIND } from '../checkpoint.ts'
import { varUintSize } from '../codec.ts'
import { LimitError } from '../errors.ts'
import { encodeEvent } from '../event.ts'
import type { IdRange, Store } from '../store/store.ts'
import { type Ulid, ulidSuccessor } from '../ulid.ts'

/** Events read from the store per step while filling a frame. */
const PAGE = 64

type Owed = { range: IdRange; exclude?: ReadonlySet<Ulid> } | { ids: Ulid[] }

export class Outbox {
  private readonly queue: Owed[] = []

  constructor(
    private readonly store: Store,
    private readonly channel: string,
  ) {}

  get empty(): boolean {
    return this.queue.length === 0
  }

  /** Every event in `range` except the ids in `exclude`. */
  sendRange(range: IdRange, exclude?: ReadonlySet<Ulid>): void {
    this.queue.push(exclude ? { range: { ...range }, exclude } : { range: { ...range } })
  }

  sendIds(ids: Ulid[]): void {
    if (ids.length > 0) this.queue.push({ ids: [...ids] })
  }

  /**
   * Encoded events whose framed size (length prefix included) totals at most `budget`.
   * `frameRoom` is the room of a frame without ranges: an event larger than that can never
   * be sent (LimitError); a smaller one that does not fit now waits for the next frame.
   *
   * A full frame ends right after the last relay checkpoint it carries (the events after it
   * wait for the next frame), so the receiver gets each checkpoint with all the events it
   * covers and can hash them instead of checking their signatures (see ChannelLog).
   */
  async fill(budget: number, frameRoom: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    let left = budget
    const take = (bytes: Uint8Array): boolean => {
      const size = varUintSize(bytes.length) + bytes.length
      if (size > frameRoom)
        throw new LimitError(`an event of ${bytes.length} bytes cannot fit in a frame`, 'maxFrameBytes')
      if (size > left) return false
      out.push(bytes)
      left -= size
      return true
    }
    /** Where the current range cursor stood right after the last checkpoint taken into this frame. */
    let rewind: { head: Owed; at: number; gte: Ulid | undefined } | undefined
    while (this.queue.length > 0) {
      const head = this.queue[0]!
      if ('ids' in head) {
        const id = head.ids[0]!
        // The event may have been replaced (dedup) since it was owed: then it is skipped.
        const [found] = await this.store.getRange(this.channel, { gte: id }, { limit: 1 })
        if (found?.event.id === id && !take(encodeEvent(found.event))) return out
        head.ids.shift()
        if (head.ids.length === 0) this.queue.shift()
        continue
      }
      const page = await this.store.getRange(this.channel, head.range, { limit: PAGE })
      for (const { event } of page) {
        if (!head.exclude?.has(event.id) && !take(encodeEvent(event))) {
          if (rewind?.head === head && rewind.at < out.length) {
            out.length = rewind.at
            head.range.gte = rewind.gte
          }
          return out
        }
        const next = ulidSuccessor(event.id)
        if (next === undefined) break // the largest possible id: nothing can follow
        head.range.gte = next
        if (event.kind === CHECKPOINT_KIND && !head.exclude?.has(event.id))
          rewind = { head, at: out.length, gte: next }
      }
      const last = page[page.length - 1]
      if (page.length < PAGE || ulidSuccessor(last!.event.id) === undefined) this.queue.shift()
    }
    return out
  }
}
