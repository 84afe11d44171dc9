/**
 * Voice signaling on the wire (docs/protocol/voice.md): each client in a voice room sets the
 * awareness field `peerchat.voice` to its state — key, channel, mute, join time and the
 * session descriptions it addresses to others. Awareness is unauthenticated, so every offer
 * and answer is signed with the sender's Ed25519 key (domain `sdp`) over who sends it to whom,
 * for which channel and call, when, and the SDP itself: the SDP carries the DTLS fingerprint,
 * so no one, not even the relay, can sit between two callers. The state itself (who is in which
 * room since when, muted or not) is signed too, with a time its owner renews every minute, so no
 * peer can put another key in a room; it counts only for keys the relay has online in that channel.
 */
import {
  Domain,
  fromBase64url,
  publicKeyFromText,
  type Signer,
  toBase64url,
  utf8,
  verifySignature,
} from '@peerchat/engine'

export const VOICE_FIELD = 'peerchat.voice'
/** Most people in one voice room, this client included (default 6): a mesh costs n - 1 streams each. */
export const VOICE_MAX_PEERS = 6
/** Largest SDP accepted (default 16 KiB; an audio offer is ~1-3 KiB). */
export const SDP_MAX_CHARS = 16 * 1024
/** Signals and states older than this are ignored (default 2 min): a replay goes nowhere. */
export const SIGNAL_MAX_AGE_MS = 120_000
/** A client signs its state again when the signature is older than this (default 1 min). */
export const STATE_REFRESH_MS = 60_000
/** Signals read from one state (default 8; a client addresses at most VOICE_MAX_PEERS - 1). */
export const SIGNALS_PER_STATE_MAX = 8
/** Longest key text accepted (default 64; base64url of 32 bytes is 43). */
export const VOICE_KEY_MAX = 64
/** Longest call id accepted (default 32). */
export const CALL_ID_MAX = 32

export interface WireSignal {
  to: string
  /** Chosen by the caller; an answer repeats it. A new call id replaces an older call. */
  call: string
  type: 'offer' | 'answer'
  sdp: string
  /** Sender's clock, ms. */
  ts: number
  /** base64url Ed25519 signature (domain `sdp`) over `signalPayload`. */
  sig: string
}

export interface VoiceWireState {
  v: 1
  key: string
  channel: string
  muted: boolean
  /** When this client joined the room (its clock, ms): the room keeps the earliest joiners. */
  since: number
  /** When the state was signed (sender's clock, ms). */
  ts: number
  /** base64url Ed25519 signature by `key` (domain `sdp`) over `statePayload`. */
  sig: string
  signals: WireSignal[]
}

/** The signed part of a state (everything but the signals, which carry their own signatures). */
export type StateHeader = Omit<VoiceWireState, 'signals'>

/** The bytes a state's signature covers (a distinct first element from `signalPayload`'s). */
export function statePayload(h: Omit<StateHeader, 'sig'>): Uint8Array {
  return utf8(JSON.stringify(['peerchat.voice/1/state', h.key, h.channel, h.muted, h.since, h.ts]))
}

export async function signState(signer: Signer, h: Omit<StateHeader, 'sig'>): Promise<StateHeader> {
  return { ...h, sig: toBase64url(await signer.sign(Domain.sdp, statePayload(h))) }
}

/** True when the state was signed by its own `key`; false for anything malformed. */
export function verifyState(h: StateHeader): Promise<boolean> {
  return verifyWith(h.key, statePayload(h), h.sig)
}

async function verifyWith(key: string, payload: Uint8Array, sig: string): Promise<boolean> {
  try {
    return await verifySignature(Domain.sdp, publicKeyFromText(key), payload, fromBase64url(sig))
  } catch {
    return false
  }
}

/** The bytes a signal's signature covers. */
export function signalPayload(from: string, channel: string, s: Omit<WireSignal, 'sig'>): Uint8Array {
  return utf8(JSON.stringify(['peerchat.voice/1', from, s.to, channel, s.call, s.type, s.ts, s.sdp]))
}

export async function signSignal(
  signer: Signer,
  from: string,
  channel: string,
  s: Omit<WireSignal, 'sig'>,
): Promise<WireSignal> {
  const sig = await signer.sign(Domain.sdp, signalPayload(from, channel, s))
  return { ...s, sig: toBase64url(sig) }
}

