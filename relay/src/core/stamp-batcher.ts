/**
 * One relay signature per batch of stamps: the stamps asked for during one event-loop turn (up
 * to `maxBatch`) are signed together, over the Merkle root of their stamps, and each event
 * carries its proof (engine stamp-proof.ts, docs/protocol/identity-event.md §8). A turn with a
 * single stamp signs it alone — the bytes of an event before batches, with no wait and no proof —
 * so batches form only under load, when they save the most.
 *
 * A batch is flushed at the end of the turn (`setImmediate`: after every socket read of this
 * loop iteration has been handled) or as soon as it is full. Waiting for more load would add
 * latency for nothing: the signature costs the same whatever the batch.
 */
import { hash } from 'node:crypto'
import {
  appendStamp,
  encodeRequest,
  leafInput,
  MAX_STAMP_BATCH,
  type SignedRequest,
  type Signer,
  type StampedEvent,
  signStamps,
  type Ulid,
  ulidToBytes,
  withProof,
} from '@peerchat/engine'

export interface StampBatcherOptions {
  relay: Signer
  /** Stamps per signature, 1..MAX_STAMP_BATCH; 1 signs every stamp alone (no batches). */
  maxBatch: number
  /** Runs a flush at the end of this turn (default `setImmediate`). */
  defer?: (flush: () => void) => void
}

/** A stamped event and its encoded bytes (what the relay fans out). */
export interface Stamped {
  event: StampedEvent
  bytes: Uint8Array
}

interface Waiting {
  id: Ulid
  req: SignedRequest
  /** What the stamp's Merkle leaf hashes: 0x00 | stampPayload (id | Authored | authorSig). */
  leafInput: Uint8Array
  /** The stamp payload: a view of `leafInput` past its first byte. */
  payload: Uint8Array
  resolve: (stamped: Stamped) => void
  reject: (err: unknown) => void
}

/** SHA-256 by OpenSSL: 3x noble's speed on the relay's ~300-byte leaves (a plain Uint8Array view, no Buffer). */
function nativeSha256(data: Uint8Array): Uint8Array {
  const digest = hash('sha256', data, 'buffer')
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.length)
}

export class StampBatcher {
  readonly maxBatch: number
  private queue: Waiting[] = []
  private scheduled = false
  private readonly defer: (flush: () => void) => void

  constructor(private readonly opts: StampBatcherOptions) {
    this.maxBatch = Math.max(1, Math.min(Math.floor(opts.maxBatch) || 1, MAX_STAMP_BATCH))
    this.defer = opts.defer ?? setImmediate
  }

  /**
   * Signs the stamp of `req` at `id`: the event, with its proof when it shared a batch, and its
   * bytes. `requestBytes` is `encodeRequest(req)` when the caller has it already.
   */
  stamp(id: Ulid, req: SignedRequest, requestBytes: Uint8Array = encodeRequest(req)): Promise<Stamped> {
    // One buffer for the leaf's input and, past its first byte, the stamp payload.
    const leaf = leafInput(ulidToBytes(id), requestBytes)
    const payload = leaf.subarray(1)
    return new Promise((resolve, reject) => {
      this.queue.push({ id, req, leafInput: leaf, payload, resolve, reject })
      if (this.queue.length >= this.maxBatch) this.flush()
      else if (!this.scheduled) {
        this.scheduled = true
        this.defer(() => {
          this.scheduled = false
          this.flush()
        })
      }
    })
  }

  /** Stamps waiting for the end of the turn. */
  get waiting(): number {
    return this.queue.length
  }

  /** Signs what waits now (the end of the turn does it by itself). */
  flush(): void {
    const batch = this.queue
    if (batch.length === 0) return
    this.queue = []
    const leaves = batch.length > 1 ? batch.map((w) => nativeSha256(w.leafInput)) : undefined
    signStamps(
      this.opts.relay,
      batch.map((w) => w.payload),
      nativeSha256,
      leaves,
    ).then(
      (proofs) => {
        for (let i = 0; i < batch.length; i++) {
          const w = batch[i]!
          const proof = proofs[i]!
          w.resolve({ event: withProof(w.req, w.id, proof), bytes: appendStamp(w.payload, proof) })
        }
      },
      (err) => {
        for (const w of batch) w.reject(err)
      },
    )
  }
}
