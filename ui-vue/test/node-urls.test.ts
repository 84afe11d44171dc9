/**
 * The community's other nodes from the well-known JSON (`nodeUrls`): the app connects to its own
 * origin's relay and fails over to these.
 */
import { Identity, publicKeyToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it } from 'vitest'
import { configDocument, NODE_URLS_MAX, parseNodeUrls, parseRelayConfig } from '../src/client/relay-config.ts'

useNodeCrypto()

describe('nodeUrls of the well-known JSON', () => {
  it("keeps the other nodes' ws(s) URLs, without the page's own relay, and round-trips them offline", async () => {
    const key = publicKeyToText((await Identity.generate()).publicKey)
    const doc = JSON.stringify({
      relayKey: key,
      nodeUrls: ['wss://chat.example', 'wss://b.chat.example/', 'wss://c.chat.example:8443'],
    })
    const config = parseRelayConfig(doc, 'https://chat.example')!
    expect(config.url).toBe('wss://chat.example')
    expect(config.nodeUrls).toEqual(['wss://b.chat.example', 'wss://c.chat.example:8443'])
    // Kept with the remembered document: a community opened offline still knows its nodes.
    expect(parseRelayConfig(configDocument(config), 'https://chat.example')).toEqual(config)
    // One node (no list, or only itself): no field at all.
    expect(
      parseRelayConfig(JSON.stringify({ relayKey: key }), 'https://chat.example')?.nodeUrls,
    ).toBeUndefined()
    expect(
      parseRelayConfig(
        JSON.stringify({ relayKey: key, nodeUrls: ['wss://chat.example/'] }),
        'https://chat.example',
      )?.nodeUrls,
    ).toBeUndefined()
  })

  it('drops what the page could not or should not open', () => {
    const junk = [
      5,
      null,
      'not a url',
      'https://h',
      'wss://h/?t=1',
      'wss://u:p@h',
      'ws://plain',
      'wss://ok',
      'wss://ok',
    ]
    // A secure page opens wss:// only; a plain one takes both.
    expect(parseNodeUrls(junk, 'wss://own')).toEqual(['wss://ok'])
    expect(parseNodeUrls(junk, 'ws://own')).toEqual(['ws://plain', 'wss://ok'])
    expect(parseNodeUrls('wss://a', 'ws://own')).toEqual([])
    const many = Array.from({ length: NODE_URLS_MAX + 5 }, (_, i) => `wss://n${i}`)
    expect(parseNodeUrls(many, 'wss://own')).toHaveLength(NODE_URLS_MAX)
  })
})
