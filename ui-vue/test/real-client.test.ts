/**
 * The real client's pieces that need no browser: the well-known JSON, the member directory
 * (profiles and attestations), own avatar storage, typing hints. (Catch-up and scroll-back are
 * the engine's sync policy: tests/replica.) The whole client runs in real Chromium against the
 * real relay: tests/e2e/real-chat.test.ts; offline start in Node: real-client-offline.test.ts.
 */
import {
  Identity,
  Privilege,
  publicKeyToText,
  type Session,
  type StampedEvent,
  signRequest,
  stamp,
} from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { fixtureUlid } from '@peerchat/engine/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import type { AvatarRef } from '../src/client/bodies.ts'
import { encodeBody } from '../src/client/bodies.ts'
import { Directory, privilegesOf } from '../src/client/directory.ts'
import { loadOwnAvatar, OWN_AVATAR_STORAGE_KEY, saveOwnAvatar } from '../src/client/own-avatar.ts'
import { parseRelayConfig, WELL_KNOWN_MAX_BYTES } from '../src/client/relay-config.ts'
import { TYPING_FIELD, TYPING_KEY_MAX, typingFromStates } from '../src/client/typing.ts'

useNodeCrypto()

let relay: Identity
let ann: Identity
let ben: Identity
beforeAll(async () => {
  ;[relay, ann, ben] = await Promise.all([Identity.generate(), Identity.generate(), Identity.generate()])
})

describe('parseRelayConfig', () => {
  it('reads the relay key and room, and derives the WebSocket URL from the page origin', () => {
    const key = publicKeyToText(relay.publicKey)
    const doc = JSON.stringify({ relayKey: key, communityRoom: 'town' })
    const plain = parseRelayConfig(doc, 'http://127.0.0.1:8080')
    expect(plain?.url).toBe('ws://127.0.0.1:8080')
    expect(plain?.room).toBe('town')
    expect(publicKeyToText(plain!.relayKey)).toBe(key)
    expect(parseRelayConfig(doc, 'https://chat.example')?.url).toBe('wss://chat.example')
    expect(parseRelayConfig(JSON.stringify({ relayKey: key }), 'http://h')?.room).toBe('community')
  })

  it('returns null for anything that is not a relay document', () => {
    for (const text of ['<!doctype html>', 'null', '{}', '{"relayKey": 5}', '{"relayKey": "not-a-key"}'])
      expect(parseRelayConfig(text, 'http://h')).toBeNull()
  })

  it('refuses a document over WELL_KNOWN_MAX_BYTES', () => {
    const key = publicKeyToText(relay.publicKey)
    const doc = JSON.stringify({ relayKey: key, pad: 'x'.repeat(WELL_KNOWN_MAX_BYTES) })
    expect(parseRelayConfig(doc, 'http://h')).toBeNull()
  })
})

async function profile(
  author: Identity,
  name: string,
  at: number,
  n: number,
  avatar?: AvatarRef,
): Promise<StampedEvent> {
  const clientNonce = new Uint8Array(16).fill(n)
  const req = await signRequest(author, {
    channel: 'general',
    kind: 'profile',
    clientNonce,
    body: encodeBody(avatar ? { kind: 'profile', name, avatar } : { kind: 'profile', name }),
  })
  return stamp(relay, fixtureUlid(at, n), req)
}

const session = (key: Uint8Array, privileges: number): Session => ({
  relayKey: relay.publicKey,
  publicKey: key,
  sessionId: new Uint8Array(16).fill(privileges),
  privileges,
  issued: 0,
  expires: 1,
})

