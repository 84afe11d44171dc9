/** Unread badges counted from events in any order and number (UnreadCounts), and the LatePort the blob exchange starts on. */

import type { MeshPeerInfo, MeshPort, StampedEvent } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { fixtureUlid } from '@peerchat/engine/testing'
import { describe, expect, it } from 'vitest'
import { type ChatBody, encodeBody } from '../src/client/bodies.ts'
import { LatePort } from '../src/client/late-port.ts'
import { UNREAD_MAX, UnreadCounts } from '../src/client/unread.ts'

const ME = new Uint8Array(32).fill(1)
const ANN = new Uint8Array(32).fill(2)

function event(n: number, author: Uint8Array, body: ChatBody): StampedEvent {
  return {
    id: fixtureUlid(1_700_000_000_000 + n * 1000, n),
    ts: 1_700_000_000_000 + n * 1000,
    channel: 'general',
    kind: body.kind,
    author,
    clientNonce: new Uint8Array(16).fill(n & 0xff),
    body: encodeBody(body),
    authorSig: new Uint8Array(64),
    relaySig: new Uint8Array(64),
  }
}
const say = (n: number, author: Uint8Array, text: string) => event(n, author, { kind: Kind.message, text })

describe('UnreadCounts', () => {
  it("counts others' messages after the marker once each, whatever the order, with mentions", () => {
    const u = new UnreadCounts(ME)
    const events = [
      say(1, ANN, 'hello'),
      say(2, ME, 'mine, never unread'),
      say(3, ANN, 'hi @Tess'),
      event(4, ANN, {
        kind: Kind.reaction,
        target: fixtureUlid(1_700_000_001_000, 1),
        emoji: '👍',
        on: true,
      }),
      say(5, ANN, 'later'),
    ]
    expect(u.add('general', [...events].reverse())).toBe(true)
    expect(u.add('general', events)).toBe(false) // the same events again: nothing new
    expect(u.counts('general', '@Tess')).toEqual({ unread: 3, mentions: 1 })
    expect(u.markRead('general', events[2]!.id)).toBe(true)
    expect(u.markRead('general', events[0]!.id)).toBe(false) // the marker never moves back
    expect(u.counts('general', '@Tess')).toEqual({ unread: 1, mentions: 0 })
    // Older than the marker: read already.
    expect(u.add('general', [say(0, ANN, 'old')])).toBe(false)
    u.remove('general', [events[4]!.id])
    expect(u.counts('general', '@Tess')).toEqual({ unread: 0, mentions: 0 })
    expect(u.counts('elsewhere', '@Tess')).toEqual({ unread: 0, mentions: 0 })
  })

  it(`stops counting at UNREAD_MAX (${UNREAD_MAX}), keeping the newest`, () => {
    const u = new UnreadCounts(ME)
    const many = Array.from({ length: UNREAD_MAX + 10 }, (_, i) => say(i, ANN, `m${i}`))
    u.add('general', many)
    expect(u.counts('general', '@x').unread).toBe(UNREAD_MAX)
    u.markRead('general', many[9]!.id) // the ten oldest were dropped already
    expect(u.counts('general', '@x').unread).toBe(UNREAD_MAX)
  })
})

/** A transport stand-in: peers and frames on demand. */
function fakePort(): MeshPort & { join(peer: string): void; frame(from: string): void; sent: string[] } {
  const peers = new Map<string, MeshPeerInfo>()
  const listeners = new Map<string, Set<(e: never) => void>>()
  const emit = (ev: string, e: unknown) => {
    for (const l of listeners.get(ev) ?? []) l(e as never)
  }
  const sent: string[] = []
  return {
    self: 'me.1',
    sent,
    send: (peer) => sent.push(peer) > 0,
    peers: () => peers,
    on: ((ev: string, l: (e: never) => void) => {
      const set = listeners.get(ev) ?? new Set()
      set.add(l)
      listeners.set(ev, set)
      return () => set.delete(l)
    }) as MeshPort['on'],
    join(peer) {
      peers.set(peer, {})
      emit('peer-joined', { peer, info: {} })
    },
    frame(from) {
      emit('frame', { from, bytes: new Uint8Array([1]) })
    },
  }
}

describe('LatePort', () => {
  it('has no peers before its transport, then takes its peers and frames; unbinding drops them', () => {
    const late = new LatePort('webrtc', 'me.local')
    const seen: string[] = []
    late.on('peer-joined', ({ peer }) => seen.push(`+${peer}`))
    late.on('peer-left', ({ peer }) => seen.push(`-${peer}`))
    late.on('frame', ({ from }) => seen.push(`frame ${from}`))
    expect(late.self).toBe('me.local')
    expect(late.peers().size).toBe(0)
    expect(late.send('x', new Uint8Array(1))).toBe(false)

    const port = fakePort()
    port.join('ann.1')
    late.bind(port)
    expect(late.self).toBe('me.1')
    port.join('ben.1')
    port.frame('ann.1')
    expect(late.sendBulk('ben.1', new Uint8Array(1))).toBe(true) // no bulk lane: the plain one
    expect(port.sent).toEqual(['ben.1'])
    expect(() => late.bind(fakePort())).toThrow()
    late.unbind()
    port.frame('ann.1') // not ours any more
    expect(seen).toEqual(['+ann.1', '+ben.1', 'frame ann.1', '-ann.1', '-ben.1'])
    expect(late.peers().size).toBe(0)
  })
})
