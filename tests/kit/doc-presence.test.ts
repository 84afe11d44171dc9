/**
 * Cursors in a document (issue #15): DocPresence on the memory network. Who is shown where comes
 * from the port's authenticated key, never from the frame; spoofed and malformed frames change
 * nothing.
 */
import { encodeProtocolFrame, Identity, Protocol, publicKeyToText } from '@peerchat/engine'
import { DocPresence, decodeDocPresence, encodeDocPresence } from '@peerchat/engine/docs'
import { useNodeCrypto } from '@peerchat/engine/node'
import { silentLogger, startRelay } from '@peerchat/relay'
import { asPeerId, RelayClient, RelayForwardTransport } from '@peerchat/transports'
import { MemoryNetwork, type MemoryTransport } from '@peerchat/transports/memory'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import * as Y from 'yjs'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A person with the canvas of #general open, on the network as `id`. */
async function editor(net: MemoryNetwork, id: string, name: string, doc = 'canvas') {
  const who = await Identity.generate()
  const transport: MemoryTransport = net.transport(id, { info: { key: who.publicKey } })
  await transport.start()
  const ydoc = new Y.Doc()
  const names = new Map<string, string>()
  const presence = new DocPresence(
    { doc: ydoc, channel: 'general', name: doc },
    { nameOf: (k) => names.get(publicKeyToText(k)) ?? '?' },
  )
  names.set(publicKeyToText(who.publicKey), name)
  const detach = presence.attach(transport)
  cleanups.push(async () => {
    detach()
    presence.destroy()
    await transport.stop()
  })
  const text = ydoc.getText('markdown')
  /** Puts this editor's cursor at `index` (as y-codemirror.next does). */
  const cursorAt = (index: number) => {
    const pos = Y.createRelativePositionFromTypeIndex(text, index)
    presence.awareness.setLocalStateField('cursor', { anchor: pos, head: pos })
  }
  /** Others' cursors as this editor resolves them: name -> index. */
  const seen = () => {
    const out: Record<string, number | null> = {}
    for (const [id, s] of presence.awareness.getStates()) {
      if (id === presence.awareness.clientID || !s.cursor) continue
      // As y-codemirror.next reads it: the JSON object itself, not through the JSON decoder.
      const abs = Y.createAbsolutePositionFromRelativePosition(s.cursor.head, ydoc)
      out[s.user.name] = abs?.index ?? null
    }
    return out
  }
  return { who, transport, ydoc, text, presence, cursorAt, seen, names }
}

