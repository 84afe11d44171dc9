/**
 * Voice without a browser: the signed signals in the awareness (protocol.ts), who calls whom
 * (plan.ts, including a model of several clients running their plans until the mesh is whole),
 * and the microphone and speaking helpers. The browser side runs in tests/e2e/voice.test.ts.
 */
import { Identity, publicKeyToText } from '@peerchat/engine'
import { useNodeCrypto } from '@peerchat/engine/node'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  isSpeaking,
  micErrorMessage,
  nextSpeaking,
  rms,
  SPEAKING_HOLD_MS,
  SPEAKING_OFF,
  SPEAKING_ON,
} from '../src/client/voice/audio.ts'
import { type CallView, offersTo, planVoice, roomOf, type VoiceAction } from '../src/client/voice/plan.ts'
import {
  type Participant,
  readStates,
  SIGNAL_MAX_AGE_MS,
  signSignal,
  signState,
  VerifiedStates,
  VOICE_MAX_PEERS,
  type VoiceWireState,
  verifySignal,
  verifyState,
  type WireSignal,
} from '../src/client/voice/protocol.ts'

useNodeCrypto()

let ann: Identity
let ben: Identity
let annKey: string
let benKey: string
beforeAll(async () => {
  ;[ann, ben] = await Promise.all([Identity.generate(), Identity.generate()])
  annKey = publicKeyToText(ann.publicKey)
  benKey = publicKeyToText(ben.publicKey)
})

const NOW = 1_700_000_000_000
/** Ann's signed state: in #general since NOW, unmuted, signed at NOW. */
const annState = () =>
  signState(ann, { v: 1, key: annKey, channel: 'general', muted: false, since: NOW, ts: NOW })
const offer = (to: string, call: string, ts = NOW): Omit<WireSignal, 'sig'> => ({
  to,
  call,
  type: 'offer',
  sdp: 'v=0\r\n',
  ts,
})

describe('voice signals', () => {
  it('verify only for the signer, the channel and the exact SDP', async () => {
    const s = await signSignal(ann, annKey, 'general', offer(benKey, 'c1'))
    expect(await verifySignal(annKey, 'general', s)).toBe(true)
    expect(await verifySignal(benKey, 'general', s)).toBe(false)
    expect(await verifySignal(annKey, 'dev', s)).toBe(false)
    expect(await verifySignal(annKey, 'general', { ...s, sdp: 'v=0\r\na=fingerprint:x\r\n' })).toBe(false)
    expect(await verifySignal(annKey, 'general', { ...s, to: annKey })).toBe(false)
    expect(await verifySignal(annKey, 'general', { ...s, sig: 'not-base64!' })).toBe(false)
    expect(await verifySignal('not a key', 'general', s)).toBe(false)
  })

  it('reads only well-formed states of members, and only fresh signals addressed to me', async () => {
    const fresh = await signSignal(ann, annKey, 'general', offer(benKey, 'c1'))
    const stale = { ...fresh, call: 'old', ts: NOW - SIGNAL_MAX_AGE_MS - 1 }
    const other = { ...fresh, to: 'someone-else' }
    const header = await signState(ann, {
      v: 1,
      key: annKey,
      channel: 'general',
      muted: true,
      since: NOW - 10,
      ts: NOW,
    })
    const state: VoiceWireState = { ...header, signals: [fresh, stale, other] }
    const fields: unknown[] = [
      state,
      null,
      'text',
      { ...state, v: 2 },
      { ...state, key: benKey }, // my own key
      { ...state, key: 'x'.repeat(65) },
      { ...state, key: 'intruder' }, // not online in the channel
      { ...state, channel: 'dev' }, // online, but not in that channel
      { ...state, muted: 'yes' },
      { ...state, since: Number.NaN },
      { ...state, ts: NOW - SIGNAL_MAX_AGE_MS - 1 }, // signed too long ago: a replay
      { ...state, sig: undefined },
      undefined,
    ]
    const read = readStates(fields, {
      self: benKey,
      now: NOW,
      isMember: (key, channel) => key === annKey && channel === 'general',
    })
    expect([...read.keys()]).toEqual([annKey])
    const p = read.get(annKey)!
    expect(p.muted).toBe(true)
    expect(p.toMe.map((s) => s.call)).toEqual(['c1'])
  })

  it('a state counts once its own key signed it, for exactly that room, mute and time', async () => {
    const h = await annState()
    expect(await verifyState(h)).toBe(true)
    // Ben cannot put Ann in a room, move her, or unmute her.
    const forged = await signState(ben, { ...h, channel: 'dev' })
    for (const bad of [
      { ...forged, key: annKey },
      { ...h, channel: 'dev' },
      { ...h, muted: true },
      { ...h, ts: NOW + 1 },
    ])
      expect(await verifyState(bad)).toBe(false)
    // An offer signature is not a state signature, and the reverse (distinct payloads).
    const s = await signSignal(ann, annKey, 'general', offer(benKey, 'c1'))
    expect(await verifyState({ ...h, sig: s.sig })).toBe(false)
    expect(await verifySignal(annKey, 'general', { ...s, sig: h.sig })).toBe(false)
  })

  it('VerifiedStates keeps only participants whose state signature verified', async () => {
    const good = await annState()
    const forged = { ...(await signState(ben, { ...good, key: benKey })), key: annKey, since: NOW + 1 }
    const fields = (...hs: (typeof good)[]) => hs.map((h) => ({ ...h, signals: [] }))
    const read = (f: unknown[]) => readStates(f, { self: 'me', now: NOW, isMember: () => true })
    let wakes = 0
    const verified = new VerifiedStates(() => wakes++)
    expect(verified.filter(read(fields(good))).size).toBe(0) // not checked yet
    await new Promise((r) => setTimeout(r, 50))
    expect(wakes).toBe(1)
    expect([...verified.filter(read(fields(good))).keys()]).toEqual([annKey])
    // A forged state for Ann (a later join, so it would win) is dropped; checked once only.
    expect(verified.filter(read(fields(forged))).size).toBe(0)
    await new Promise((r) => setTimeout(r, 50))
    expect(verified.filter(read(fields(forged))).size).toBe(0)
    expect(wakes).toBe(1)
  })

  it('drops malformed signals but keeps the state', () => {
    const read = readStates(
      [
        {
          v: 1,
          key: 'a',
          channel: 'general',
          muted: false,
          since: NOW,
          ts: NOW,
          sig: 'unchecked-here',
          signals: [{ to: 'me', call: 'c', type: 'bye', sdp: 'x', ts: NOW, sig: 's' }, { to: 'me' }, 7],
        },
      ],
      { self: 'me', now: NOW, isMember: () => true },
    )
    expect(read.get('a')?.toMe).toEqual([])
  })
})

