import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { MeshPort } from '../src/mesh/port.ts'
import {
  decodeProtocolFrame,
  encodeProtocolFrame,
  MAX_PROTOCOL_ID,
  MUX_TAG,
  Protocol,
  protocolPort,
} from '../src/mesh/protocol.ts'
import { FakeMesh } from './blobs-mesh.ts'

const flush = () => new Promise((r) => setTimeout(r, 0))

function received(port: MeshPort): Uint8Array[] {
  const got: Uint8Array[] = []
  port.on('frame', ({ bytes }) => got.push(bytes))
  return got
}

describe('protocol ids on a mesh port', () => {
  it('delivers each frame only to its protocol, without the prefix', async () => {
    const mesh = new FakeMesh()
    const a = mesh.add('a')
    const b = mesh.add('b')
    const sync = received(protocolPort(b, Protocol.sync))
    const blobs = received(protocolPort(b, Protocol.blobs))
    protocolPort(a, Protocol.sync).send('b', Uint8Array.of(1, 2, 3))
    protocolPort(a, Protocol.blobs).send('b', Uint8Array.of(9))
    a.send('b', Uint8Array.of(0xb1, 1, 2)) // a bare frame of no protocol
    a.send('b', Uint8Array.of(MUX_TAG, 200, 1)) // a prefix longer than the frame
    await flush()
    expect(sync).toEqual([Uint8Array.of(1, 2, 3)])
    expect(blobs).toEqual([Uint8Array.of(9)])
  })

  it('keeps the port name, fallback flag, peers and bulk lane', () => {
    const mesh = new FakeMesh()
    const a = mesh.add('a')
    mesh.add('b')
    const view = protocolPort(Object.assign(a, { name: 'webrtc', fallback: false }), 'x/1')
    expect(view.name).toBe('webrtc')
    expect(view.fallback).toBe(false)
    expect([...view.peers().keys()]).toEqual(['b'])
    expect(view.sendBulk).toBeUndefined()
    const bulk: Uint8Array[] = []
    const withBulk = protocolPort(
      {
        ...a,
        peers: () => a.peers(),
        on: a.on.bind(a),
        send: a.send.bind(a),
        sendBulk: (_p, bytes) => bulk.push(bytes) > 0,
      },
      'x/1',
    )
    withBulk.sendBulk!('b', Uint8Array.of(7))
    expect(decodeProtocolFrame(bulk[0]!)).toEqual({ id: 'x/1', payload: Uint8Array.of(7) })
  })

  it('refuses protocol ids that are empty or too long', () => {
    const mesh = new FakeMesh()
    const a = mesh.add('a')
    expect(() => protocolPort(a, '')).toThrow(RangeError)
    expect(() => protocolPort(a, 'x'.repeat(MAX_PROTOCOL_ID + 1))).toThrow(RangeError)
    expect(() => protocolPort(a, 'x'.repeat(MAX_PROTOCOL_ID))).not.toThrow()
  })

  it('decodes what it encodes, and never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 10 }),
        fc.uint8Array({ maxLength: 64 }),
        (id, payload) => {
          expect(decodeProtocolFrame(encodeProtocolFrame(id, payload))).toEqual({ id, payload })
        },
      ),
      { numRuns: 200 },
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const f = decodeProtocolFrame(bytes)
        if (f) expect(f.id.length).toBeGreaterThan(0)
      }),
      { numRuns: 500 },
    )
  })
})
