/**
 * Voice signaling on the wire (docs/protocol/voice.md): each client in a voice room sets the
 * awareness field `peerchat.voice` to its state — key, channel, mute, join time and the
 * session descriptions it addresses to others. Awareness is unauthenticated, so every offer
 * and answer is signed with the sender's Ed25519 key (domain `sdp`) over who sends it to whom,
 * for which channel and call, when, and the SDP itself: the SDP carries the DTLS fingerprint,
 * so no one, not even the relay, can sit between two callers. The rest of a state (mute, who
 * is in the room) is a hint, shown only for keys the relay has online in that channel.
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
/** Signals older than this are ignored (default 2 min), so a replayed offer goes nowhere. */
export const SIGNAL_MAX_AGE_MS = 120_000
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
  signals: WireSignal[]
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
export async function verifySignal(from: string, channel: string, s: WireSignal): Promise<boolean> {
  try {
    const key = publicKeyFromText(from)
    return await verifySignature(Domain.sdp, key, signalPayload(from, channel, s), fromBase64url(s.sig))
  } catch {
    return false
  }
}

/** A participant as read from awareness: shape-checked and presence-checked, signals not yet verified. */
export interface Participant {
  key: string
  channel: string
  muted: boolean
  since: number
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
 * key is mine, or whose key the relay does not have online in the named channel is dropped. A key
 * announced twice keeps its latest join.
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
    if (!isString(st.channel, 64) || typeof st.muted !== 'boolean') continue
    // A join time in the future would outrank the key's real state (latest join wins below).
    if (typeof st.since !== 'number' || !Number.isFinite(st.since) || st.since > o.now + SIGNAL_MAX_AGE_MS)
      continue
    if (!o.isMember(st.key, st.channel)) continue
    const toMe: WireSignal[] = []
    if (Array.isArray(st.signals))
      for (const raw of st.signals.slice(0, SIGNALS_PER_STATE_MAX)) {
        const s = readSignal(raw)
        if (s && s.to === o.self && Math.abs(o.now - s.ts) <= SIGNAL_MAX_AGE_MS) toMe.push(s)
      }
    const held = out.get(st.key)
    if (held && held.since >= st.since) continue
    out.set(st.key, { key: st.key, channel: st.channel, muted: st.muted, since: st.since, toMe })
  }
  return out
}
