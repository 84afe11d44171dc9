/**
 * The projections wired to the real log: two replicas take the same signed history (chat and
 * a notes document, plus forged events) through `ChannelLog` in different orders and batches;
 * the log verifies and rejects the forgeries and keeps one copy of a retried send, the
 * ChannelView and DocHandle fed from `onAdded` end identical, and the view names the bodies
 * storage must erase.
 */
import {
  ChannelLog,
  Identity,
  MemoryStore,
  monotonicUlid,
  type StampedEvent,
  signRequest,
  stamp,
} from '@peerchat/engine'
import { ChannelView, encodeEdit, encodeMessage, encodeRedact, Kind, Role } from '@peerchat/engine/chat'
import { openDoc, snapshot } from '@peerchat/engine/docs'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'

useNodeCrypto()

describe('ChannelLog -> ChannelView + DocHandle', () => {
  it('replicas converge through the verifying log; forged events never reach a projection', async () => {
    const relay = await Identity.fromSeed(new Uint8Array(32).fill(50))
    const impostor = await Identity.fromSeed(new Uint8Array(32).fill(51))
    const user = (n: number) => Identity.fromSeed(new Uint8Array(32).fill(n))
    const mod = await user(1)
    const alice = await user(2)
    const bob = await user(3)
    const nextId = monotonicUlid()
    let nonce = 0
    const send = async (who: Identity, kind: string, body: Uint8Array, by: Identity = relay) => {
      const clientNonce = new Uint8Array(16)
      new DataView(clientNonce.buffer).setUint32(12, ++nonce)
      return stamp(by, nextId(), await signRequest(who, { channel: 'general', kind, body, clientNonce }))
    }

    const history: StampedEvent[] = []
    const m1 = await send(alice, Kind.message, encodeMessage({ text: 'hello', mentions: [] }))
    const m2 = await send(bob, Kind.message, encodeMessage({ text: 'spam', mentions: [], replyTo: m1.id }))
    history.push(m1, m2)
    history.push(await send(alice, Kind.edit, encodeEdit({ target: m1.id, text: 'hello, world' })))
    history.push(await send(mod, Kind.redact, encodeRedact({ target: m2.id, reason: 'spam' })))
    // A retried send stamped twice: the log keeps the smaller id, the view must follow.
    const retried = await stamp(relay, nextId(), m1)
    history.push(retried)
    // A shared notes document in the same channel, written by alice through a DocHandle.
    const writer = openDoc(
      'general',
      'notes',
      {
        publish: async (_channel, kind, body) => {
          history.push(await send(alice, kind, body))
        },
      },
      { batchMs: 60_000 },
    )
    writer.doc.getText('page').insert(0, 'agenda')
    await writer.flush()
    // Forgeries: stamped by a key that is not the relay.
    const forged = [
      await send(bob, Kind.edit, encodeEdit({ target: m1.id, text: 'forged' }), impostor),
      await send(bob, Kind.redact, encodeRedact({ target: m1.id }), impostor),
    ]

    const roles = (key: Uint8Array) =>
      new Set(key.every((b, i) => b === mod.publicKey[i]) ? [Role.moderator] : [])
    const replica = () => {
      const log = new ChannelLog({
        channel: 'general',
        store: new MemoryStore(),
        relayKeys: [relay.publicKey],
      })
      const view = new ChannelView('general', { roles })
      const notes = openDoc('general', 'notes', { publish: async () => undefined })
      const erase: string[] = []
      view.onChange((c) => erase.push(...c.erase))
      log.onAdded((events) => {
        view.apply(events)
        void notes.apply(events)
      })
      // The log reports events it replaced (same author and clientNonce, larger id).
      const add = async (events: StampedEvent[]) => view.remove((await log.add(events)).replaced)
      return { log, view, notes, erase, add }
    }
    const a = replica()
    const b = replica()
    await a.add([...history, ...forged])
    for (const ev of [...history].reverse()) await b.add([ev, forged[0]!])
    await new Promise((r) => setTimeout(r, 10)) // let the documents' async applies settle

    expect(JSON.stringify(a.view.toJSON())).toBe(JSON.stringify(b.view.toJSON()))
    expect(a.view.message(m1.id)!.text).toBe('hello, world')
    expect(a.view.message(m2.id)!.redacted?.reason).toBe('spam')
    expect(a.view.message(m1.id)!.replies).toEqual([m2.id])
    for (const r of [a, b]) expect(r.view.has(retried.id)).toBe(false)
    expect(a.erase).toEqual([m2.id])
    expect(b.erase).toEqual([m2.id])
    for (const r of [a, b]) expect(r.notes.doc.getText('page').toString()).toBe('agenda')
    expect((await snapshot(a.notes)).state).toEqual((await snapshot(b.notes)).state)
    await writer.close()
  })
})
