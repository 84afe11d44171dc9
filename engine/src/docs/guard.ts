/**
 * Guarding Yjs against untrusted updates. Yjs 13.6.x decodes updates without limits (yjs
 * issue #687: crafted run-length fields loop forever or exhaust memory; #498/#479: empty or
 * garbage input used to hang), so an update from a peer passes a guard before it touches a
 * document:
 *
 * 1. `validateUpdate` (pure): size caps, then a structural decode of the V1 update inside
 *    try/catch with bounds on structs, clocks and delete ranges, refusing sub-documents. V2
 *    decoders (the RLE ones #687 abuses) are never run on peer input. `checkUpdate` adds a
 *    trial apply into a throwaway document.
 * 2. An `UpdateGuard` decides where `checkUpdate` runs. `inlineGuard` runs it here: cheap,
 *    but a Yjs bug we have not anticipated could still freeze this thread. The off-thread
 *    guards (`createWorkerGuard` in `@peerchat/engine/node`, `createWebWorkerGuard` for
 *    browsers, both built on thread-guard.ts) run it in a worker under a deadline (and, in
 *    Node, a heap cap). All give the same verdict for the same bytes.
 */
import * as Y from 'yjs'
import { DocLimits } from './body.ts'

export interface UpdateLimits {
  /** Bytes of one update. Default: `DocLimits.yjsUpdate` (an update inside one event). */
  maxBytes: number
  /** Structs (items, GC and skip runs) in one update. Default 16,384. */
  maxStructs: number
  /** Highest clock a struct or delete range may reach (clocks count characters typed). Default 2^31. */
  maxClock: number
  /** Delete ranges in one update's delete set. Default 16,384. */
  maxDeleteRanges: number
}

export const DEFAULT_UPDATE_LIMITS: Readonly<UpdateLimits> = {
  maxBytes: DocLimits.yjsUpdate,
  maxStructs: 16_384,
  maxClock: 2 ** 31,
  maxDeleteRanges: 16_384,
}

/** Snapshots carry a whole compacted document, so their caps are larger. */
export const SNAPSHOT_UPDATE_LIMITS: Readonly<UpdateLimits> = {
  maxBytes: 8 * 1024 * 1024,
  maxStructs: 1_000_000,
  maxClock: 2 ** 31,
  maxDeleteRanges: 1_000_000,
}

export type GuardVerdict = { ok: true } | { ok: false; reason: string }

/**
 * Refusals that depend on this machine (speed, memory, a worker that is gone), not on the
 * bytes. Every other refusal is a pure function of the update and the limits, so all peers
 * agree on it; these are not final, and the update may be checked again when redelivered.
 */
export const TRANSIENT_REFUSALS: ReadonlySet<string> = new Set([
  'timeout',
  'worker-died',
  'worker-unavailable',
  'closed',
])

/** Decides whether an untrusted update may be applied. Never throws for hostile input. */
export interface UpdateGuard {
  check(update: Uint8Array, limits?: Readonly<UpdateLimits>): Promise<GuardVerdict>
  /** Releases workers and timers; idempotent. */
  close(): void
}

const reject = (reason: string): GuardVerdict => ({ ok: false, reason })

/** The pure validation pass: bounded, synchronous, no document touched. */
export function validateUpdate(
  update: Uint8Array,
  limits: Readonly<UpdateLimits> = DEFAULT_UPDATE_LIMITS,
): GuardVerdict {
  if (!(update instanceof Uint8Array)) return reject('not-bytes')
  if (update.length === 0) return reject('empty') // yjs #498: an empty update used to hang
  if (update.length > limits.maxBytes) return reject('too-large')
  let decoded: ReturnType<typeof Y.decodeUpdate>
  try {
    decoded = Y.decodeUpdate(update)
  } catch {
    return reject('malformed')
  }
  // Our publishers never send an update that changes nothing; bytes that decode to nothing are
  // foreign (the yjs #687 V2 samples decode this way as V1), so refuse them.
  if (decoded.structs.length === 0 && decoded.ds.clients.size === 0) return reject('no-op')
  if (decoded.structs.length > limits.maxStructs) return reject('too-many-structs')
  for (const s of decoded.structs) {
    if (!(s.id.clock + s.length <= limits.maxClock)) return reject('clock-out-of-range')
    if (s instanceof Y.Item && s.content instanceof Y.ContentDoc) return reject('subdocument')
  }
  let ranges = 0
  for (const list of decoded.ds.clients.values()) {
    ranges += list.length
    if (ranges > limits.maxDeleteRanges) return reject('too-many-deletes')
    for (const d of list) if (!(d.clock + d.len <= limits.maxClock)) return reject('clock-out-of-range')
  }
  return { ok: true }
}

/**
 * The full check every guard runs: `validateUpdate`, then a trial apply into a throwaway
 * document. Yjs decodes again (differently) inside `applyUpdate` and may throw half-way
 * through integrating; an update that would do so on an empty document is refused here,
 * before it can leave a real document half-changed. The verdict depends only on the bytes
 * and the limits, so peers using different guards still agree.
 */
export function checkUpdate(
  update: Uint8Array,
  limits: Readonly<UpdateLimits> = DEFAULT_UPDATE_LIMITS,
): GuardVerdict {
  const verdict = validateUpdate(update, limits)
  if (!verdict.ok) return verdict
  try {
    // A fixed guid: generating a random one costs more than the apply itself.
    Y.applyUpdate(new Y.Doc({ gc: false, guid: 'peerchat-guard' }), update)
  } catch {
    return { ok: false, reason: 'apply-failed' }
  }
  return verdict
}

/**
 * Runs `checkUpdate` in the calling thread. The caps bound its work by the input size, but
 * it cannot be preempted: prefer an off-thread guard where one is available.
 */
export const inlineGuard: UpdateGuard = {
  check: async (update, limits) => checkUpdate(update, limits),
  close() {},
}
