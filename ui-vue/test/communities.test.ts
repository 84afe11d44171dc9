/**
 * The remembered communities (client/communities.ts): pinned relay keys that are never replaced
 * silently, malformed storage ignored, the bound on entries, and where a switch navigates.
 */
import { Identity, publicKeyToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import {
  acceptKey,
  COMMUNITIES_MAX,
  COMMUNITIES_STORAGE_KEY,
  checkPin,
  communityHref,
  communityUrl,
  forgetCommunity,
  readCommunities,
  rememberCommunity,
  rememberedConfig,
  renameCommunity,
} from '../src/client/communities.ts'
import { findRelay } from '../src/client/index.ts'
import { configDocument, type RelayConfig } from '../src/client/relay-config.ts'

function memoryStorage() {
  const map = new Map<string, string>()
  return {
    map,
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
  }
}

const A = 'http://127.0.0.1:8787'
const B = 'https://chat.example.org'
/** Port 1 on loopback: nothing listens there, a fetch fails at once. */
const DOWN = 'http://127.0.0.1:1'

describe('communities', () => {
  it('pins the relay key at the first join and reports a change without accepting it', () => {
    const s = memoryStorage()
    expect(checkPin(s, A, 'key-1')).toEqual({ status: 'new' })
    rememberCommunity(s, A, 'key-1', 1000)
    expect(checkPin(s, A, 'key-1')).toEqual({ status: 'same' })
    expect(checkPin(s, A, 'key-2')).toEqual({ status: 'changed', pinned: 'key-1' })
    // Opening it again (even with another key passed) never replaces the pin.
    rememberCommunity(s, A, 'key-2', 2000)
    expect(readCommunities(s)[0]).toMatchObject({
      url: A,
      relayKey: 'key-1',
      firstJoined: 1000,
      lastOpened: 2000,
    })
    acceptKey(s, A, 'key-2')
    expect(checkPin(s, A, 'key-2')).toEqual({ status: 'same' })
  })

  it('lists the most recently opened first; renames, forgets, and keeps at most COMMUNITIES_MAX', () => {
    const s = memoryStorage()
    rememberCommunity(s, A, 'a', 1)
    rememberCommunity(s, B, 'b', 2)
    expect(readCommunities(s).map((c) => [c.url, c.name])).toEqual([
      [B, 'chat.example.org'],
      [A, '127.0.0.1:8787'],
    ])
    renameCommunity(s, A, '  Home  ')
    expect(readCommunities(s)[1]!.name).toBe('Home')
    forgetCommunity(s, B)
    expect(readCommunities(s).map((c) => c.url)).toEqual([A])
    for (let i = 0; i < COMMUNITIES_MAX + 5; i++) rememberCommunity(s, `http://10.0.0.${i}:1`, 'k', 10 + i)
    const list = readCommunities(s)
    expect(list).toHaveLength(COMMUNITIES_MAX)
    expect(list[0]!.url).toBe(`http://10.0.0.${COMMUNITIES_MAX + 4}:1`)
  })

  it('ignores malformed storage and malformed entries', () => {
    const s = memoryStorage()
    s.map.set(COMMUNITIES_STORAGE_KEY, 'not json')
    expect(readCommunities(s)).toEqual([])
    s.map.set(
      COMMUNITIES_STORAGE_KEY,
      JSON.stringify([
        { url: 'javascript:alert(1)', name: 'x', relayKey: 'k', firstJoined: 1, lastOpened: 1 },
        { url: `${A}/path`, name: 'x', relayKey: 'k', firstJoined: 1, lastOpened: 1 },
        { url: A, name: 'ok', relayKey: 'k', firstJoined: 1, lastOpened: 1 },
        null,
      ]),
    )
    expect(readCommunities(s).map((c) => c.name)).toEqual(['ok'])
    expect(readCommunities(undefined)).toEqual([])
  })

  it('only http(s) origins are communities; a switch goes to the relay, or ?relay= on a dev server', () => {
    expect(communityUrl('https://chat.example.org/some/path?x=1')).toBe(B)
    expect(communityUrl('javascript:alert(1)')).toBeNull()
    expect(communityUrl('not a url')).toBeNull()
    const page = { origin: 'http://127.0.0.1:5173', pathname: '/' }
    expect(communityHref(B, page, true)).toBe(`${B}/`)
    expect(communityHref(B, page, false)).toBe('http://127.0.0.1:5173/?relay=https%3A%2F%2Fchat.example.org')
  })

  it("keeps the relay's configuration to open a joined community while its relay is unreachable", async () => {
    useNodeCrypto()
    const [k1, k2] = [await Identity.generate(), await Identity.generate()]
    const config: RelayConfig = {
      url: 'ws://127.0.0.1:1',
      relayKey: k1.publicKey,
      room: 'town',
      access: 'invite',
      iceServers: [{ urls: ['stun:stun.example.org'] }],
    }
    const s = memoryStorage()
    expect(rememberedConfig(s, DOWN)).toBeNull()
    rememberCommunity(s, DOWN, publicKeyToText(k1.publicKey), 1000, configDocument(config))
    expect(rememberedConfig(s, DOWN)).toEqual(config)
    // Nothing answers there: a page naming it (?relay=) opens the remembered community.
    const found = await findRelay(`?relay=${encodeURIComponent(DOWN)}`, 'http://127.0.0.1:2', s)
    expect(found).toEqual({ config, url: DOWN, servedByRelay: false, remembered: true })
    // So does a page it served (loaded from a cache), as its own.
    expect(await findRelay('', DOWN, s)).toMatchObject({ url: DOWN, servedByRelay: true, remembered: true })
    // A document naming another key than the pinned one is never used.
    acceptKey(s, DOWN, publicKeyToText(k2.publicKey))
    expect(rememberedConfig(s, DOWN)).toBeNull()
    expect(await findRelay('', DOWN, s)).toBeNull()
  })
})
