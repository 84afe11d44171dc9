/**
 * The idempotency cache: (author, clientNonce) -> the stamp the relay gave it, so that a
 * retried request gets the same id, relay signature and batch proof instead of a second event.
 *
 * It stores only the stamp (id, relay signature, batch proof) and a digest of the signed request,
 * never the body, so its memory is bounded by `maxEntries` x ~200 bytes plus the proofs' paths
 * (about two 32-byte hashes per entry: the events of a batch share its tree's nodes) whatever the
 * event sizes.
 * An entry is inserted as pending before the (asynchronous) signing so that two copies of a
 * request racing each other share one stamp.
 */
import type { BatchProof, StampedEvent, Ulid } from '@peerchat/engine'
import { BoundedCache } from '@peerchat/engine'

/** The relay's part of a stamped event: with the request, the whole event (`stampOf`, `withStamp`). */
export interface Stamp {
  id: Ulid
  relaySig: Uint8Array
  /** The event's place in a batch whose root `relaySig` signs; absent for a single stamp. */
  batch?: BatchProof
}

export function stampOf(e: StampedEvent): Stamp {
  return e.batch ? { id: e.id, relaySig: e.relaySig, batch: e.batch } : { id: e.id, relaySig: e.relaySig }
}

/** A request the relay refused after it was entered (bad signature, a policy at its id): not kept. */
export interface StampRefusal {
  refused: string
  message: string
}

/** What a pending entry resolves to; null is an unverified author signature. */
export type StampResult = Stamp | StampRefusal | null

interface Entry {
  requestDigest: string
  expires: number
  stamp: Promise<StampResult>
}

export type Lookup = { kind: 'miss' } | { kind: 'hit'; stamp: Promise<StampResult> } | { kind: 'conflict' }

export class IdempotencyCache {
  private readonly entries: BoundedCache<Entry>

  constructor(
    maxEntries: number,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = new BoundedCache(maxEntries)
  }

  static key(author: Uint8Array, clientNonce: Uint8Array): string {
    return latin1(author) + latin1(clientNonce)
  }

  lookup(key: string, requestDigest: string): Lookup {
    const e = this.entries.get(key)
    if (!e || e.expires <= this.now()) return { kind: 'miss' }
    return e.requestDigest === requestDigest ? { kind: 'hit', stamp: e.stamp } : { kind: 'conflict' }
  }

  /**
   * Records the pending stamp; a failed or refused one (resolving to anything but a `Stamp`) is
   * forgotten so a retry can succeed: a timeout ends, a session redeems its invite.
   */
  insert(key: string, requestDigest: string, stamp: Promise<StampResult>): void {
    const entry = { requestDigest, expires: this.now() + this.ttlMs, stamp }
    this.entries.set(key, entry)
    stamp.then(
      (s) => {
        if ((s === null || 'refused' in s) && this.entries.get(key) === entry) this.entries.delete(key)
      },
      () => this.entries.delete(key),
    )
  }

  get size(): number {
    return this.entries.size
  }
}

/** One char per byte, read in place (no copy). */
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1')
