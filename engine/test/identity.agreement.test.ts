/**
 * Every backend must give the same verify answer on every input, hostile ones included,
 * or replicas that use different backends would diverge. verifySignature applies the
 * policy (policy.ts) before the backend; these tests show the policy closes the gaps.
 */
import * as ed from '@noble/ed25519'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../src/bytes.ts'
import type { Ed25519Backend } from '../src/identity/backend.ts'
import { Domain, signedMessage } from '../src/identity/domains.ts'
import { nobleBackend } from '../src/identity/noble.ts'
import { verifySignature } from '../src/identity/verify.ts'
import { webcryptoBackend } from '../src/identity/webcrypto.ts'
import { nodeCryptoBackend } from '../src/node/ed25519-node.ts'
import {
  CASE_KINDS,
  type Case,
  craft,
  describeCase,
  NON_CANONICAL_SMALL_ORDER_HEX,
  nonCanonicalYEncodings,
  SMALL_ORDER_HEX,
  T8,
} from './vectors/ed25519-adversarial.ts'

const BACKENDS: Ed25519Backend[] = [nobleBackend, webcryptoBackend, nodeCryptoBackend]
const DOMAINS = Object.values(Domain)

async function answers(domain: Domain, c: Pick<Case, 'publicKey' | 'payload' | 'signature'>) {
  return Promise.all(BACKENDS.map((b) => verifySignature(domain, c.publicKey, c.payload, c.signature, b)))
}

/** Asserts all backends agree (and match `expected` when given); never throws on its own input. */
async function expectAgreement(domain: Domain, c: Case): Promise<void> {
  const got = await answers(domain, c)
  const first = got[0]
  const why = `${describeCase(c)} domain=${domain} answers=${got.join(',')}`
  expect(
    got.every((x) => x === first),
    why,
  ).toBe(true)
  if (c.expected !== undefined) expect(first, why).toBe(c.expected)
}

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })

describe('small-order points', () => {
  it('the 8 canonical encodings are exactly the multiples of the order-8 generator', () => {
    const multiples = Array.from({ length: 8 }, (_, i) =>
      toHex(T8.multiply(BigInt(i) || 8n, false).toBytes()),
    )
    expect(new Set(multiples)).toEqual(new Set(SMALL_ORDER_HEX))
    for (const hex of SMALL_ORDER_HEX) expect(ed.Point.fromHex(hex).isSmallOrder()).toBe(true)
  })

  it('the non-canonical ones decode only leniently (ZIP-215), to small-order points', () => {
    for (const hex of NON_CANONICAL_SMALL_ORDER_HEX) {
      expect(() => ed.Point.fromHex(hex, false)).toThrow()
      expect(ed.Point.fromHex(hex, true).isSmallOrder()).toBe(true)
    }
  })
})

