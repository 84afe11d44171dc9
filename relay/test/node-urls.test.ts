/** `--node-urls` / PEERCHAT_NODE_URLS: the community's nodes published in the well-known JSON. */
import { describe, expect, it } from 'vitest'
import { HELP, MAX_NODE_URLS, parseConfig, parseNodeUrls } from '../src/config.ts'

describe('--node-urls', () => {
  it('takes comma-separated ws(s) URLs from the flag (repeatable) or the environment; none by default', () => {
    expect(parseConfig([], {}).nodeUrls).toEqual([])
    expect(
      parseConfig([], { PEERCHAT_NODE_URLS: ' wss://a.example , wss://b.example:8443/ ,' }).nodeUrls,
    ).toEqual(['wss://a.example', 'wss://b.example:8443'])
    // The flag wins over the environment; repeated or comma-separated alike.
    expect(
      parseConfig(
        ['--node-urls', 'ws://10.0.0.1:8787,ws://10.0.0.2:8787', '--node-urls', 'ws://10.0.0.3:8787'],
        {
          PEERCHAT_NODE_URLS: 'wss://ignored.example',
        },
      ).nodeUrls,
    ).toEqual(['ws://10.0.0.1:8787', 'ws://10.0.0.2:8787', 'ws://10.0.0.3:8787'])
    expect(HELP).toContain('--node-urls')
    expect(HELP).toContain('PEERCHAT_NODE_URLS')
  })

  it('keeps a path prefix, drops trailing slashes and duplicates', () => {
    expect(parseNodeUrls(['wss://h.example/chat/', 'wss://h.example/chat', 'wss://h.example:443'])).toEqual([
      'wss://h.example/chat',
      'wss://h.example',
    ])
  })

  it('refuses what a client could not connect to, with a message', () => {
    expect(() => parseNodeUrls(['https://h.example'])).toThrow(/ws:\/\/ or wss:\/\//)
    expect(() => parseNodeUrls(['not a url'])).toThrow(/not a URL/)
    expect(() => parseNodeUrls(['wss://h.example/?token=x'])).toThrow(/query/)
    expect(() => parseNodeUrls(['wss://user:pw@h.example'])).toThrow(/credentials/)
    const many = Array.from({ length: MAX_NODE_URLS + 1 }, (_, i) => `wss://n${i}.example`)
    expect(() => parseNodeUrls(many)).toThrow(RangeError)
    expect(() => parseConfig(['--node-urls', 'http://h'], {})).toThrow(/node-urls/)
  })
})
