/** The batch stamp's Merkle tree, its proof codec and the verified-roots cache (stamp-proof.ts). */
import { sha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { concatBytes, equalBytes, toHex } from '../src/bytes.ts'
import { decodeWith, Reader } from '../src/codec.ts'
import { DecodeError } from '../src/errors.ts'
import {
  type BatchProof,
  batchRootPayload,
  batchStampSize,
  HASH_BYTES,
  isBatchProof,
  leafHash,
  leafInput,
  MAX_BATCH_STAMP_EXTRA,
  MAX_PROOF_DEPTH,
  MAX_STAMP_BATCH,
  merkleTree,
  proofDepth,
  putBatchStamp,
  readBatchStamp,
  rootFromProof,
  VerifiedRoots,
} from '../src/stamp-proof.ts'

const leafArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
/** A tree of 2..80 leaves and one index in it. */
const treeArb = fc
  .array(leafArb, { minLength: 2, maxLength: 80 })
  .chain((leaves) => fc.record({ leaves: fc.constant(leaves), index: fc.nat(leaves.length - 1) }))

/** RFC 9162 §2.1.1's Merkle Tree Hash, written out from the definition (the reference). */
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0]!
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  return sha256(concatBytes(Uint8Array.of(1), mth(leaves.slice(0, k)), mth(leaves.slice(k))))
}

const proofOf = (leaves: Uint8Array[], index: number): BatchProof => ({
  size: leaves.length,
  index,
  path: merkleTree(leaves).paths[index]!,
})

function encodeStampBytes(p: BatchProof, sig: Uint8Array = new Uint8Array(64).fill(7)): Uint8Array {
  const out = new Uint8Array(batchStampSize(p))
  expect(putBatchStamp(out, 0, p, sig)).toBe(out.length)
  return out
}

