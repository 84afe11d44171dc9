/**
 * VoiceSession's lifecycle without a browser: a refused microphone is explained and nothing is
 * published; joining publishes a state and leaving clears it; stop is idempotent and drops the
 * network listener. Calls themselves run in real Chromium (tests/e2e/real-voice.test.ts).
 */
import { Identity, publicKeyToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { describe, expect, it, vi } from 'vitest'
import type { VoiceNetwork } from '../src/client/voice/network.ts'
import { type VoiceWireState, verifyState } from '../src/client/voice/protocol.ts'
import { type VoiceEnv, VoiceSession } from '../src/client/voice/session.ts'

useNodeCrypto()

async function fakeNetwork() {
  const signer = await Identity.generate()
  const published: (VoiceWireState | null)[] = []
  const listeners = new Set<() => void>()
  const net: VoiceNetwork = {
    self: publicKeyToText(signer.publicKey),
    signer,
    iceServers: [],
    publish: (s) => published.push(s),
    states: () => [],
    onChange: (l) => {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    isMember: () => true,
  }
  return { net, published, listeners }
}

function fakeTrack() {
  return {
    kind: 'audio',
    enabled: true,
    stopped: false,
    stop() {
      this.stopped = true
    },
    getSettings: () => ({ deviceId: 'mic-1' }),
  }
}

function env(getUserMedia: () => Promise<unknown>): VoiceEnv {
  return {
    mediaDevices: {
      getUserMedia,
      enumerateDevices: async () => [{ kind: 'audioinput', deviceId: 'mic-1', label: 'Desk mic' }],
      addEventListener() {},
      removeEventListener() {},
    } as unknown as MediaDevices,
    RTCPeerConnection: class {} as unknown as typeof RTCPeerConnection,
    AudioContext: undefined,
    now: () => 1_700_000_000_000,
  }
}

describe('VoiceSession', () => {
  it('explains a denied microphone and publishes nothing', async () => {
    const { net, published } = await fakeNetwork()
    const denied = Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' })
    const session = new VoiceSession(
      net,
      env(() => Promise.reject(denied)),
    )
    await session.join('general')
    expect(session.state.phase).toBe('idle')
    expect(session.state.error).toMatch(/Microphone access was denied/)
    expect(published.filter((s) => s !== null)).toEqual([])
    session.dismissError()
    expect(session.state.error).toBeNull()
    session.stop()
  })

  it('joins (publishing its state), mutes, leaves (clearing it), and stops idempotently', async () => {
    const { net, published, listeners } = await fakeNetwork()
    const track = fakeTrack()
    const stream = { getTracks: () => [track], getAudioTracks: () => [track] }
    const session = new VoiceSession(
      net,
      env(async () => stream),
    )
    const seen: string[] = []
    session.subscribe((s) => seen.push(s.phase))
    await session.join('general')
    expect(session.state.phase).toBe('joined')
    expect(session.state.devices).toEqual([{ id: 'mic-1', label: 'Desk mic' }])
    expect(session.state.members.map((m) => m.phase)).toEqual(['self'])
    // The state goes out once signed by this client's key.
    await vi.waitFor(() =>
      expect(published.at(-1)).toMatchObject({
        v: 1,
        key: net.self,
        channel: 'general',
        muted: false,
        signals: [],
      }),
    )
    expect(await verifyState(published.at(-1)!)).toBe(true)
    session.setMuted(true)
    expect(track.enabled).toBe(false)
    await vi.waitFor(() => expect(published.at(-1)).toMatchObject({ muted: true }))
    expect(await verifyState(published.at(-1)!)).toBe(true)
    session.leave()
    expect(track.stopped).toBe(true)
    expect(published.at(-1)).toBeNull()
    expect(seen).toContain('joining')
    session.stop()
    session.stop()
    expect(listeners.size).toBe(0)
    await session.join('general') // after stop: nothing happens
    expect(session.state.phase).toBe('idle')
  })
})
