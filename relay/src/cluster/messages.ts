/**
 * What relay nodes of one community tell each other through Redis (pure: encode/decode only).
 *
 *   Message = version:u8(=1) type:u8 origin:str fields
 *
 * Redis is trusted infrastructure, but a message is still decoded with every length bounded:
 * a bug or a stray publisher on the same Redis must cost a dropped message, never a crash.
 * See docs/protocol/cluster.md.
 */
import {
  createWriter,
  decodeWith,
  FrameLimits,
  finish,
  MAX_CREDENTIAL_BYTES,
  MAX_EVENT_BYTES,
  type Reader,
  SESSION_ID_BYTES,
  ULID_BYTES,
  writeBytes,
  writeU8,
  writeVarBytes,
  writeVarString,
  writeVarUint,
} from '@peerchat/engine'

export const CLUSTER_PROTOCOL_VERSION = 1

export const ClusterLimits = {
  /** Bytes of a node id (16 hex characters). */
  node: 32,
  /** Bytes of a channel name or a y-webrtc room (the relay's maxTopicBytes bound is lower). */
  topic: 256,
  /** Bytes of a relay-protocol frame carried whole (an event frame, a forwarded peer frame). */
  frame: MAX_EVENT_BYTES + 64 + FrameLimits.forwardPayload,
  /** Presence changes in one message (a node sends one message per tick). */
  presenceChanges: 4096,
  /** Bytes of a y-webrtc signal (JSON text) carried to another node. */
  signal: 64 * 1024,
  /** Characters of a signaling peer id. */
  peerId: 128,
} as const

export const MessageType = {
  /** Broadcast about once a second: the node is alive, and the sequence of its presence messages. */
  heartbeat: 1,
  /** A channel was created on the origin node. */
  channelAdded: 2,
  /** Sessions of the origin node that joined or left channels since its last tick. */
  presence: 3,
  /** A stamped event (or checkpoint) frame for the channel's members on every node. */
  event: 4,
  /** A signaling socket of the origin node spoke in a room: pair it with local members. */
  signalAnnounce: 5,
  /** A y-webrtc message for one signaling peer id on the receiving node. */
  signalDeliver: 6,
  /** A relay-forwarded peer frame for one session on the receiving node. */
  forward: 7,
  /** The shared admin log grew: read it from the given length on. */
  adminAppended: 8,
} as const

export interface PresenceJoin {
  channel: string
  sessionId: Uint8Array
  /** Orders the roster: the same on every node. */
  joinId: Uint8Array
  attestation: Uint8Array
}

export interface PresenceLeave {
  channel: string
  sessionId: Uint8Array
}

export type ClusterMessage =
  | { type: 'heartbeat'; origin: string; presenceSeq: number }
  | { type: 'channelAdded'; origin: string; channel: string }
  | { type: 'presence'; origin: string; seq: number; joins: PresenceJoin[]; leaves: PresenceLeave[] }
  | { type: 'event'; origin: string; channel: string; frame: Uint8Array }
  | { type: 'signalAnnounce'; origin: string; room: string; peerId: string }
  | { type: 'signalDeliver'; origin: string; room: string; to: string; data: string }
  | { type: 'forward'; origin: string; to: Uint8Array; frame: Uint8Array }
  | { type: 'adminAppended'; origin: string; length: number }

const MAX_SAFE = Number.MAX_SAFE_INTEGER

