/** Identities: domain-separated signing, the key text format, and backend equivalence. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toBase64url, utf8 } from '../src/bytes.ts'
import type { Ed25519Backend } from '../src/identity/backend.ts'
import { Domain, signedMessage } from '../src/identity/domains.ts'
import { Identity, publicKeyFromText, publicKeyToText, shortKey } from '../src/identity/keys.ts'
import { nobleBackend } from '../src/identity/noble.ts'
import { defaultBackend } from '../src/identity/select.ts'
import { verifySignature } from '../src/identity/verify.ts'
import { webcryptoBackend } from '../src/identity/webcrypto.ts'
import { nodeCryptoBackend, useNodeCrypto } from '../src/node/index.ts'

const BACKENDS: Ed25519Backend[] = [nobleBackend, webcryptoBackend, nodeCryptoBackend]
const DOMAINS = Object.values(Domain)
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })

describe('domain separation', () => {
  it('the signed message is "peerchat/1/" + domain + 0x00 + payload', () => {
    const payload = Uint8Array.of(1, 2, 3)
    for (const d of DOMAINS)
      expect(signedMessage(d, payload)).toEqual(Uint8Array.of(...utf8(`peerchat/1/${d}\0`), 1, 2, 3))
    expect(DOMAINS).toEqual([
      'login',
      'event',
      'stamp',
      'stamp-batch',
      'session',
      'token',
      'invite',
      'checkpoint',
      'sdp',
      'mls-credential',
    ])
    expect(() => signedMessage('chat' as Domain, payload)).toThrow(TypeError)
  })

  it('a signature for one domain verifies there and fails for every other, on every backend', async () => {
    const id = await Identity.fromSeed(new Uint8Array(32).fill(1), nodeCryptoBackend)
    const payload = utf8('same payload bytes')
    for (const signed of DOMAINS) {
      const sig = await id.sign(signed, payload)
      for (const checked of DOMAINS)
        for (const b of BACKENDS)
          expect(
            await verifySignature(checked, id.publicKey, payload, sig, b),
            `${signed} as ${checked} on ${b.name}`,
          ).toBe(signed === checked)
    }
  })

  it('verifySignature answers false, never throws, for an unknown domain or ill-typed input', async () => {
    const id = await Identity.fromSeed(new Uint8Array(32).fill(1), nodeCryptoBackend)
    const payload = utf8('same payload bytes')
    const sig = await id.sign(Domain.event, payload)
    const hostile: [unknown, unknown, unknown, unknown][] = [
      ['chat', id.publicKey, payload, sig],
      ['', id.publicKey, payload, sig],
      ['__proto__', id.publicKey, payload, sig],
      [undefined, id.publicKey, payload, sig],
      [{ toString: () => 'event' }, id.publicKey, payload, sig],
      [Domain.event, 'not bytes', payload, sig],
      [Domain.event, id.publicKey, payload, null],
      [Domain.event, id.publicKey, 'payload', sig],
    ]
    for (const [domain, key, bytes, signature] of hostile)
      for (const b of BACKENDS)
        await expect(
          verifySignature(
            domain as Domain,
            key as Uint8Array,
            bytes as Uint8Array,
            signature as Uint8Array,
            b,
          ),
          `${String(domain)} on ${b.name}`,
        ).resolves.toBe(false)
    expect(await verifySignature(Domain.event, id.publicKey, payload, sig)).toBe(true)
  })
})

describe('backends are interchangeable', () => {
  it('property: same public key and byte-identical signatures from every backend', async () => {
    await fc.assert(
      fc.asyncProperty(
        seedArb,
        fc.constantFrom(...DOMAINS),
        fc.uint8Array({ maxLength: 200 }),
        async (seed, d, payload) => {
          const ids = await Promise.all(BACKENDS.map((b) => Identity.fromSeed(seed, b)))
          const sigs = await Promise.all(ids.map((id) => id.sign(d, payload)))
          for (let i = 1; i < ids.length; i++) {
            expect(ids[i]!.publicKey).toEqual(ids[0]!.publicKey)
            expect(sigs[i]).toEqual(sigs[0])
          }
          for (const b of BACKENDS)
            expect(await verifySignature(d, ids[0]!.publicKey, payload, sigs[0]!, b)).toBe(true)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('useNodeCrypto makes node:crypto the default backend', async () => {
    useNodeCrypto()
    expect((await defaultBackend()).name).toBe('node:crypto')
  })

  it('fromSeed checks its input and keeps its own copy of the seed', async () => {
    await expect(Identity.fromSeed(new Uint8Array(31), nobleBackend)).rejects.toThrow(RangeError)
    await expect(Identity.fromSeed('seed' as unknown as Uint8Array, nobleBackend)).rejects.toThrow(TypeError)
    const seed = new Uint8Array(32).fill(5)
    const id = await Identity.fromSeed(seed, nodeCryptoBackend)
    const before = id.export()
    seed.fill(0)
    expect(id.export()).toBe(before)
  })
})

describe('secret key text', () => {
  it('property: export -> import round-trips, across backends', async () => {
    await fc.assert(
      fc.asyncProperty(seedArb, async (seed) => {
        const id = await Identity.fromSeed(seed, nodeCryptoBackend)
        const text = id.export()
        expect(text).toMatch(/^peerchat-secret-key-v1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/)
        expect(text).toBe(`peerchat-secret-key-v1.${toBase64url(seed)}.${publicKeyToText(id.publicKey)}`)
        const back = await Identity.import(`  ${text}\n`, webcryptoBackend)
        expect(back.publicKey).toEqual(id.publicKey)
        expect(back.export()).toBe(text)
      }),
      { numRuns: 50 },
    )
  })

  it('says what is wrong with corrupted text', async () => {
    const text = (await Identity.fromSeed(new Uint8Array(32).fill(9), nodeCryptoBackend)).export()
    const [, seed, pub] = text.split('.')
    const cases: [string, RegExp][] = [
      ['', /not a peerchat secret key/],
      [text.replace('v1', 'v2'), /not a peerchat secret key/],
      [`peerchat-secret-key-v1.${seed}`, /truncated or has extra parts/],
      [`${text}.extra`, /truncated or has extra parts/],
      [`peerchat-secret-key-v1.${seed!.slice(0, 40)}.${pub}`, /wrong lengths|base64url/],
      [`peerchat-secret-key-v1.${seed!.slice(0, 42)}!.${pub}`, /invalid base64url character at 42/],
      [`peerchat-secret-key-v1.${seed}.${pub!.slice(0, 42)}B`, /does not match its seed|trailing bits/],
      [`peerchat-secret-key-v1.${pub}.${pub}`, /does not match its seed/],
    ]
    for (const [bad, why] of cases)
      await expect(Identity.import(bad, nodeCryptoBackend), bad).rejects.toThrow(why)
    await expect(Identity.import(42 as unknown as string)).rejects.toThrow(TypeError)
  })

  it('property: any one-character change to the text is refused with a RangeError', async () => {
    const text = (await Identity.fromSeed(new Uint8Array(32).fill(4), nodeCryptoBackend)).export()
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_. '
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: text.length - 1 }), fc.constantFrom(...alphabet), async (i, c) => {
        fc.pre(text[i] !== c)
        const bad = text.slice(0, i) + c + text.slice(i + 1)
        await expect(Identity.import(bad, nodeCryptoBackend)).rejects.toThrow(RangeError)
      }),
      { numRuns: 400 },
    )
  })
})

describe('public key text', () => {
  it('is 43 base64url characters; refuses other lengths', async () => {
    const id = await Identity.fromSeed(new Uint8Array(32).fill(2), nodeCryptoBackend)
    const text = publicKeyToText(id.publicKey)
    expect(text).toHaveLength(43)
    expect(publicKeyFromText(text)).toEqual(id.publicKey)
    expect(shortKey(id.publicKey)).toBe(text.slice(0, 8))
    expect(() => publicKeyFromText(text.slice(0, 42))).toThrow(RangeError)
    expect(() => publicKeyFromText(`${text}AAAA`)).toThrow(/32 bytes/)
    expect(() => publicKeyToText(new Uint8Array(33))).toThrow(RangeError)
  })
})
