/**
 * How encrypted conversations read (lib/private-text.ts, client/notices.ts): notices as the
 * engine keeps them (JSON, keys in hex) become lines with names; malformed ones show nothing.
 */
import { Identity, PlainKind, publicKeyToText, type StampedEvent, toHex } from '@peerchat/engine'
import { beforeAll, describe, expect, it } from 'vitest'
import { noticeOf } from '../src/client/notices.ts'
import { conversationLabel, listNames, noticeText } from '../src/lib/private-text.ts'

let ann: Identity
let bob: Identity
let cara: Identity
beforeAll(async () => {
  ;[ann, bob, cara] = await Promise.all([Identity.generate(), Identity.generate(), Identity.generate()])
})

const names = () =>
  new Map([
    [publicKeyToText(ann.publicKey), 'Ann'],
    [publicKeyToText(bob.publicKey), 'Bob'],
    [publicKeyToText(cara.publicKey), 'Cara'],
  ])
const nameOf = (id: string) => names().get(id) ?? '?'

function event(kind: string, body: string | Uint8Array, author = ann): StampedEvent {
  return {
    id: '01J00000000000000000000000',
    ts: 0,
    channel: 'mls.0201',
    kind,
    author: author.publicKey,
    body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
  } as unknown as StampedEvent
}

describe('notices', () => {
  it('reads a commit notice (hex keys) and words it for each reader', () => {
    const stored = JSON.stringify({
      type: 'commit',
      by: toHex(ann.publicKey),
      added: [toHex(bob.publicKey)],
      removed: [toHex(cara.publicKey)],
      keyChanged: [toHex(bob.publicKey)],
    })
    const n = noticeOf(event(PlainKind.notice, stored))!
    expect(n).toEqual({
      type: 'commit',
      by: publicKeyToText(ann.publicKey),
      added: [publicKeyToText(bob.publicKey)],
      removed: [publicKeyToText(cara.publicKey)],
      keyChanged: [publicKeyToText(bob.publicKey)],
    })
    expect(noticeText(n, nameOf, publicKeyToText(bob.publicKey))).toEqual([
      'Ann added you.',
      'Ann removed Cara.',
      'Bob’s encryption key changed (a new device, or peerchat reinstalled). If you did not expect it, check with Bob another way.',
    ])
    expect(noticeText(n, nameOf, publicKeyToText(cara.publicKey))[1]).toBe(
      'You were removed by Ann: you cannot read anything sent from now on.',
    )
    expect(noticeText(n, nameOf, publicKeyToText(ann.publicKey))[0]).toBe('You added Bob.')
  })

  it('reads joins and titles; malformed notices and other kinds are not notices', () => {
    expect(noticeText(noticeOf(event(PlainKind.notice, '{"type":"joined"}'))!, nameOf, '')[0]).toMatch(
      /^You joined/,
    )
    const title = noticeOf(event(PlainKind.title, 'Plans'))!
    expect(noticeText(title, nameOf, '')).toEqual(['Ann named this private channel “Plans”.'])
    for (const body of ['not json', '{"type":"other"}', '{"type":"commit","by":"zz"}', '[]'])
      expect(noticeOf(event(PlainKind.notice, body))).toBeUndefined()
    expect(noticeOf(event('message', '{"type":"joined"}'))).toBeUndefined()
  })

  it('names conversations: a title, or the others in a direct message', () => {
    const self = publicKeyToText(ann.publicKey)
    const members = [self, publicKeyToText(bob.publicKey), publicKeyToText(cara.publicKey)]
    expect(conversationLabel({ kind: 'direct', title: undefined, members }, nameOf, self)).toBe(
      'Bob and Cara',
    )
    expect(conversationLabel({ kind: 'direct', title: undefined, members: [self] }, nameOf, self)).toBe(
      'direct message',
    )
    expect(conversationLabel({ kind: 'private', title: 'Plans', members }, nameOf, self)).toBe('Plans')
    expect(listNames(['A', 'B', 'C'])).toBe('A, B and C')
  })
})
