/**
 * What voice needs from the network: a place to publish this client's voice state (the mesh's
 * awareness: peer-to-peer, never through the relay), everyone else's states, and the relay's
 * signed presence to check who may be in a channel's voice room. The real client provides it;
 * the simulation has no mesh and no voice.
 */
import type { Signer } from '@peerchat/engine'
import type { VoiceWireState } from './protocol.ts'

export interface VoiceNetwork {
  /** This client's public key (text). */
  readonly self: string
  /** Signs the session descriptions this client sends (domain `sdp`). */
  readonly signer: Signer
  /** ICE servers from the relay's well-known JSON (empty on loopback and most LANs). */
  readonly iceServers: RTCIceServer[]
  /** Sets this client's voice state in the awareness; null when not in voice. */
  publish(state: VoiceWireState | null): void
  /** The voice field of every other awareness state, unverified (parse with `readStates`). */
  states(): unknown[]
  /** Called when any awareness state or the presence changes. */
  onChange(listener: () => void): () => void
  /** Whether `key` is online in `channel` by the relay's signed presence. */
  isMember(key: string, channel: string): boolean
}
