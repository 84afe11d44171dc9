/** The frozen wire example, checked against an independent reading of the spec (raw node:crypto). */
import { describe, expect, it } from 'vitest'
import { concatBytes, fromHex, toHex, utf8 } from '../src/bytes.ts'
import {
  decodeEvent,
  decodeRequest,
  encodeAuthored,
  encodeEvent,
  eventDigest,
  signRequest,
  stamp,
} from '../src/event.ts'
import { Identity } from '../src/identity/keys.ts'
import { nodeCryptoBackend } from '../src/node/ed25519-node.ts'
import { parseUlid, ulidToBytes } from '../src/ulid.ts'
import { rawVerify } from './signature-fixtures.ts'
import { EVENT_VECTOR as V } from './vectors/peerchat-event.ts'

describe('frozen event vector', () => {
  it('our encoder produces exactly the vector bytes', async () => {
    const author = await Identity.fromSeed(fromHex(V.authorSeed), nodeCryptoBackend)
    const relay = await Identity.fromSeed(fromHex(V.relaySeed), nodeCryptoBackend)
    expect(toHex(author.publicKey)).toBe(V.authorPub)
    expect(author.export()).toBe(V.authorKeyText)
    expect(toHex(relay.publicKey)).toBe(V.relayPub)
    const req = await signRequest(author, {
      channel: V.channel,
      kind: V.kind,
      clientNonce: fromHex(V.clientNonce),
      body: fromHex(V.body),
    })
    expect(toHex(encodeAuthored(req))).toBe(V.authored)
    expect(toHex(req.authorSig)).toBe(V.authorSig)
    const ev = await stamp(relay, parseUlid(V.id), req)
    expect(ev.ts).toBe(V.ts)
    expect(toHex(ev.relaySig)).toBe(V.relaySig)
    expect(toHex(encodeEvent(ev))).toBe(V.idHex + V.authored + V.authorSig + V.relaySig)
    expect(toHex(eventDigest(ev))).toBe(V.digest)
  })

  it('the signatures verify over the documented messages with plain node:crypto', () => {
    const authorMsg = concatBytes(utf8('peerchat/1/event\0'), fromHex(V.authored))
    expect(rawVerify(V.authorPub, authorMsg, V.authorSig)).toBe(true)
    const stampMsg = concatBytes(utf8('peerchat/1/stamp\0'), fromHex(V.idHex + V.authored + V.authorSig))
    expect(rawVerify(V.relayPub, stampMsg, V.relaySig)).toBe(true)
    expect(toHex(ulidToBytes(parseUlid(V.id)))).toBe(V.idHex)
  })

  it('decoders read the vector bytes back', () => {
    const ev = decodeEvent(fromHex(V.idHex + V.authored + V.authorSig + V.relaySig))
    expect(ev).toMatchObject({ id: V.id, ts: V.ts, channel: V.channel, kind: V.kind })
    expect(toHex(ev.body)).toBe(V.body)
    expect(decodeRequest(fromHex(V.authored + V.authorSig)).channel).toBe(V.channel)
  })
})