describe('Merkle tree (RFC 9162 shape)', () => {
  it('the root is the Merkle Tree Hash of the leaves, and every path leads to it', () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = Array.from({ length: n }, (_, i) => sha256(Uint8Array.of(i)))
      const { root, paths } = merkleTree(leaves)
      expect(toHex(root)).toBe(toHex(mth(leaves)))
      if (n === 1) continue
      paths.forEach((path, index) => {
        expect(path.length).toBe(proofDepth(index, n))
        expect(path.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)))
        expect(toHex(rootFromProof(leaves[index]!, { size: n, index, path })!)).toBe(toHex(root))
      })
    }
  })

  it('a leaf hashes 0x00 | payload and a node 0x01 | left | right (no leaf can pass for a node)', () => {
    const payload = Uint8Array.of(9, 8, 7)
    expect(toHex(leafHash(payload))).toBe(toHex(sha256(Uint8Array.of(0, 9, 8, 7))))
    expect(toHex(leafInput(Uint8Array.of(9), Uint8Array.of(8, 7)))).toBe('00090807')
    const [a, b] = [leafHash(Uint8Array.of(1)), leafHash(Uint8Array.of(2))]
    expect(toHex(merkleTree([a, b]).root)).toBe(toHex(sha256(concatBytes(Uint8Array.of(1), a, b))))
  })

  it(`paths are at most MAX_PROOF_DEPTH (${MAX_PROOF_DEPTH}) hashes for batches of up to ${MAX_STAMP_BATCH}`, () => {
    expect(2 ** MAX_PROOF_DEPTH).toBe(MAX_STAMP_BATCH)
    for (const size of [2, 3, 5, 64, 65, 1000, MAX_STAMP_BATCH])
      for (const index of [0, 1, size >> 1, size - 2, size - 1]) {
        const d = proofDepth(index, size)
        expect(d).toBeLessThanOrEqual(Math.ceil(Math.log2(size)))
        expect(d).toBeGreaterThanOrEqual(1)
      }
    expect(proofDepth(MAX_STAMP_BATCH - 1, MAX_STAMP_BATCH)).toBe(MAX_PROOF_DEPTH)
    expect(MAX_BATCH_STAMP_EXTRA).toBe(1 + 2 + 2 + HASH_BYTES * MAX_PROOF_DEPTH)
  })

  it('property: a changed leaf, sibling, index or size never yields the root', () => {
    fc.assert(
      fc.property(treeArb, fc.nat(), fc.nat(255), ({ leaves, index }, which, bit) => {
        const p = proofOf(leaves, index)
        const root = merkleTree(leaves).root
        expect(equalBytes(rootFromProof(leaves[index]!, p)!, root)).toBe(true)
        const flip = (b: Uint8Array) => {
          const c = b.slice()
          c[bit % 32]! ^= 1 << (bit % 8)
          return c
        }
        const yields = (leaf: Uint8Array, q: BatchProof) => {
          const r = rootFromProof(leaf, q)
          return r !== undefined && equalBytes(r, root)
        }
        expect(yields(flip(leaves[index]!), p)).toBe(false)
        const at = which % p.path.length
        expect(yields(leaves[index]!, { ...p, path: p.path.map((h, i) => (i === at ? flip(h) : h)) })).toBe(
          false,
        )
        // Another index whose path has the same length: the leaf lands elsewhere.
        const other = (index + 1 + (which % (leaves.length - 1))) % leaves.length
        if (other !== index && !equalBytes(leaves[other]!, leaves[index]!))
          expect(yields(leaves[index]!, { ...p, index: other })).toBe(false)
        // A size whose tree shape needs another path length cannot take this path at all.
        for (const size of [p.size - 1, p.size + 1])
          if (size >= 2 && index < size && proofDepth(index, size) !== p.path.length)
            expect(rootFromProof(leaves[index]!, { ...p, size })).toBeUndefined()
      }),
      { numRuns: 300 },
    )
  })

  it('refuses malformed proofs without throwing', () => {
    const leaves = [leafArb, leafArb, leafArb].map((_, i) => sha256(Uint8Array.of(i)))
    const p = proofOf(leaves, 1)
    for (const bad of [
      { ...p, size: 1 },
      { ...p, size: MAX_STAMP_BATCH + 1 },
      { ...p, index: 3 },
      { ...p, index: -1 },
      { ...p, index: 0.5 },
      { ...p, path: p.path.slice(1) },
      { ...p, path: [...p.path, p.path[0]!] },
      { ...p, path: [new Uint8Array(31), ...p.path.slice(1)] },
      { ...p, path: 'nope' },
      null,
    ]) {
      expect(isBatchProof(bad)).toBe(false)
      expect(rootFromProof(leaves[1]!, bad as BatchProof)).toBeUndefined()
    }
  })
})

