/** Title counts, mention notifications and muted channels (lib/attention.ts), on real signed events. */
import { Identity, publicKeyToText, type StampedEvent } from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeBody } from '../src/client/bodies.ts'
import type { ChannelInfo } from '../src/client/types.ts'
import {
  MutedChannels,
  NOTIFY_MAX_AGE_MS,
  type NotifyContext,
  notificationFor,
  titleFor,
} from '../src/lib/attention.ts'

let ann: Identity
let ben: Identity
beforeAll(async () => {
  ann = await Identity.generate()
  ben = await Identity.generate()
})

const NOW = 1_800_000_000_000
function message(author: Identity, text: string, ts = NOW - 1_000, channel = 'general'): StampedEvent {
  // Only the fields the notification reads matter here; the signatures are not checked by it.
  return {
    id: '01J00000000000000000000000' as StampedEvent['id'],
    ts,
    channel,
    author: author.publicKey,
    kind: Kind.message,
    body: encodeBody({ kind: Kind.message, text }),
  } as StampedEvent
}

const context = (o: Partial<NotifyContext> = {}): NotifyContext => ({
  selfId: publicKeyToText(ann.publicKey),
  myName: 'Ann',
  hidden: true,
  permission: 'granted',
  muted: new Set(),
  now: NOW,
  nameOf: (id) => (id === publicKeyToText(ben.publicKey) ? 'Ben' : '?'),
  keyText: publicKeyToText,
  ...o,
})
const live = { via: 'relay' } as const

describe('notifications', () => {
  it('raises one for a fresh mention by someone else while the tab is hidden', () => {
    expect(notificationFor({ event: message(ben, 'lunch @Ann?'), source: live }, context())).toEqual({
      title: 'Ben in #general',
      body: 'lunch @Ann?',
      tag: 'general:01J00000000000000000000000',
    })
  })

  it('raises none when visible, not allowed, muted, old, stored, mine, or not a mention', () => {
    const e = { event: message(ben, 'lunch @Ann?'), source: live }
    expect(notificationFor(e, context({ hidden: false }))).toBeNull()
    expect(notificationFor(e, context({ permission: 'default' }))).toBeNull()
    expect(notificationFor(e, context({ muted: new Set(['general']) }))).toBeNull()
    expect(notificationFor({ ...e, source: { via: 'local' } }, context())).toBeNull()
    expect(
      notificationFor({ event: message(ben, '@Ann', NOW - NOTIFY_MAX_AGE_MS - 1), source: live }, context()),
    ).toBeNull()
    expect(notificationFor({ event: message(ann, 'I am @Ann'), source: live }, context())).toBeNull()
    expect(notificationFor({ event: message(ben, 'lunch anyone?'), source: live }, context())).toBeNull()
  })

  it('raises one for every fresh message of a direct message, titled by its author', () => {
    const dm = 'mls.01aa'
    const conversation = (c: string) =>
      c === dm
        ? { label: 'Ben', direct: true }
        : c === 'mls.02bb'
          ? { label: 'Plans', direct: false }
          : undefined
    expect(
      notificationFor(
        { event: message(ben, 'are you there?', NOW - 1_000, dm), source: live },
        context({ conversation }),
      ),
    ).toEqual({ title: 'Ben', body: 'are you there?', tag: `${dm}:01J00000000000000000000000` })
    // A private channel notifies like a channel (mentions), named by its title; a muted DM stays quiet.
    expect(
      notificationFor(
        { event: message(ben, 'hi all', NOW - 1_000, 'mls.02bb'), source: live },
        context({ conversation }),
      ),
    ).toBeNull()
    expect(
      notificationFor(
        { event: message(ben, 'hi @Ann', NOW - 1_000, 'mls.02bb'), source: live },
        context({ conversation }),
      )?.title,
    ).toBe('Ben in Plans')
    expect(
      notificationFor(
        { event: message(ben, 'are you there?', NOW - 1_000, dm), source: live },
        context({ conversation, muted: new Set([dm]) }),
      ),
    ).toBeNull()
  })

  it('shortens a long message', () => {
    const n = notificationFor({ event: message(ben, `@Ann ${'x'.repeat(500)}`), source: live }, context())
    expect(n!.body.length).toBe(160)
    expect(n!.body.endsWith('…')).toBe(true)
  })
})

describe('title and muted channels', () => {
  const ch = (name: string, unread: number, mentions: number): ChannelInfo => ({
    name,
    topic: '',
    unread,
    mentions,
  })
  it('counts unread outside muted channels and mentions everywhere', () => {
    const list = [ch('general', 3, 1), ch('random', 5, 0), ch('news', 2, 1)]
    expect(titleFor('peerchat', list, new Set())).toBe('(10) peerchat')
    expect(titleFor('peerchat', list, new Set(['random', 'news']))).toBe('(4) peerchat')
    expect(titleFor('peerchat', [ch('general', 0, 0)], new Set())).toBe('peerchat')
  })

  it('keeps muted channels in storage, and survives garbage there', () => {
    const data = new Map<string, string>()
    const storage = {
      getItem: (k: string) => data.get(k) ?? null,
      setItem: (k: string, v: string) => void data.set(k, v),
    }
    const a = new MutedChannels(storage, 'm')
    expect(a.toggle('general')).toBe(true)
    expect([...new MutedChannels(storage, 'm').channels]).toEqual(['general'])
    expect(a.toggle('general')).toBe(false)
    data.set('m', '{not json')
    expect([...new MutedChannels(storage, 'm').channels]).toEqual([])
  })
})