describe('DocPresence', () => {
  it("shows each editor's cursor to the others, named by their authenticated key, and drops it when they close", async () => {
    const net = new MemoryNetwork({ link: { latency: { min: 1, max: 5 } } })
    const [ann, bob, cy] = [
      await editor(net, 'a', 'Ann'),
      await editor(net, 'b', 'Bob'),
      await editor(net, 'c', 'Cy'),
    ]
    for (const e of [ann, bob, cy])
      for (const o of [ann, bob, cy])
        e.names.set(publicKeyToText(o.who.publicKey), o.names.get(publicKeyToText(o.who.publicKey))!)
    // One shared text, so positions resolve alike everywhere.
    ann.text.insert(0, 'Agenda: budget, venue, date')
    const update = Y.encodeStateAsUpdate(ann.ydoc)
    for (const e of [bob, cy]) Y.applyUpdate(e.ydoc, update)
    ann.cursorAt(27) // the end of the text: a position with no item
    bob.cursorAt(16)
    await vi.waitFor(() => expect(cy.seen()).toEqual({ Ann: 27, Bob: 16 }))
    await vi.waitFor(() => expect(ann.seen()).toEqual({ Bob: 16 }))
    // A frame claiming to be Ann's name cannot rename Bob: names come from keys.
    bob.presence.awareness.setLocalStateField('user', { name: 'Ann', color: 'red' })
    bob.cursorAt(20)
    await vi.waitFor(() => expect(cy.seen()).toEqual({ Ann: 27, Bob: 20 }))
    // Bob closes the canvas: his cursor goes at once, not after the 30 s awareness timeout.
    bob.presence.destroy()
    await vi.waitFor(() => expect(cy.seen()).toEqual({ Ann: 27 }))
  })

  it('sends a burst of cursor moves as at most one frame per throttle window, the last position winning', async () => {
    const net = new MemoryNetwork({ link: { latency: { min: 0, max: 0 } } })
    const [ann, bob] = [await editor(net, 'a', 'Ann'), await editor(net, 'b', 'Bob')]
    ann.text.insert(0, 'x'.repeat(100))
    Y.applyUpdate(bob.ydoc, Y.encodeStateAsUpdate(ann.ydoc))
    await vi.waitFor(() => expect(ann.presence.stats.sent).toBeGreaterThan(0))
    const before = ann.presence.stats.sent
    for (let i = 0; i < 50; i++) ann.cursorAt(i)
    await vi.waitFor(() => expect(Object.values(bob.seen())).toEqual([49]))
    expect(ann.presence.stats.sent - before).toBeLessThanOrEqual(3)
  })

  it('refuses frames for a client id another peer claimed, and ignores other documents', async () => {
    const net = new MemoryNetwork({ link: { latency: { min: 0, max: 0 } } })
    const ann = await editor(net, 'a', 'Ann')
    const bob = await editor(net, 'b', 'Bob')
    const eve = await editor(net, 'e', 'Eve')
    ann.cursorAt(0)
    await vi.waitFor(() => expect(Object.keys(bob.seen())).toContain('?'))
    const refused = bob.presence.stats.refused
    // Eve replays Ann's client id with a higher clock: Bob keeps Ann's state.
    const spoof = encodeDocPresence({
      channel: 'general',
      doc: 'canvas',
      clientID: ann.presence.awareness.clientID,
      clock: 1_000,
      state: null,
    })
    eve.transport.send(asPeerId('b'), encodeProtocolFrame(Protocol.docPresence, spoof))
    const other = encodeDocPresence({
      channel: 'general',
      doc: 'notes',
      clientID: 7,
      clock: 1,
      state: { cursor: null },
    })
    eve.transport.send(asPeerId('b'), encodeProtocolFrame(Protocol.docPresence, other))
    await vi.waitFor(() => expect(bob.presence.stats.refused).toBe(refused + 1))
    expect(bob.presence.awareness.getStates().has(ann.presence.awareness.clientID)).toBe(true)
    expect(bob.presence.awareness.getStates().has(7)).toBe(false)
  })

  it('decodes any bytes to a sanitized frame or a DecodeError, never anything else', () => {
    const valid = encodeDocPresence({
      channel: 'general',
      doc: 'canvas',
      clientID: 3,
      clock: 2,
      state: {
        cursor: {
          anchor: { type: null, tname: 'markdown', item: { client: 3, clock: 1 }, assoc: 0 },
          head: { type: null, tname: 'markdown', item: null, assoc: 0 },
        },
      },
    })
    expect(decodeDocPresence(valid).state?.cursor?.head).toEqual({
      type: null,
      tname: 'markdown',
      item: null,
      assoc: 0,
    })
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
            const m = valid.slice()
            m[i] = b
            return m
          }),
        ),
        (bytes) => {
          try {
            const f = decodeDocPresence(bytes)
            expect(f.state === null || typeof f.state === 'object').toBe(true)
          } catch (e) {
            expect((e as Error).name).toBe('DecodeError')
          }
        },
      ),
      { numRuns: 2_000 },
    )
  })
})

describe('DocPresence over the relay forwarding (no WebRTC)', () => {
  it('carries cursors between two sessions of a real relay, named by their keys', async () => {
    useNodeCrypto()
    const relay = await startRelay({
      relay: await Identity.generate(),
      port: 0,
      channels: ['general'],
      log: silentLogger,
    })
    cleanups.push(() => relay.stop())
    const side = async (name: string) => {
      const who = await Identity.generate()
      const client = new RelayClient({
        url: `${relay.url}/relay`,
        identity: who,
        relayKey: relay.relayKey,
        channels: ['general'],
        WebSocket: WebSocket as never,
      })
      const transport = new RelayForwardTransport(client, ['general'], { ownsClient: true })
      await transport.start()
      const ydoc = new Y.Doc()
      const presence = new DocPresence(
        { doc: ydoc, channel: 'general', name: 'canvas' },
        { nameOf: () => name },
      )
      const detach = presence.attach(transport)
      cleanups.push(async () => {
        detach()
        presence.destroy()
        await transport.stop()
      })
      return { ydoc, presence, transport, who }
    }
    const ann = await side('Ann')
    const bob = await side('Bob')
    ann.ydoc.getText('markdown').insert(0, 'over the relay')
    Y.applyUpdate(bob.ydoc, Y.encodeStateAsUpdate(ann.ydoc))
    await vi.waitFor(() => expect(ann.transport.peers().size).toBe(1))
    const pos = Y.createRelativePositionFromTypeIndex(ann.ydoc.getText('markdown'), 5)
    ann.presence.awareness.setLocalStateField('cursor', { anchor: pos, head: pos })
    await vi.waitFor(
      () => {
        const state = bob.presence.awareness.getStates().get(ann.presence.awareness.clientID)
        expect(state?.user?.name).toBe('Bob') // bob's nameOf names every key 'Bob' here: the frame's own name is not used
        expect(Y.createAbsolutePositionFromRelativePosition(state?.cursor.head, bob.ydoc)?.index).toBe(5)
      },
      { timeout: 10_000 },
    )
    expect(bob.presence.stats.received).toBeGreaterThan(0)
  })
})
