/**
 * Batched stamps: the relay signs one Merkle root over the stamps of a batch, and each event
 * carries its leaf index and the path from its leaf to that root (docs/protocol/identity-event.md §8).
 *
 *   leaf      = SHA-256(0x00 | id | Authored | authorSig)          the single stamp's payload
 *   node      = SHA-256(0x01 | left | right)                       RFC 9162 §2.1.1 tree shape
 *   BatchRoot = version:u8 (= 1) | size:varuint | root:32
 *   rootSig   = Sign_relay("stamp-batch", BatchRoot)
 *   BatchStamp = version:u8 (= 1) | size:varuint | index:varuint | path:32 × depth(index, size) | rootSig:64
 *
 * This module is the tree and the proof's bytes; event.ts puts them in the event. A batch is
 * 2..MAX_STAMP_BATCH stamps (a batch of one is a single stamp, with no proof), so a path has at
 * most MAX_PROOF_DEPTH hashes. The path's length is a function of (index, size), so the bytes
 * of a proof are canonical.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { abytes, equalBytes } from './bytes.ts'
import { putVarUint, type Reader, varUintSize } from './codec.ts'
import { DecodeError } from './errors.ts'
import { BoundedCache, bytesKey } from './identity/cache.ts'

export const STAMP_BATCH_VERSION = 1
/** Most stamps one relay signature may cover (a protocol bound; the relay's default batch is smaller). */
export const MAX_STAMP_BATCH = 1024
/** Hashes in the longest path: ceil(log2(MAX_STAMP_BATCH)). */
export const MAX_PROOF_DEPTH = 10
export const HASH_BYTES = 32
const SIGNATURE_BYTES = 64
/** Bytes a batch stamp adds to an event over a single stamp's 64, at most (version, size, index, path). */
export const MAX_BATCH_STAMP_EXTRA =
  1 + varUintSize(MAX_STAMP_BATCH) + varUintSize(MAX_STAMP_BATCH - 1) + HASH_BYTES * MAX_PROOF_DEPTH

/** Where an event sits in its batch: the relay's signature (`relaySig`) is over the batch's root. */
export interface BatchProof {
  /** Stamps in the batch, 2..MAX_STAMP_BATCH. */
  size: number
  /** This event's leaf, 0..size - 1 (the batch's order: id order). */
  index: number
  /** Sibling hashes from the leaf up to the root, `proofDepth(index, size)` of them. */
  path: readonly Uint8Array[]
}

/**
 * SHA-256; the relay passes a native one, peers use the portable default. It returns a new
 * array and keeps nothing of `data` (which may be a buffer reused for the next call).
 */
export type Hash = (data: Uint8Array) => Uint8Array
export const defaultHash: Hash = (data) => sha256(data)

const LEAF = 0x00
const NODE = 0x01

/**
 * What a leaf hashes: `0x00 | payload`, the payload given in parts (a caller that builds it first
 * has the payload as a view past its first byte, with no copy).
 */
export function leafInput(...payload: Uint8Array[]): Uint8Array {
  let length = 1
  for (const part of payload) length += part.length
  const m = new Uint8Array(length)
  m[0] = LEAF
  let o = 1
  for (const part of payload) {
    m.set(part, o)
    o += part.length
  }
  return m
}

/** The leaf of a stamp: `payload` is the single stamp's signed payload (event.ts `stampPayload`). */
export function leafHash(payload: Uint8Array, hash: Hash = defaultHash): Uint8Array {
  return hash(leafInput(payload))
}

/** One buffer for every node's input: hashing is synchronous, and 65 bytes would be a heap allocation each. */
const nodeInput = new Uint8Array(1 + 2 * HASH_BYTES)
nodeInput[0] = NODE

function nodeHash(left: Uint8Array, right: Uint8Array, hash: Hash): Uint8Array {
  nodeInput.set(left, 1)
  nodeInput.set(right, 1 + HASH_BYTES)
  return hash(nodeInput)
}

/** Largest power of two strictly below n (n >= 2): where RFC 9162 splits a tree of n leaves. */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** Hashes in the path of leaf `index` of a tree of `size` leaves (RFC 9162 §2.1.3.2, without hashing). */
export function proofDepth(index: number, size: number): number {
  let fn = index
  let sn = size - 1
  let depth = 0
  while (sn > 0) {
    if (fn % 2 === 0 && fn === sn) {
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
    depth++
  }
  return depth
}

/** The root of `leaves` and every leaf's path to it (leaf order kept); at least one leaf. */
export function merkleTree(
  leaves: readonly Uint8Array[],
  hash: Hash = defaultHash,
): { root: Uint8Array; paths: Uint8Array[][] } {
  if (leaves.length === 0) throw new RangeError('a Merkle tree needs at least one leaf')
  const paths = leaves.map(() => [] as Uint8Array[])
  const build = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leaves[lo]!
    const mid = lo + split(hi - lo)
    const left = build(lo, mid)
    const right = build(mid, hi)
    for (let i = lo; i < mid; i++) paths[i]!.push(right)
    for (let i = mid; i < hi; i++) paths[i]!.push(left)
    return nodeHash(left, right, hash)
  }
  return { root: build(0, leaves.length), paths }
}