describe('verifySignature agrees across backends', () => {
  it('refuses every crafted forgery for each small-order or non-canonical key, in every domain', async () => {
    const keys = [...SMALL_ORDER_HEX, ...NON_CANONICAL_SMALL_ORDER_HEX]
    for (let i = 0; i < keys.length; i++) {
      const c = craft(
        'smallOrderKey',
        DOMAINS[i % DOMAINS.length]!,
        new Uint8Array(32).fill(i),
        Uint8Array.of(i),
        i,
      )
      expect(toHex(c.publicKey)).toBe(keys[i])
      await expectAgreement(DOMAINS[i % DOMAINS.length]!, c)
    }
    for (const [i, pub] of nonCanonicalYEncodings().entries()) {
      const c = craft('nonCanonicalKey', Domain.event, new Uint8Array(32).fill(i), Uint8Array.of(i), i)
      expect(c.publicKey).toEqual(pub)
      await expectAgreement(Domain.event, c)
    }
  })

  it('property: crafted adversarial inputs give the same, expected answer everywhere', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CASE_KINDS),
        fc.constantFrom(...DOMAINS),
        bytes(32),
        fc.uint8Array({ maxLength: 48 }),
        fc.nat(),
        async (kind, domain, seed, payload, bit) => {
          await expectAgreement(domain, craft(kind, domain, seed, payload, bit))
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('property: random keys, signatures and payloads (any lengths) never throw and agree', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...DOMAINS),
        fc.oneof(bytes(32), fc.uint8Array({ maxLength: 40 })),
        fc.oneof(bytes(64), fc.uint8Array({ maxLength: 70 })),
        fc.uint8Array({ maxLength: 64 }),
        async (domain, publicKey, signature, payload) => {
          await expectAgreement(domain, { kind: 'random', publicKey, payload, signature })
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('many verifications in flight at once (shared key imports) each get their own right answer', async () => {
    const cases = Array.from({ length: 400 }, (_, i) =>
      craft(
        i % 3 === 0 ? 'flipSignature' : 'honest',
        Domain.event,
        new Uint8Array(32).fill(i % 5),
        Uint8Array.of(i),
        i,
      ),
    )
    for (const b of BACKENDS) {
      const got = await Promise.all(
        cases.map((c) => verifySignature(Domain.event, c.publicKey, c.payload, c.signature, b)),
      )
      expect(got).toEqual(cases.map((c) => c.expected))
    }
  })

  it('returns false (not an exception) for values that are not bytes', async () => {
    const good = craft('honest', Domain.event, new Uint8Array(32), new Uint8Array(4), 0)
    for (const b of BACKENDS) {
      const bad = [null, undefined, 'x', 42, [1, 2], {}] as unknown as Uint8Array[]
      for (const x of bad) {
        expect(await verifySignature(Domain.event, x, good.payload, good.signature, b)).toBe(false)
        expect(await verifySignature(Domain.event, good.publicKey, x, good.signature, b)).toBe(false)
        expect(await verifySignature(Domain.event, good.publicKey, good.payload, x, b)).toBe(false)
      }
      expect(await verifySignature(Domain.event, good.publicKey, good.payload, good.signature, b)).toBe(true)
    }
  })
})

describe('why the policy exists', () => {
  it('noble verify with its ZIP-215 default accepts a torsion-carrying R that we refuse', async () => {
    const c = craft('torsionR', Domain.event, new Uint8Array(32).fill(7), new Uint8Array(3), 2)
    const msg = signedMessage(Domain.event, c.payload)
    expect(ed.verify(c.signature, msg, c.publicKey)).toBe(true) // cofactored, zip215
    expect(await answers(Domain.event, c)).toEqual([false, false, false])
  })

  it('raw OpenSSL accepts a forgery for a small-order key; verifySignature refuses it', async () => {
    const c = craft('smallOrderKey', Domain.event, new Uint8Array(32), new Uint8Array(0), 0)
    const msg = signedMessage(Domain.event, c.payload)
    expect(toHex(c.signature.subarray(32))).toBe('00'.repeat(32)) // S = 0: no secret was used
    expect(await nodeCryptoBackend.verify(c.publicKey, msg, c.signature)).toBe(true)
    expect(await answers(Domain.event, c)).toEqual([false, false, false])
  })

  it('raw backends disagree on a non-canonical small-order key; verifySignature does not', async () => {
    // Key 10 of the crafted list is y = p + 1 (a non-canonical identity): OpenSSL reduces y mod p,
    // noble (strict decoding) refuses it.
    const c = craft('smallOrderKey', Domain.event, new Uint8Array(32), new Uint8Array(0), 10)
    expect(toHex(c.publicKey)).toBe(NON_CANONICAL_SMALL_ORDER_HEX[2])
    const msg = signedMessage(Domain.event, c.payload)
    const raw = await Promise.all(BACKENDS.map((b) => b.verify(c.publicKey, msg, c.signature)))
    expect(raw).toEqual([false, true, true]) // noble, webcrypto, node:crypto
    expect(await answers(Domain.event, c)).toEqual([false, false, false])
  })

  it('a mixed-order key passes the policy and verifies only when 8 divides k, on every backend', async () => {
    const outcomes = new Set<boolean>()
    for (let i = 0; i < 48 && outcomes.size < 2; i++) {
      const c = craft('mixedOrderKey', Domain.event, new Uint8Array(32).fill(i), fromHex('0102'), i)
      await expectAgreement(Domain.event, c)
      outcomes.add(c.expected!)
    }
    expect(outcomes).toEqual(new Set([true, false]))
  })
})