const participant = (
  key: string,
  since: number,
  toMe: WireSignal[] = [],
  channel = 'general',
): Participant => ({
  v: 1,
  key,
  channel,
  muted: false,
  since,
  ts: NOW,
  sig: `sig-${key}`,
  toMe,
})
const sig = (type: WireSignal['type'], to: string, call: string, ts = NOW): WireSignal => ({
  to,
  call,
  type,
  sdp: 'sdp',
  ts,
  sig: 's',
})

function plan(
  self: string,
  participants: Participant[],
  calls: Record<string, CallView> = {},
  o: { handled?: string[]; cooling?: string[]; since?: number } = {},
): VoiceAction[] {
  return planVoice({
    self,
    since: o.since ?? NOW,
    channel: 'general',
    participants: new Map(participants.map((p) => [p.key, p])),
    calls: new Map(Object.entries(calls)),
    handled: (c) => o.handled?.includes(c) ?? false,
    coolingDown: (p) => o.cooling?.includes(p) ?? false,
  })
}

describe('planVoice', () => {
  it('has the smaller key offer and the larger one answer', () => {
    expect(offersTo('a', 'b')).toBe(true)
    expect(plan('a', [participant('b', NOW)])).toEqual([{ type: 'call', peer: 'b' }])
    // b waits for a's offer, then answers it.
    expect(plan('b', [participant('a', NOW)])).toEqual([])
    const o = sig('offer', 'b', 'c1')
    expect(plan('b', [participant('a', NOW, [o])])).toEqual([{ type: 'answer', peer: 'a', signal: o }])
  })

  it('accepts the answer to its own call only', () => {
    const calls = { b: { call: 'c1', phase: 'offering' as const, outgoing: true } }
    const mine = sig('answer', 'a', 'c1')
    expect(plan('a', [participant('b', NOW, [sig('answer', 'a', 'other')])], calls)).toEqual([])
    expect(plan('a', [participant('b', NOW, [mine])], calls)).toEqual([
      { type: 'accept', peer: 'b', signal: mine },
    ])
    expect(plan('a', [participant('b', NOW, [mine])], calls, { handled: ['c1'] })).toEqual([])
  })

  it('replaces a call when the offerer calls again, and never answers one call twice', () => {
    const calls = { a: { call: 'c1', phase: 'connected' as const, outgoing: false } }
    const again = sig('offer', 'b', 'c2', NOW + 1)
    expect(plan('b', [participant('a', NOW, [sig('offer', 'b', 'c1'), again])], calls)).toEqual([
      { type: 'hangup', peer: 'a' },
      { type: 'answer', peer: 'a', signal: again },
    ])
    expect(plan('b', [participant('a', NOW, [again])], {}, { handled: ['c2'] })).toEqual([])
  })

  it('hangs up on peers who left or moved, and on failed calls; calls again after the cool-down', () => {
    const calls = {
      b: { call: 'c1', phase: 'failed' as const, outgoing: true },
      c: { call: 'c2', phase: 'connected' as const, outgoing: true },
    }
    expect(plan('a', [participant('b', NOW), participant('c', NOW, [], 'dev')], calls)).toEqual([
      { type: 'hangup', peer: 'b' },
      { type: 'hangup', peer: 'c' },
      { type: 'call', peer: 'b' },
    ])
    expect(plan('a', [participant('b', NOW)], {}, { cooling: ['b'] })).toEqual([])
  })

  it('keeps the earliest joiners when the room is full', () => {
    const others = Array.from({ length: VOICE_MAX_PEERS }, (_, i) => participant(`k${i}`, NOW - 100 + i))
    const room = roomOf('late', NOW, 'general', new Map(others.map((p) => [p.key, p])))
    expect(room.full).toBe(true)
    expect(room.members).toHaveLength(VOICE_MAX_PEERS)
    expect(plan('late', others)).toEqual([])
    // An early joiner still fits and calls the ones after it in key order.
    const early = roomOf('aaa', NOW - 1000, 'general', new Map(others.map((p) => [p.key, p])))
    expect(early.full).toBe(false)
    expect(early.members[0]).toBe('aaa')
  })

  it('brings a room of clients to a full mesh (model: states exchanged, calls connect when both sides agree)', () => {
    const keys = ['d', 'a', 'c', 'b', 'e']
    interface Model {
      calls: Map<string, CallView>
      out: Map<string, WireSignal>
      handled: Set<string>
    }
    const world = new Map<string, Model>(
      keys.map((k) => [k, { calls: new Map(), out: new Map(), handled: new Set() }]),
    )
    let serial = 0
    const participantsFor = (self: string): Map<string, Participant> =>
      new Map(
        keys
          .filter((k) => k !== self)
          .map((k) => [
            k,
            participant(
              k,
              NOW,
              [...world.get(k)!.out.values()].filter((s) => s.to === self),
            ),
          ]),
      )
    for (let round = 0; round < 6; round++) {
      for (const self of keys) {
        const m = world.get(self)!
        const actions = planVoice({
          self,
          since: NOW,
          channel: 'general',
          participants: participantsFor(self),
          calls: m.calls,
          handled: (c) => m.handled.has(c),
          coolingDown: () => false,
        })
        for (const a of actions) {
          if (a.type === 'call') {
            const call = `call${serial++}`
            m.calls.set(a.peer, { call, phase: 'offering', outgoing: true })
            m.out.set(a.peer, sig('offer', a.peer, call))
          } else if (a.type === 'answer') {
            m.handled.add(a.signal.call)
            m.calls.set(a.peer, { call: a.signal.call, phase: 'connected', outgoing: false })
            m.out.set(a.peer, sig('answer', a.peer, a.signal.call))
          } else if (a.type === 'accept') {
            m.handled.add(a.signal.call)
            m.calls.set(a.peer, { call: a.signal.call, phase: 'connected', outgoing: true })
          } else {
            m.calls.delete(a.peer)
          }
        }
      }
    }
    for (const x of keys)
      for (const y of keys) {
        if (x === y) continue
        const cx = world.get(x)!.calls.get(y)
        const cy = world.get(y)!.calls.get(x)
        expect(cx?.phase, `${x} -> ${y}`).toBe('connected')
        expect(cx?.call).toBe(cy?.call)
        expect(cx?.outgoing).toBe(x < y)
      }
  })
})