/**
 * The root that `leaf` and its proof hash to (RFC 9162 §2.1.3.2), or undefined when the proof
 * cannot be one of a tree of that size (wrong index or path length). Never throws on peer data.
 */
export function rootFromProof(
  leaf: Uint8Array,
  p: BatchProof,
  hash: Hash = defaultHash,
): Uint8Array | undefined {
  if (!isBatchProof(p)) return undefined
  let fn = p.index
  let sn = p.size - 1
  let r = leaf
  for (const sibling of p.path) {
    if (sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(sibling, r, hash)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else r = nodeHash(r, sibling, hash)
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : undefined
}

/** Whether `p` is a well-formed proof object (types, bounds, path length); its hashes are not checked. */
export function isBatchProof(p: unknown): p is BatchProof {
  if (typeof p !== 'object' || p === null) return false
  const { size, index, path } = p as BatchProof
  return (
    Number.isInteger(size) &&
    size >= 2 &&
    size <= MAX_STAMP_BATCH &&
    Number.isInteger(index) &&
    index >= 0 &&
    index < size &&
    Array.isArray(path) &&
    path.length === proofDepth(index, size) &&
    path.every((h) => h instanceof Uint8Array && h.length === HASH_BYTES)
  )
}

/** What the relay signs for a batch (domain `stamp-batch`): the root and the tree's size. */
export function batchRootPayload(size: number, root: Uint8Array): Uint8Array {
  if (!Number.isInteger(size) || size < 2 || size > MAX_STAMP_BATCH)
    throw new RangeError(`a batch holds 2..${MAX_STAMP_BATCH} stamps`)
  abytes(root, HASH_BYTES, 'root')
  const out = new Uint8Array(1 + varUintSize(size) + HASH_BYTES)
  out[0] = STAMP_BATCH_VERSION
  out.set(root, putVarUint(out, 1, size))
  return out
}

/** Bytes of `BatchStamp` for a proof and its root signature. */
export function batchStampSize(p: BatchProof): number {
  return 1 + varUintSize(p.size) + varUintSize(p.index) + HASH_BYTES * p.path.length + SIGNATURE_BYTES
}

/** Writes `BatchStamp` at `o` of a buffer sized with `batchStampSize`; returns the next offset. */
export function putBatchStamp(out: Uint8Array, o: number, p: BatchProof, rootSig: Uint8Array): number {
  if (!isBatchProof(p)) throw new RangeError('malformed batch proof')
  abytes(rootSig, SIGNATURE_BYTES, 'relaySig')
  out[o++] = STAMP_BATCH_VERSION
  o = putVarUint(out, o, p.size)
  o = putVarUint(out, o, p.index)
  for (const h of p.path) {
    out.set(h, o)
    o += HASH_BYTES
  }
  out.set(rootSig, o)
  return o + SIGNATURE_BYTES
}

/** Reads `BatchStamp`; every length is bounded before anything is allocated. */
export function readBatchStamp(r: Reader): { batch: BatchProof; relaySig: Uint8Array } {
  const version = r.u8('batch stamp version')
  if (version !== STAMP_BATCH_VERSION) throw new DecodeError(`unsupported batch stamp version ${version}`)
  const size = r.varUint(MAX_STAMP_BATCH, 'batch size')
  if (size < 2) throw new DecodeError('a batch holds at least 2 stamps')
  const index = r.varUint(size - 1, 'batch index')
  const depth = proofDepth(index, size) // <= MAX_PROOF_DEPTH since size <= MAX_STAMP_BATCH
  const path: Uint8Array[] = []
  for (let i = 0; i < depth; i++) path.push(r.bytes(HASH_BYTES, 'batch path'))
  return { batch: { size, index, path }, relaySig: r.bytes(SIGNATURE_BYTES, 'relaySig') }
}

export function sameProof(a: BatchProof | undefined, b: BatchProof | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return (
    a.size === b.size &&
    a.index === b.index &&
    a.path.length === b.path.length &&
    a.path.every((h, i) => equalBytes(h, b.path[i]!))
  )
}

/** Roots remembered as verified by default: with batches of <= 64 stamps, 64k events' worth. */
export const VERIFIED_ROOTS_MAX = 1024

/**
 * Root signatures already verified, so a batch's other events cost a path check only. Keyed by
 * the relay key, the exact signature and the signed BatchRoot; a check in flight is shared (the
 * events of one batch are verified concurrently), and only successes are kept.
 */
export class VerifiedRoots {
  private readonly entries: BoundedCache<Promise<boolean>>

  constructor(max: number = VERIFIED_ROOTS_MAX) {
    this.entries = new BoundedCache(max)
  }

  get size(): number {
    return this.entries.size
  }

  /** `check` verifies the signature; it runs only when this triple is not known to verify. */
  verify(
    relayKey: Uint8Array,
    rootPayload: Uint8Array,
    rootSig: Uint8Array,
    check: () => Promise<boolean>,
  ): Promise<boolean> {
    const key = bytesKey(relayKey) + bytesKey(rootSig) + bytesKey(rootPayload)
    const known = this.entries.get(key)
    if (known) return known
    const pending = check().then(
      (ok) => {
        if (!ok) this.entries.delete(key)
        return ok
      },
      () => {
        this.entries.delete(key)
        return false
      },
    )
    this.entries.set(key, pending)
    return pending
  }
}