/** True when `s` was signed by `from` for this channel; false for anything malformed. */
export function verifySignal(from: string, channel: string, s: WireSignal): Promise<boolean> {
  return verifyWith(from, signalPayload(from, channel, s), s.sig)
}

/** A participant as read from awareness: shape-checked, fresh and presence-checked; signatures not yet verified. */
export interface Participant extends StateHeader {
  /** Signals addressed to the reader, fresh enough to consider. */
  toMe: WireSignal[]
}

const isString = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max

function readSignal(v: unknown): WireSignal | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const s = v as Partial<WireSignal>
  if (!isString(s.to, VOICE_KEY_MAX) || !isString(s.call, CALL_ID_MAX) || !isString(s.sig, 128))
    return undefined
  if (s.type !== 'offer' && s.type !== 'answer') return undefined
  if (!isString(s.sdp, SDP_MAX_CHARS) || typeof s.ts !== 'number' || !Number.isFinite(s.ts)) return undefined
  return { to: s.to, call: s.call, type: s.type, sdp: s.sdp, ts: s.ts, sig: s.sig }
}

/**
 * Everyone in voice, by key, from untrusted awareness fields: a state whose shape is wrong, whose
 * key is mine, whose signing time is not within SIGNAL_MAX_AGE_MS of now, or whose key the relay
 * does not have online in the named channel is dropped. A key announced twice keeps its latest
 * join. The state signatures are checked by `VerifiedStates`.
 */
export function readStates(
  fields: readonly unknown[],
  o: { self: string; now: number; isMember: (key: string, channel: string) => boolean },
): Map<string, Participant> {
  const out = new Map<string, Participant>()
  for (const field of fields) {
    if (typeof field !== 'object' || field === null) continue
    const st = field as Partial<VoiceWireState>
    if (st.v !== 1 || !isString(st.key, VOICE_KEY_MAX) || st.key === o.self) continue
    if (!isString(st.channel, 64) || typeof st.muted !== 'boolean' || !isString(st.sig, 128)) continue
    // A join time in the future would outrank the key's real state (latest join wins below).
    if (typeof st.since !== 'number' || !Number.isFinite(st.since) || st.since > o.now + SIGNAL_MAX_AGE_MS)
      continue
    if (typeof st.ts !== 'number' || !(Math.abs(o.now - st.ts) <= SIGNAL_MAX_AGE_MS)) continue
    if (!o.isMember(st.key, st.channel)) continue
    const toMe: WireSignal[] = []
    if (Array.isArray(st.signals))
      for (const raw of st.signals.slice(0, SIGNALS_PER_STATE_MAX)) {
        const s = readSignal(raw)
        if (s && s.to === o.self && Math.abs(o.now - s.ts) <= SIGNAL_MAX_AGE_MS) toMe.push(s)
      }
    const held = out.get(st.key)
    if (held && held.since >= st.since) continue
    const { v, key, channel, muted, since, ts, sig } = st
    out.set(key, { v, key, channel, muted, since, ts, sig, toMe })
  }
  return out
}

/** Signatures remembered as bad (default 256): a forged state is checked once, not on every change. */
const BAD_SIGS_MAX = 256

/**
 * Keeps the participants whose state signature verified. Each signature is checked once, in the
 * background; `onVerified` runs when one passes so the caller reads the states again.
 */
export class VerifiedStates {
  private readonly good = new Set<string>()
  private readonly bad = new Set<string>()
  private readonly checking = new Set<string>()

  constructor(private readonly onVerified: () => void) {}

  filter(all: ReadonlyMap<string, Participant>): Map<string, Participant> {
    const out = new Map<string, Participant>()
    const seen = new Set<string>()
    for (const [key, p] of all) {
      seen.add(p.sig)
      if (this.good.has(p.sig)) out.set(key, p)
      else if (!this.bad.has(p.sig)) this.check(p)
    }
    // Only signatures still in the awareness stay remembered as good.
    for (const sig of this.good) if (!seen.has(sig)) this.good.delete(sig)
    return out
  }

  private check(p: Participant): void {
    if (this.checking.has(p.sig)) return
    this.checking.add(p.sig)
    void verifyState(p).then((ok) => {
      this.checking.delete(p.sig)
      if (!ok) {
        if (this.bad.size >= BAD_SIGS_MAX) this.bad.clear()
        this.bad.add(p.sig)
        return
      }
      this.good.add(p.sig)
      this.onVerified()
    })
  }
}