describe('BatchStamp bytes', () => {
  it('property: encode/decode round-trips and is canonical', () => {
    fc.assert(
      fc.property(treeArb, fc.uint8Array({ minLength: 64, maxLength: 64 }), ({ leaves, index }, sig) => {
        const p = proofOf(leaves, index)
        const bytes = encodeStampBytes(p, sig)
        const back = decodeWith(bytes, readBatchStamp)
        expect(back.batch).toEqual(p)
        expect(back.relaySig).toEqual(sig)
        expect(toHex(encodeStampBytes(back.batch, back.relaySig))).toBe(toHex(bytes))
      }),
      { numRuns: 200 },
    )
  })

  it('property: decoding random bytes either fails with DecodeError or yields a well-formed proof', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => {
        try {
          const { batch } = decodeWith(concatBytes(Uint8Array.of(1), bytes), readBatchStamp)
          expect(isBatchProof(batch)).toBe(true)
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('bounds every field before reading it', () => {
    const read = (...b: number[]) => decodeWith(Uint8Array.from(b), readBatchStamp)
    expect(() => read(2, 2, 0)).toThrow(/unsupported batch stamp version 2/)
    expect(() => read(1, 1, 0)).toThrow(/at least 2 stamps/)
    expect(() => read(1, 0x81, 0x08, 0)).toThrow(/batch size 1025 exceeds limit 1024/)
    expect(() => read(1, 3, 3)).toThrow(/batch index 3 exceeds limit 2/)
    expect(() => read(1, 3, 0, ...new Uint8Array(40))).toThrow(/truncated batch path/)
    // A path of the right length (2 hashes for index 0 of 3) and a truncated signature.
    expect(() => read(1, 3, 0, ...new Uint8Array(64), ...new Uint8Array(63))).toThrow(/truncated relaySig/)
    expect(read(1, 3, 0, ...new Uint8Array(64), ...new Uint8Array(64)).batch.path).toHaveLength(2)
    // The path's length comes from (index, size): there is no length field to lie about.
    expect(() => read(1, 3, 2, ...new Uint8Array(64), ...new Uint8Array(64))).toThrow(/trailing/)
  })

  it('the root payload binds the version and the tree size', () => {
    const root = new Uint8Array(32).fill(5)
    expect(toHex(batchRootPayload(3, root))).toBe(`0103${'05'.repeat(32)}`)
    expect(toHex(batchRootPayload(300, root))).toBe(`01ac02${'05'.repeat(32)}`)
    expect(() => batchRootPayload(1, root)).toThrow(RangeError)
    expect(() => batchRootPayload(MAX_STAMP_BATCH + 1, root)).toThrow(RangeError)
    expect(() => batchRootPayload(3, new Uint8Array(31))).toThrow(RangeError)
  })

  it('the writer refuses a proof it could not read back', () => {
    const p = proofOf([sha256(Uint8Array.of(1)), sha256(Uint8Array.of(2))], 0)
    expect(() => putBatchStamp(new Uint8Array(200), 0, { ...p, index: 2 }, new Uint8Array(64))).toThrow(
      RangeError,
    )
    expect(() => putBatchStamp(new Uint8Array(200), 0, p, new Uint8Array(63))).toThrow(RangeError)
    const r = new Reader(encodeStampBytes(p))
    expect(readBatchStamp(r).batch).toEqual(p)
    expect(r.remaining).toBe(0)
  })
})

describe('VerifiedRoots', () => {
  const key = new Uint8Array(32).fill(1)
  const payload = batchRootPayload(2, new Uint8Array(32))
  const sig = new Uint8Array(64).fill(2)

  it('checks a (key, root, signature) once, sharing a check in flight', async () => {
    const roots = new VerifiedRoots(8)
    let calls = 0
    const check = async () => {
      calls++
      return true
    }
    const verdicts = await Promise.all(
      Array.from({ length: 10 }, () => roots.verify(key, payload, sig, check)),
    )
    expect(verdicts.every(Boolean)).toBe(true)
    expect(await roots.verify(key, payload, sig, check)).toBe(true)
    expect(calls).toBe(1)
    // Another signature, key or root is another entry.
    await roots.verify(
      key,
      payload,
      sig.map((b) => b ^ 1),
      check,
    )
    await roots.verify(sig.subarray(0, 32), payload, sig, check)
    await roots.verify(key, batchRootPayload(3, new Uint8Array(32)), sig, check)
    expect(calls).toBe(4)
  })

  it('forgets a failed or thrown check, and holds at most its bound', async () => {
    const roots = new VerifiedRoots(4)
    let calls = 0
    const answer = (ok: boolean) => async () => {
      calls++
      return ok
    }
    expect(await roots.verify(key, payload, sig, answer(false))).toBe(false)
    expect(
      await roots.verify(key, payload, sig, async () => {
        calls++
        throw new Error('backend down')
      }),
    ).toBe(false)
    expect(await roots.verify(key, payload, sig, answer(true))).toBe(true)
    expect(calls).toBe(3)
    for (let i = 0; i < 10; i++)
      await roots.verify(
        key,
        payload,
        sig.map((b) => b ^ i),
        async () => true,
      )
    expect(roots.size).toBe(4)
  })
})
