/**
 * Peer-to-peer frames carried by any mesh transport:
 *
 *   PeerFrame = version:u8(=1) type:u8 body
 *   type 1 reconcile: session:varuint flags:u8 channel:str payload:bytes   (bit 0 of flags: sent by the initiator)
 *   type 2 ping:      n:varuint
 *   type 3 pong:      n:varuint
 *   type 4 end:       session:varuint channel:str     (responder -> initiator: in sync, nothing to send)
 *   type 5 busy:      session:varuint channel:str     (responder -> initiator: syncing the channel already, ask later)
 *   type 6 absent:    session:varuint channel:str     (responder -> initiator: I do not hold this channel, ask another)
 *
 * Peer frames travel as the `peerchat/sync/2` protocol of a mesh port (../mesh/protocol.ts).
 *
 * A reconcile payload is a reconciliation frame (../reconcile/frame.ts) of that session.
 */
import {
  createWriter,
  decodeWith,
  finish,
  writeU8,
  writeVarBytes,
  writeVarString,
  writeVarUint,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import { isValidChannel, Limits } from '../event.ts'
import { MAX_FRAME_BYTES } from '../reconcile/frame.ts'

export const PEER_PROTOCOL_VERSION = 1
export const MAX_SESSION_ID = 2 ** 32 - 1
/** Bytes a reconcile frame adds around its payload, at most (version, type, session, flags, channel, length). */
export const PEER_FRAME_OVERHEAD = 1 + 1 + 5 + 1 + 1 + 64 + 5
const FROM_INITIATOR = 1

export type PeerFrame =
  | { type: 'reconcile'; session: number; fromInitiator: boolean; channel: string; payload: Uint8Array }
  | { type: 'ping'; n: number }
  | { type: 'pong'; n: number }
  | { type: 'end'; session: number; channel: string }
  | { type: 'busy'; session: number; channel: string }
  | { type: 'absent'; session: number; channel: string }

const TYPE = { reconcile: 1, ping: 2, pong: 3, end: 4, busy: 5, absent: 6 } as const

export function encodePeerFrame(f: PeerFrame): Uint8Array {
  const w = createWriter()
  writeU8(w, PEER_PROTOCOL_VERSION)
  writeU8(w, TYPE[f.type])
  if (f.type === 'reconcile') {
    writeVarUint(w, f.session)
    writeU8(w, f.fromInitiator ? FROM_INITIATOR : 0)
    writeVarString(w, f.channel)
    writeVarBytes(w, f.payload)
  } else if (f.type === 'end' || f.type === 'busy' || f.type === 'absent') {
    writeVarUint(w, f.session)
    writeVarString(w, f.channel)
  } else writeVarUint(w, f.n)
  return finish(w)
}

export function decodePeerFrame(bytes: Uint8Array): PeerFrame {
  return decodeWith(
    bytes,
    (r) => {
      const version = r.u8('peer frame version')
      if (version !== PEER_PROTOCOL_VERSION)
        throw new DecodeError(`unsupported peer frame version ${version}`)
      const type = r.u8('peer frame type')
      if (type === TYPE.reconcile) {
        const session = r.varUint(MAX_SESSION_ID, 'session')
        const flags = r.u8('flags')
        if ((flags & ~FROM_INITIATOR) !== 0) throw new DecodeError('unknown reconcile flags')
        const channel = r.varString(Limits.channel, 'channel')
        if (!isValidChannel(channel)) throw new DecodeError('invalid channel name')
        const payload = r.varBytes(MAX_FRAME_BYTES, 'reconcile payload')
        return { type: 'reconcile', session, fromInitiator: flags === FROM_INITIATOR, channel, payload }
      }
      if (type === TYPE.end || type === TYPE.busy || type === TYPE.absent) {
        const session = r.varUint(MAX_SESSION_ID, 'session')
        const channel = r.varString(Limits.channel, 'channel')
        if (!isValidChannel(channel)) throw new DecodeError('invalid channel name')
        return { type: type === TYPE.end ? 'end' : type === TYPE.busy ? 'busy' : 'absent', session, channel }
      }
      if (type === TYPE.ping || type === TYPE.pong)
        return { type: type === TYPE.ping ? 'ping' : 'pong', n: r.varUint(MAX_SESSION_ID, 'n') }
      throw new DecodeError(`unknown peer frame type ${type}`)
    },
    'peer frame',
  )
}
