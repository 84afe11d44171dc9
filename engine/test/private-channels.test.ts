/** The encrypted groups' channel namespace (private-channels.ts), which the relay enforces. */
import { describe, expect, it } from 'vitest'
import {
  isPrivateChannel,
  KEY_PACKAGE_CHANNEL,
  kindsAllowedIn,
  MlsKind,
  privateChannelOf,
  WELCOME_CHANNEL,
} from '../src/private-channels.ts'

describe('private channels', () => {
  it('names a group by its id in hex and takes only MLS kinds there', () => {
    const channel = privateChannelOf(new Uint8Array([0xab, 0x01]))
    expect(channel).toBe('mls.ab01')
    expect(isPrivateChannel(channel)).toBe(true)
    expect(kindsAllowedIn(channel)).toEqual([MlsKind.commit, MlsKind.message])
    expect(kindsAllowedIn(KEY_PACKAGE_CHANNEL)).toEqual([MlsKind.keyPackage])
    expect(kindsAllowedIn(WELCOME_CHANNEL)).toEqual([MlsKind.welcome])
    expect(kindsAllowedIn('general')).toBeUndefined()
  })

  it('refuses names that only look like one', () => {
    for (const name of ['mls.', 'mls.AB01', 'mls.xyz', `mls.${'a'.repeat(61)}`, 'mlsab01', 'general'])
      expect(isPrivateChannel(name), name).toBe(false)
    expect(() => privateChannelOf(new Uint8Array(31))).toThrow(RangeError)
    expect(() => privateChannelOf(new Uint8Array(0))).toThrow(RangeError)
    expect(privateChannelOf(new Uint8Array(30)).length).toBeLessThanOrEqual(64)
  })
})