describe('microphone and speaking helpers', () => {
  it('explains a denied or missing microphone', () => {
    const denied = Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' })
    expect(micErrorMessage(denied)).toMatch(/denied/)
    expect(micErrorMessage({ name: 'NotFoundError' })).toMatch(/No microphone/)
    expect(micErrorMessage({ name: 'NoMediaDevices' })).toMatch(/https/)
    expect(micErrorMessage(new Error('odd'))).toMatch(/odd/)
  })

  it('detects speaking with hysteresis', () => {
    expect(rms(new Float32Array([0.5, -0.5]))).toBeCloseTo(0.5)
    expect(rms(new Float32Array())).toBe(0)
    const between = (SPEAKING_ON + SPEAKING_OFF) / 2
    expect(isSpeaking(between, false)).toBe(false)
    expect(isSpeaking(between, true)).toBe(true)
    expect(isSpeaking(SPEAKING_ON, false)).toBe(true)
    expect(isSpeaking(SPEAKING_OFF / 2, true)).toBe(false)
  })

  it('holds the indicator through short gaps', () => {
    let m = { speaking: false, loudAt: -Infinity }
    m = nextSpeaking(SPEAKING_ON, m, 1000)
    expect(m.speaking).toBe(true)
    m = nextSpeaking(0, m, 1000 + SPEAKING_HOLD_MS - 1)
    expect(m.speaking).toBe(true)
    m = nextSpeaking(0, m, 1000 + SPEAKING_HOLD_MS)
    expect(m.speaking).toBe(false)
  })
})
