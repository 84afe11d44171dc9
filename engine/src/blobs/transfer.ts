/**
 * One download: the pure state of fetching a blob named by a signed `BlobMeta`, chunk by
 * chunk, from one source at a time. No IO: the exchange sends what `nextGets` returns and
 * feeds back what arrives. Chunks already held survive a change of source (resumable), and
 * nothing outside the stamped size is ever asked for.
 */
import { concatBytes } from '../bytes.ts'
import { MAX_GET_CHUNKS } from './frames.ts'
import { type BlobMeta, blobMatches, chunkCount, chunkMatches, manifestMatches } from './manifest.ts'

export type ChunkVerdict = 'ok' | 'duplicate' | 'bad' | 'unexpected'

export interface GetRequest {
  first: number
  count: number
}

export class Transfer {
  readonly count: number
  hashes: Uint8Array[] | undefined
  /** The peer currently asked; undefined while looking for one. */
  source: string | undefined
  /** Peers that sent bad data for this blob: never asked again. */
  readonly banned = new Set<string>()
  /** Peers that timed out or were busy, with how often (asked again, after the others). */
  readonly failures = new Map<string, number>()
  /** Peers whose chunks were accepted (demoted together if the whole does not match). */
  readonly contributors = new Set<string>()
  private readonly chunks: (Uint8Array | undefined)[]
  private readonly inflight = new Set<number>()
  private held = 0
  /** Every chunk below this index is held: `nextGets` starts here, not at 0 (O(window) per chunk). */
  private firstMissing = 0
  private manifestAsked = false
  private delivered = false

  constructor(
    readonly meta: BlobMeta,
    /** Chunks requested and not yet arrived, at most. */
    readonly window = 16,
  ) {
    if (!Number.isSafeInteger(window) || window < 1) throw new RangeError('window must be a positive integer')
    this.count = chunkCount(meta.size)
    this.chunks = new Array(this.count)
    if (this.count === 0) this.hashes = []
  }

  get heldChunks(): number {
    return this.held
  }
  get complete(): boolean {
    return this.hashes !== undefined && this.held === this.count
  }
  get inflightChunks(): number {
    return this.inflight.size
  }

  /** Switches to `peer` (or to none): requests in flight are forgotten, chunks held are kept. */
  setSource(peer: string | undefined): void {
    this.source = peer
    this.inflight.clear()
    this.manifestAsked = false
    this.delivered = false
  }

  /** Whether the current source delivered a chunk since it was chosen or last retried. */
  get sourceDelivered(): boolean {
    return this.delivered
  }

  /** Keeps the source but forgets what is in flight (lost frames): asked again by `nextGets`. */
  retryInflight(): void {
    this.inflight.clear()
    this.delivered = false
  }

  /** Records a failure of the current source and drops it. */
  failSource(ban: boolean): void {
    const peer = this.source
    if (peer === undefined) return
    if (ban) this.banned.add(peer)
    else this.failures.set(peer, (this.failures.get(peer) ?? 0) + 1)
    this.setSource(undefined)
  }

  /** Whether to ask the source for the manifest now (once per source). */
  takeManifestRequest(): boolean {
    if (this.hashes !== undefined || this.source === undefined || this.manifestAsked) return false
    this.manifestAsked = true
    return true
  }

  acceptManifest(hashes: Uint8Array[]): 'ok' | 'duplicate' | 'bad' {
    if (this.hashes !== undefined) return 'duplicate'
    if (!manifestMatches(this.meta, hashes)) return 'bad'
    this.hashes = hashes
    return 'ok'
  }

  /** The next GETs for the source: missing chunks not in flight, in runs, up to the window. */
  nextGets(perGet = 8): GetRequest[] {
    const out: GetRequest[] = []
    if (this.hashes === undefined || this.source === undefined) return out
    const per = Math.min(perGet, MAX_GET_CHUNKS)
    let room = this.window - this.inflight.size
    let run: GetRequest | undefined
    for (let i = this.firstMissing; i < this.count && room > 0; i++) {
      if (this.chunks[i] !== undefined || this.inflight.has(i)) {
        run = undefined
        continue
      }
      if (!run || run.count === per) {
        run = { first: i, count: 0 }
        out.push(run)
      }
      run.count++
      this.inflight.add(i)
      room--
    }
    return out
  }

  /** Checks a chunk against the manifest and keeps it if it is missing and right. */
  acceptChunk(from: string, index: number, data: Uint8Array): ChunkVerdict {
    if (this.hashes === undefined || !Number.isSafeInteger(index) || index < 0 || index >= this.count)
      return 'unexpected'
    if (this.chunks[index] !== undefined) return 'duplicate'
    if (!chunkMatches(this.meta, this.hashes, index, data)) return 'bad'
    this.chunks[index] = data
    this.inflight.delete(index)
    this.held++
    while (this.firstMissing < this.count && this.chunks[this.firstMissing] !== undefined) this.firstMissing++
    this.contributors.add(from)
    if (from === this.source) this.delivered = true
    return 'ok'
  }

  /** The whole blob if complete and matching the stamped digest; undefined otherwise. */
  assemble(): Uint8Array | undefined {
    if (!this.complete) return undefined
    const bytes = concatBytes(...(this.chunks as Uint8Array[]))
    return blobMatches(this.meta, bytes) ? bytes : undefined
  }

  /** Forgets every chunk (after a whole-blob mismatch). */
  reset(): void {
    this.chunks.fill(undefined)
    this.held = 0
    this.firstMissing = 0
    this.hashes = this.count === 0 ? [] : undefined
    this.setSource(undefined)
  }
}

export interface SourceCandidate {
  peer: string
  virtual: boolean
  score: number
}

/**
 * Orders the peers that can serve a transfer: real clients before virtual ones, then fewer
 * failures for this blob, then higher score; banned peers are left out. `random` breaks ties.
 */
export function rankSources(
  t: Transfer,
  candidates: readonly SourceCandidate[],
  random: () => number,
): string[] {
  return candidates
    .filter((c) => !t.banned.has(c.peer))
    .map((c) => ({ ...c, fails: t.failures.get(c.peer) ?? 0, tie: random() }))
    .sort(
      (a, b) =>
        Number(a.virtual) - Number(b.virtual) || a.fails - b.fails || b.score - a.score || a.tie - b.tie,
    )
    .map((c) => c.peer)
}
