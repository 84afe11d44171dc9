/**
 * Who calls whom in a voice room, as a pure function of what this client knows: the room's
 * participants (from awareness), its own calls, and the call ids it already handled. No IO:
 * `VoiceSession` (session.ts) runs the actions against RTCPeerConnections, and the tests run
 * them against a model.
 *
 * - The room is everyone in the channel's voice, ordered by join time (then key), capped at
 *   VOICE_MAX_PEERS: later joiners are told the room is full and call no one.
 * - Between two members, the one with the smaller key offers and the other answers, so two
 *   peers never offer to each other at once (no glare).
 * - A new offer (new call id) from a peer replaces the call this client holds with it; a failed
 *   call is hung up, and its offerer calls again once its cool-down is over.
 */
import { type Participant, VOICE_MAX_PEERS, type WireSignal } from './protocol.ts'

export type CallPhase = 'offering' | 'answering' | 'connecting' | 'connected' | 'failed'

export interface CallView {
  call: string
  phase: CallPhase
  /** This client made the offer. */
  outgoing: boolean
}

export type VoiceAction =
  /** Open a connection to `peer` and send it an offer. */
  | { type: 'call'; peer: string }
  /** Answer `peer`'s offer (its signature is checked before use). */
  | { type: 'answer'; peer: string; signal: WireSignal }
  /** Apply `peer`'s answer to this client's offer. */
  | { type: 'accept'; peer: string; signal: WireSignal }
  | { type: 'hangup'; peer: string }

export interface PlanInput {
  self: string
  /** When this client joined the room. */
  since: number
  channel: string
  participants: ReadonlyMap<string, Participant>
  calls: ReadonlyMap<string, CallView>
  /** Call ids already answered, accepted or hung up: never acted on twice. */
  handled: (call: string) => boolean
  /** Peers this client should not call again yet (a recent failure). */
  coolingDown: (peer: string) => boolean
}

/** The smaller key offers. */
export const offersTo = (self: string, peer: string): boolean => self < peer

/** The room's members in order (this client included while it fits), and whether it is full for me. */
export function roomOf(
  self: string,
  since: number,
  channel: string,
  participants: ReadonlyMap<string, Participant>,
): { members: string[]; full: boolean } {
  const all = [{ key: self, since }]
  for (const p of participants.values()) if (p.channel === channel) all.push({ key: p.key, since: p.since })
  all.sort((a, b) => a.since - b.since || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  const members = all.slice(0, VOICE_MAX_PEERS).map((m) => m.key)
  return { members, full: !members.includes(self) }
}

/** The newest signal of `type` (and call id, when given) in a participant's signals to me. */
function latest(p: Participant | undefined, type: WireSignal['type'], call?: string): WireSignal | undefined {
  let best: WireSignal | undefined
  for (const s of p?.toMe ?? [])
    if (s.type === type && (call === undefined || s.call === call) && (!best || s.ts > best.ts)) best = s
  return best
}

export function planVoice(input: PlanInput): VoiceAction[] {
  const { members, full } = roomOf(input.self, input.since, input.channel, input.participants)
  const peers = full ? new Set<string>() : new Set(members.filter((k) => k !== input.self))
  const actions: VoiceAction[] = []
  const live = new Map<string, CallView>()
  for (const [peer, call] of input.calls) {
    if (!peers.has(peer) || call.phase === 'failed') actions.push({ type: 'hangup', peer })
    else live.set(peer, call)
  }
  for (const peer of peers) {
    const p = input.participants.get(peer)
    const call = live.get(peer)
    if (offersTo(input.self, peer)) {
      if (!call) {
        if (!input.coolingDown(peer)) actions.push({ type: 'call', peer })
      } else if (call.outgoing && call.phase === 'offering') {
        const answer = latest(p, 'answer', call.call)
        if (answer && !input.handled(answer.call)) actions.push({ type: 'accept', peer, signal: answer })
      }
    } else {
      const offer = latest(p, 'offer')
      if (!offer || input.handled(offer.call) || call?.call === offer.call) continue
      if (call) actions.push({ type: 'hangup', peer })
      actions.push({ type: 'answer', peer, signal: offer })
    }
  }
  return actions
}