export function encodeClusterMessage(m: ClusterMessage): Uint8Array {
  const w = createWriter()
  writeU8(w, CLUSTER_PROTOCOL_VERSION)
  writeU8(w, MessageType[m.type])
  writeVarString(w, m.origin)
  switch (m.type) {
    case 'heartbeat':
      writeVarUint(w, m.presenceSeq)
      break
    case 'channelAdded':
      writeVarString(w, m.channel)
      break
    case 'presence':
      writeVarUint(w, m.seq)
      writeVarUint(w, m.joins.length)
      for (const j of m.joins) {
        writeVarString(w, j.channel)
        writeBytes(w, j.sessionId)
        writeBytes(w, j.joinId)
        writeVarBytes(w, j.attestation)
      }
      writeVarUint(w, m.leaves.length)
      for (const l of m.leaves) {
        writeVarString(w, l.channel)
        writeBytes(w, l.sessionId)
      }
      break
    case 'event':
      writeVarString(w, m.channel)
      writeVarBytes(w, m.frame)
      break
    case 'signalAnnounce':
      writeVarString(w, m.room)
      writeVarString(w, m.peerId)
      break
    case 'signalDeliver':
      writeVarString(w, m.room)
      writeVarString(w, m.to)
      writeVarString(w, m.data)
      break
    case 'forward':
      writeBytes(w, m.to)
      writeVarBytes(w, m.frame)
      break
    case 'adminAppended':
      writeVarUint(w, m.length)
      break
  }
  return finish(w)
}

function readMessage(r: Reader): ClusterMessage {
  const version = r.u8('version')
  if (version !== CLUSTER_PROTOCOL_VERSION)
    throw new RangeError(`unknown cluster protocol version ${version}`)
  const type = r.u8('type')
  const origin = r.varString(ClusterLimits.node, 'origin')
  const topic = (what: string) => r.varString(ClusterLimits.topic, what)
  switch (type) {
    case MessageType.heartbeat:
      return { type: 'heartbeat', origin, presenceSeq: r.varUint(MAX_SAFE, 'presenceSeq') }
    case MessageType.channelAdded:
      return { type: 'channelAdded', origin, channel: topic('channel') }
    case MessageType.presence: {
      const seq = r.varUint(MAX_SAFE, 'seq')
      const joins: PresenceJoin[] = []
      const nj = r.count(ClusterLimits.presenceChanges, 2 + SESSION_ID_BYTES + ULID_BYTES, 'joins')
      for (let i = 0; i < nj; i++)
        joins.push({
          channel: topic('channel'),
          sessionId: r.bytes(SESSION_ID_BYTES, 'sessionId'),
          joinId: r.bytes(ULID_BYTES, 'joinId'),
          attestation: r.varBytes(MAX_CREDENTIAL_BYTES, 'attestation'),
        })
      const leaves: PresenceLeave[] = []
      const nl = r.count(ClusterLimits.presenceChanges, 1 + SESSION_ID_BYTES, 'leaves')
      for (let i = 0; i < nl; i++)
        leaves.push({ channel: topic('channel'), sessionId: r.bytes(SESSION_ID_BYTES, 'sessionId') })
      return { type: 'presence', origin, seq, joins, leaves }
    }
    case MessageType.event:
      return {
        type: 'event',
        origin,
        channel: topic('channel'),
        frame: r.varBytes(ClusterLimits.frame, 'frame'),
      }
    case MessageType.signalAnnounce:
      return {
        type: 'signalAnnounce',
        origin,
        room: topic('room'),
        peerId: r.varString(ClusterLimits.peerId, 'peerId'),
      }
    case MessageType.signalDeliver:
      return {
        type: 'signalDeliver',
        origin,
        room: topic('room'),
        to: r.varString(ClusterLimits.peerId, 'to'),
        data: r.varString(ClusterLimits.signal, 'data'),
      }
    case MessageType.forward:
      return {
        type: 'forward',
        origin,
        to: r.bytes(SESSION_ID_BYTES, 'to'),
        frame: r.varBytes(ClusterLimits.frame, 'frame'),
      }
    case MessageType.adminAppended:
      return { type: 'adminAppended', origin, length: r.varUint(MAX_SAFE, 'length') }
    default:
      throw new RangeError(`unknown cluster message type ${type}`)
  }
}

/** Decodes one message; throws DecodeError (only) on anything malformed. */
export const decodeClusterMessage = (bytes: Uint8Array): ClusterMessage =>
  decodeWith(bytes, readMessage, 'cluster message')