describe('Directory', () => {
  it('keeps the latest profile per key whatever the arrival order', async () => {
    const d = new Directory()
    const older = await profile(ann, 'Ann', 1_700_000_000_000, 1)
    const newer = await profile(ann, 'Annie', 1_700_000_001_000, 2)
    expect(d.addProfile(newer)).toBe(true)
    expect(d.addProfile(older)).toBe(false)
    expect(d.nameOf(publicKeyToText(ann.publicKey))).toBe('Annie')
  })

  it('lists me first, then online keys once each with their privileges, then known offline keys', async () => {
    const d = new Directory()
    d.addProfile(await profile(ben, 'Ben', 1_700_000_000_000, 3))
    const me = { key: relay.publicKey, name: 'Me', online: true, privileges: Privilege.post, typingIn: null }
    const online = [
      session(ann.publicKey, Privilege.admin | Privilege.post),
      session(ann.publicKey, Privilege.post),
    ]
    const members = d.members(me, online)
    expect(members.map((m) => [m.name, m.online])).toEqual([
      ['Me', true],
      [`${publicKeyToText(ann.publicKey).slice(0, 8)}…`, true],
      ['Ben', false],
    ])
    expect(members[1]!.privileges).toEqual(['admin', 'moderator', 'post'])
    expect(privilegesOf(Privilege.post | Privilege.create)).toEqual(['post', 'create-channel'])
  })

  it('takes the avatar of the latest profile: a rename without one removes it', async () => {
    const d = new Directory()
    const avatar = {
      digest: new Uint8Array(32).fill(5),
      size: 700,
      chunkRoot: new Uint8Array(32).fill(6),
      mime: 'image/webp',
    }
    const id = publicKeyToText(ann.publicKey)
    expect(d.addProfile(await profile(ann, 'Ann', 1_700_000_000_000, 1, avatar))).toBe(true)
    expect(d.avatarOf(id)?.id).toBe('05'.repeat(32))
    const me = { key: relay.publicKey, name: 'Me', online: true, privileges: 0, typingIn: null }
    expect(d.members(me, [session(ann.publicKey, Privilege.post)])[1]!.avatar?.size).toBe(700)
    // Same name, no picture: still a change the list must show.
    expect(d.addProfile(await profile(ann, 'Ann', 1_700_000_001_000, 2))).toBe(true)
    expect(d.avatarOf(id)).toBeUndefined()
  })
})

describe('own avatar storage', () => {
  it('keeps the reference per identity and community, and forgets it on removal', () => {
    const store = new Map<string, string>()
    const localStorage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
    }
    Object.assign(globalThis, { localStorage })
    try {
      const avatar = {
        digest: new Uint8Array(32).fill(1),
        size: 12,
        chunkRoot: new Uint8Array(32).fill(2),
        mime: 'image/webp',
        id: '01'.repeat(32),
      }
      saveOwnAvatar('me', 'relay-a', avatar)
      expect(loadOwnAvatar('me', 'relay-a')).toEqual(avatar)
      expect(loadOwnAvatar('me', 'relay-b')).toBeUndefined()
      saveOwnAvatar('me', 'relay-a', undefined)
      expect(loadOwnAvatar('me', 'relay-a')).toBeUndefined()
      store.set(
        OWN_AVATAR_STORAGE_KEY,
        '{"me@relay-a": {"digest": "zz", "size": 1, "chunkRoot": "00", "mime": "x"}}',
      )
      expect(loadOwnAvatar('me', 'relay-a')).toBeUndefined()
      store.set(OWN_AVATAR_STORAGE_KEY, 'not json')
      expect(loadOwnAvatar('me', 'relay-a')).toBeUndefined()
    } finally {
      Reflect.deleteProperty(globalThis, 'localStorage')
    }
  })
})

describe('typingFromStates', () => {
  it('keeps only well-formed hints of online keys in joined channels, never my own', () => {
    const hint = (key: unknown, channel: unknown) => ({ [TYPING_FIELD]: { key, channel } })
    const states = new Map<number, Record<string, unknown>>([
      [1, hint('me', 'general')], // my own awareness id
      [2, hint('ann', 'general')],
      [3, hint('ben', 'secret')], // not a joined channel
      [4, hint('gone', 'general')], // not online
      [5, hint('x'.repeat(TYPING_KEY_MAX + 1), 'general')], // over TYPING_KEY_MAX
      [6, hint(7, 'general')],
      [7, { unrelated: true }],
      [8, hint('cat', null)], // stopped typing
      [9, hint('me', 'general')], // someone spoofing my key
    ])
    const typing = typingFromStates(states, {
      localId: 1,
      selfKey: 'me',
      isOnline: (key) => key !== 'gone',
      channels: ['general'],
    })
    expect([...typing]).toEqual([['ann', 'general']])
  })
})
