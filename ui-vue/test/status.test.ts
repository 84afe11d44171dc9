/** The trust & sync panel's pure parts: per-channel source counts, and the relay's well-known extras. */
import { Identity, publicKeyToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { Coverage } from '../src/client/coverage.ts'
import { ICE_SERVERS_MAX, parseIceServers, parseRelayConfig } from '../src/client/relay-config.ts'
import { formatBytes } from '../src/lib/format.ts'

useNodeCrypto()

describe('Coverage', () => {
  it('counts events per channel and source, most first, peers told apart by key and link', () => {
    const c = new Coverage()
    c.note('general', { via: 'relay' })
    c.note('general', { via: 'local' }, 5)
    c.note('general', { via: 'peer', peer: 'ann', link: 'webrtc' }, 2)
    c.note('general', { via: 'peer', peer: 'ann', link: 'relay forwarding' })
    c.note('general', { via: 'peer', peer: 'ann', link: 'webrtc' })
    c.note('dev', { via: 'relay' })
    expect(c.sources('general')).toEqual([
      { via: 'local', events: 5 },
      { via: 'peer', peer: 'ann', link: 'webrtc', events: 3 },
      { via: 'relay', events: 1 },
      { via: 'peer', peer: 'ann', link: 'relay forwarding', events: 1 },
    ])
    expect(c.sources('dev')).toEqual([{ via: 'relay', events: 1 }])
    expect(c.sources('none')).toEqual([])
    // Callers get copies: the tally is not changed through them.
    c.sources('dev')[0]!.events = 99
    expect(c.sources('dev')[0]!.events).toBe(1)
  })
})

describe('well-known extras', () => {
  it('keeps well-formed ICE servers only, at most ICE_SERVERS_MAX', () => {
    expect(parseIceServers(undefined)).toEqual([])
    expect(parseIceServers('stun:x')).toEqual([])
    expect(
      parseIceServers([
        { urls: 'stun:stun.example:3478' },
        { urls: ['turn:turn.example', 'turns:turn.example:443'], username: 'u', credential: 'c' },
        { urls: 'http://not-ice' },
        { urls: [] },
        { urls: [42] },
        null,
        { username: 'no urls' },
      ]),
    ).toEqual([
      { urls: ['stun:stun.example:3478'] },
      { urls: ['turn:turn.example', 'turns:turn.example:443'], username: 'u', credential: 'c' },
    ])
    const many = Array.from({ length: ICE_SERVERS_MAX + 3 }, () => ({ urls: 'stun:s' }))
    expect(parseIceServers(many)).toHaveLength(ICE_SERVERS_MAX)
  })

  it('reads the access mode and ICE servers of the relay document', async () => {
    const key = publicKeyToText((await Identity.generate()).publicKey)
    const doc = (extra: object) => JSON.stringify({ relayKey: key, ...extra })
    expect(parseRelayConfig(doc({ access: 'invite' }), 'http://h')?.access).toBe('invite')
    expect(parseRelayConfig(doc({ access: 'open' }), 'http://h')?.access).toBe('open')
    expect(parseRelayConfig(doc({ access: 'closed' }), 'http://h')?.access).toBe('unknown')
    expect(parseRelayConfig(doc({}), 'http://h')?.iceServers).toEqual([])
    expect(parseRelayConfig(doc({ iceServers: [{ urls: 'stun:s' }] }), 'http://h')?.iceServers).toEqual([
      { urls: ['stun:s'] },
    ])
  })

  it('formats byte counts for people', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(999)).toBe('999 B')
    expect(formatBytes(1500)).toBe('1.5 KB')
    expect(formatBytes(12_000_000)).toBe('12 MB')
  })
})
