/**
 * Client <-> relay frames (binary WebSocket messages). Pure: encode/decode only.
 *
 *   Frame = version:u8(=1) tag:u8 fields
 *
 * Tags below 0x40 go client -> relay, tags from 0x40 go relay -> client. Decoders check every
 * length against a bound and throw only DecodeError. See docs/protocol/relay.md.
 */
import {
  createWriter,
  decodeWith,
  finish,
  type Reader,
  type Writer,
  writeBytes,
  writeU8,
  writeVarBytes,
  writeVarString,
  writeVarUint,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import {
  encodeEvent,
  encodeRequest,
  isValidChannel,
  Limits,
  readEvent,
  readRequest,
  type SignedRequest,
  type StampedEvent,
} from '../event.ts'
import { LOGIN_NONCE_BYTES, MAX_CREDENTIAL_BYTES, SESSION_ID_BYTES } from './session.ts'

// Credentials (login payload, session attestation, signaling token, invite) are part of this protocol.
export * from './session.ts'

export const RELAY_PROTOCOL_VERSION = 1

export const FrameLimits = {
  /** Channels listed in a Welcome frame. */
  channels: 1024,
  /**
   * Attestations in one presence frame: a snapshot (the head and the joiner), a tick's entered
   * members, a page. Also the most a PresenceQuery may ask for.
   */
  presencePerFrame: 256,
  /** Session ids in one PresenceTick's `left` (at most the head, which is below presencePerFrame). */
  presenceLeft: 256,
  /** Public keys in one PresenceFind. */
  presenceFindKeys: 32,
  /** Bytes of a roster cursor: the member's join id (a ULID, 16) and session id (16). */
  presenceCursor: 32,
  /** Bytes of an error code and of an error message. */
  errorCode: 32,
  errorMessage: 256,
  /** Bytes of the reference (a refused request's clientNonce) in an error frame. */
  errorRef: 16,
  /** Bytes of an invite attached to a login. */
  invite: MAX_CREDENTIAL_BYTES,
  /** Bytes of one relay-forwarded peer frame (the WebRTC fallback; see docs/protocol/relay.md). */
  forwardPayload: 32 * 1024,
} as const

const MAX_SAFE = Number.MAX_SAFE_INTEGER
const MAX_TIME = 2 ** 48 - 1

export const Tag = {
  // client -> relay
  login: 0x01,
  publish: 0x02,
  join: 0x03,
  leave: 0x04,
  tokenRequest: 0x05,
  ping: 0x06,
  forward: 0x07,
  presenceQuery: 0x08,
  presenceFind: 0x09,
  // relay -> client (0x44-0x46, the presence frames of before issue 13, are retired)
  challenge: 0x41,
  welcome: 0x42,
  event: 0x43,
  token: 0x47,
  error: 0x48,
  pong: 0x49,
  channelAdded: 0x4a,
  forwarded: 0x4b,
  presenceSnapshot: 0x4c,
  presenceTick: 0x4d,
  presencePage: 0x4e,
} as const

/** Largest member count a presence frame carries (sessions in one channel). */
const MAX_MEMBERS = 2 ** 32 - 1
/** A presence query's id: chosen by the client, echoed in the answer (`ref` of a refusal, 4 bytes). */
const MAX_QUERY_ID = 2 ** 32 - 1

export type ClientFrame =
  | { type: 'login'; publicKey: Uint8Array; clientTime: number; sig: Uint8Array; invite: Uint8Array | null }
  | { type: 'publish'; request: SignedRequest }
  | { type: 'join'; channel: string }
  | { type: 'leave'; channel: string }
  | { type: 'tokenRequest' }
  | { type: 'ping'; n: number }
  | { type: 'forward'; to: Uint8Array; payload: Uint8Array }
  /** The next page of the channel's roster after `after` (null: from the first member). */
  | { type: 'presenceQuery'; q: number; channel: string; after: Uint8Array | null; limit: number }
  /** The sessions of `keys` online in the channel. */
  | { type: 'presenceFind'; q: number; channel: string; keys: Uint8Array[] }

export type RelayFrame =
  | { type: 'challenge'; relayKey: Uint8Array; nonce: Uint8Array; serverTime: number }
  | { type: 'welcome'; attestation: Uint8Array; channels: string[] }
  | { type: 'event'; event: StampedEvent }
  /** To a joiner: the member count and the head (plus the joiner itself when outside it). */
  | { type: 'presenceSnapshot'; channel: string; count: number; attestations: Uint8Array[] }
  /** To every member, at most once per tick: the count and the head's changes since the last tick. */
  | { type: 'presenceTick'; channel: string; count: number; entered: Uint8Array[]; left: Uint8Array[] }
  /** The answer to a PresenceQuery (`next` null: the roster's end) or a PresenceFind (`next` null). */
  | {
      type: 'presencePage'
      q: number
      channel: string
      count: number
      next: Uint8Array | null
      attestations: Uint8Array[]
    }
  | { type: 'token'; token: Uint8Array; expires: number }
  | { type: 'error'; code: string; message: string; ref: Uint8Array }
  | { type: 'pong'; n: number }
  | { type: 'channelAdded'; channel: string }
  | { type: 'forwarded'; from: Uint8Array; fromKey: Uint8Array; payload: Uint8Array }

export type Frame = ClientFrame | RelayFrame

function header(tag: number): Writer {
  const w = createWriter()
  writeU8(w, RELAY_PROTOCOL_VERSION)
  writeU8(w, tag)
  return w
}

function readChannel(r: Reader): string {
  const c = r.varString(Limits.channel, 'channel')
  if (!isValidChannel(c)) throw new DecodeError('invalid channel name')
  return c
}

/** Encodes any frame. Event bodies are already canonical bytes, so fan-out encodes once. */
export function encodeFrame(f: Frame): Uint8Array {
  let w: Writer
  switch (f.type) {
    case 'login':
      w = header(Tag.login)
      writeBytes(w, f.publicKey)
      writeVarUint(w, f.clientTime)
      writeBytes(w, f.sig)
      writeVarBytes(w, f.invite ?? new Uint8Array(0))
      break
    case 'publish':
      w = header(Tag.publish)
      writeBytes(w, encodeRequest(f.request))
      break
    case 'join':
    case 'leave':
      w = header(f.type === 'join' ? Tag.join : Tag.leave)
      writeVarString(w, f.channel)
      break
    case 'tokenRequest':
      w = header(Tag.tokenRequest)
      break
    case 'ping':
    case 'pong':
      w = header(f.type === 'ping' ? Tag.ping : Tag.pong)
      writeVarUint(w, f.n)
      break
    case 'challenge':
      w = header(Tag.challenge)
      writeBytes(w, f.relayKey)
      writeBytes(w, f.nonce)
      writeVarUint(w, f.serverTime)
      break
    case 'welcome':
      w = header(Tag.welcome)
      writeVarBytes(w, f.attestation)
      writeVarUint(w, f.channels.length)
      for (const c of f.channels) writeVarString(w, c)
      break
    case 'event':
      w = header(Tag.event)
      writeBytes(w, encodeEvent(f.event))
      break
    case 'presenceQuery':
      w = header(Tag.presenceQuery)
      writeQueryId(w, f.q)
      writeVarString(w, f.channel)
      writeVarBytes(w, f.after ?? new Uint8Array(0))
      writeVarUint(w, f.limit)
      break
    case 'presenceFind':
      w = header(Tag.presenceFind)
      writeQueryId(w, f.q)
      writeVarString(w, f.channel)
      writeList(w, f.keys, writeBytes)
      break
    case 'presenceSnapshot':
      w = header(Tag.presenceSnapshot)
      writeVarString(w, f.channel)
      writeVarUint(w, f.count)
      writeList(w, f.attestations, writeVarBytes)
      break
    case 'presenceTick':
      w = header(Tag.presenceTick)
      writeVarString(w, f.channel)
      writeVarUint(w, f.count)
      writeList(w, f.entered, writeVarBytes)
      writeList(w, f.left, writeBytes)
      break
    case 'presencePage':
      w = header(Tag.presencePage)
      writeQueryId(w, f.q)
      writeVarString(w, f.channel)
      writeVarUint(w, f.count)
      writeVarBytes(w, f.next ?? new Uint8Array(0))
      writeList(w, f.attestations, writeVarBytes)
      break
    case 'token':
      w = header(Tag.token)
      writeVarBytes(w, f.token)
      writeVarUint(w, f.expires)
      break
    case 'error':
      w = header(Tag.error)
      writeVarString(w, f.code)
      writeVarString(w, f.message)
      writeVarBytes(w, f.ref)
      break
    case 'channelAdded':
      w = header(Tag.channelAdded)
      writeVarString(w, f.channel)
      break
    case 'forward':
      w = header(Tag.forward)
      writeBytes(w, f.to)
      writeVarBytes(w, f.payload)
      break
    case 'forwarded':
      w = header(Tag.forwarded)
      writeBytes(w, f.from)
      writeBytes(w, f.fromKey)
      writeVarBytes(w, f.payload)
      break
  }
  return finish(w)
}

function writeList(w: Writer, items: readonly Uint8Array[], write: (w: Writer, b: Uint8Array) => void): void {
  writeVarUint(w, items.length)
  for (const b of items) write(w, b)
}

/** A query id as 4 bytes, big-endian: the same bytes are the `ref` of an Error refusing the query. */
function writeQueryId(w: Writer, q: number): void {
  writeBytes(w, queryRef(q))
}

/** The `ref` of an Error that refuses presence query `q` (its 4 id bytes, big-endian). */
export function queryRef(q: number): Uint8Array {
  if (!Number.isInteger(q) || q < 0 || q > MAX_QUERY_ID) throw new RangeError('a query id is a u32')
  return new Uint8Array([q >>> 24, (q >>> 16) & 255, (q >>> 8) & 255, q & 255])
}

function readQueryId(r: Reader): number {
  const b = r.bytes(4, 'query id')
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0
}

function readAttestations(r: Reader): Uint8Array[] {
  const n = r.count(FrameLimits.presencePerFrame, 2, 'attestation count')
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) out.push(r.varBytes(MAX_CREDENTIAL_BYTES, 'attestation'))
  return out
}

/** A roster cursor: empty (null) or exactly `presenceCursor` bytes. */
function readCursor(r: Reader, what: string): Uint8Array | null {
  const c = r.varBytes(FrameLimits.presenceCursor, what)
  if (c.length === 0) return null
  if (c.length !== FrameLimits.presenceCursor)
    throw new DecodeError(`${what} must be empty or ${FrameLimits.presenceCursor} bytes`)
  return c
}

/** The fan-out frame for an event whose canonical bytes are already known (no re-encoding). */
export function eventFrameFromBytes(eventBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + eventBytes.length)
  out[0] = RELAY_PROTOCOL_VERSION
  out[1] = Tag.event
  out.set(eventBytes, 2)
  return out
}

function readFrame(r: Reader): Frame {
  const version = r.u8('protocol version')
  if (version !== RELAY_PROTOCOL_VERSION) throw new DecodeError(`unsupported protocol version ${version}`)
  const tag = r.u8('frame tag')
  switch (tag) {
    case Tag.login: {
      const publicKey = r.bytes(32, 'publicKey')
      const clientTime = r.varUint(MAX_TIME, 'clientTime')
      const sig = r.bytes(64, 'signature')
      const invite = r.varBytes(FrameLimits.invite, 'invite')
      return { type: 'login', publicKey, clientTime, sig, invite: invite.length ? invite : null }
    }
    case Tag.publish:
      return { type: 'publish', request: readRequest(r) }
    case Tag.join:
      return { type: 'join', channel: readChannel(r) }
    case Tag.leave:
      return { type: 'leave', channel: readChannel(r) }
    case Tag.tokenRequest:
      return { type: 'tokenRequest' }
    case Tag.ping:
      return { type: 'ping', n: r.varUint(MAX_SAFE, 'ping') }
    case Tag.pong:
      return { type: 'pong', n: r.varUint(MAX_SAFE, 'pong') }
    case Tag.challenge:
      return {
        type: 'challenge',
        relayKey: r.bytes(32, 'relayKey'),
        nonce: r.bytes(LOGIN_NONCE_BYTES, 'nonce'),
        serverTime: r.varUint(MAX_TIME, 'serverTime'),
      }
    case Tag.welcome: {
      const attestation = r.varBytes(MAX_CREDENTIAL_BYTES, 'attestation')
      const n = r.count(FrameLimits.channels, 2, 'channel count')
      const channels: string[] = []
      for (let i = 0; i < n; i++) channels.push(readChannel(r))
      return { type: 'welcome', attestation, channels }
    }
    case Tag.event:
      return { type: 'event', event: readEvent(r) }
    case Tag.presenceQuery: {
      const q = readQueryId(r)
      const channel = readChannel(r)
      const after = readCursor(r, 'cursor')
      const limit = r.varUint(FrameLimits.presencePerFrame, 'page limit')
      if (limit === 0) throw new DecodeError('page limit must be at least 1')
      return { type: 'presenceQuery', q, channel, after, limit }
    }
    case Tag.presenceFind: {
      const q = readQueryId(r)
      const channel = readChannel(r)
      const n = r.count(FrameLimits.presenceFindKeys, 32, 'key count')
      if (n === 0) throw new DecodeError('a find names at least one key')
      const keys: Uint8Array[] = []
      for (let i = 0; i < n; i++) keys.push(r.bytes(32, 'key'))
      return { type: 'presenceFind', q, channel, keys }
    }
    case Tag.presenceSnapshot: {
      const channel = readChannel(r)
      const count = r.varUint(MAX_MEMBERS, 'member count')
      return { type: 'presenceSnapshot', channel, count, attestations: readAttestations(r) }
    }
    case Tag.presenceTick: {
      const channel = readChannel(r)
      const count = r.varUint(MAX_MEMBERS, 'member count')
      const entered = readAttestations(r)
      const n = r.count(FrameLimits.presenceLeft, SESSION_ID_BYTES, 'left count')
      const left: Uint8Array[] = []
      for (let i = 0; i < n; i++) left.push(r.bytes(SESSION_ID_BYTES, 'sessionId'))
      return { type: 'presenceTick', channel, count, entered, left }
    }
    case Tag.presencePage: {
      const q = readQueryId(r)
      const channel = readChannel(r)
      const count = r.varUint(MAX_MEMBERS, 'member count')
      const next = readCursor(r, 'next cursor')
      return { type: 'presencePage', q, channel, count, next, attestations: readAttestations(r) }
    }
    case Tag.token:
      return {
        type: 'token',
        token: r.varBytes(MAX_CREDENTIAL_BYTES, 'token'),
        expires: r.varUint(MAX_TIME, 'expires'),
      }
    case Tag.error:
      return {
        type: 'error',
        code: r.varString(FrameLimits.errorCode, 'error code'),
        message: r.varString(FrameLimits.errorMessage * 4, 'error message'),
        ref: r.varBytes(FrameLimits.errorRef, 'error ref'),
      }
    case Tag.channelAdded:
      return { type: 'channelAdded', channel: readChannel(r) }
    case Tag.forward:
      return {
        type: 'forward',
        to: r.bytes(SESSION_ID_BYTES, 'to'),
        payload: r.varBytes(FrameLimits.forwardPayload, 'payload'),
      }
    case Tag.forwarded:
      return {
        type: 'forwarded',
        from: r.bytes(SESSION_ID_BYTES, 'from'),
        fromKey: r.bytes(32, 'fromKey'),
        payload: r.varBytes(FrameLimits.forwardPayload, 'payload'),
      }
    default:
      throw new DecodeError(`unknown frame tag 0x${tag.toString(16)}`)
  }
}

export const decodeFrame = (bytes: Uint8Array): Frame => decodeWith(bytes, readFrame, 'relay frame')

const CLIENT_TYPES = new Set<string>([
  'login',
  'publish',
  'join',
  'leave',
  'tokenRequest',
  'ping',
  'forward',
  'presenceQuery',
  'presenceFind',
])

export function isClientFrame(f: Frame): f is ClientFrame {
  return CLIENT_TYPES.has(f.type)
}

export function isRelayFrame(f: Frame): f is RelayFrame {
  return !CLIENT_TYPES.has(f.type)
}

/** Decodes a frame a relay received; relay -> client tags are refused. */
export function decodeClientFrame(bytes: Uint8Array): ClientFrame {
  const f = decodeFrame(bytes)
  if (!isClientFrame(f)) throw new DecodeError(`frame ${f.type} is not sent by clients`)
  return f
}

/** Decodes a frame a client received; client -> relay tags are refused. */
export function decodeRelayFrame(bytes: Uint8Array): RelayFrame {
  const f = decodeFrame(bytes)
  if (!isRelayFrame(f)) throw new DecodeError(`frame ${f.type} is not sent by relays`)
  return f
}

/**
 * Stable error codes of error frames. Clients switch on the code; the message is for humans.
 * Codes ending a connection are also used as the WebSocket close reason (close code 4000 + index).
 */
export const ErrorCode = {
  badFrame: 'bad_frame',
  notLoggedIn: 'not_logged_in',
  alreadyLoggedIn: 'already_logged_in',
  loginFailed: 'login_failed',
  authTimeout: 'auth_timeout',
  forbidden: 'forbidden',
  rateLimited: 'rate_limited',
  unknownChannel: 'unknown_channel',
  badSignature: 'bad_signature',
  nonceReused: 'nonce_reused',
  tooManySubscriptions: 'too_many_subscriptions',
  tooManyConnections: 'too_many_connections',
  tooManyErrors: 'too_many_errors',
  limitExceeded: 'limit_exceeded',
  slowConsumer: 'slow_consumer',
  sessionExpired: 'session_expired',
  shuttingDown: 'shutting_down',
  unknownPeer: 'unknown_peer',
  budgetExceeded: 'budget_exceeded',
  /**
   * A session that logged in by an invite link publishes `invite.redeem` before anything else
   * (docs/protocol/relay.md §4.1).
   */
  redeemFirst: 'redeem_first',
  internal: 'internal',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** WebSocket close codes (4000-4999 is the application range). */
export const CloseCode = {
  protocolError: 4000,
  loginFailed: 4001,
  authTimeout: 4002,
  tooManyConnections: 4003,
  tooManyErrors: 4004,
  /** More than `socketsPerAddress` logged-in sockets from one address. */
  tooManyPerAddress: 4005,
  /** More than `socketsPerKey` logged-in sockets of one public key. */
  tooManyPerKey: 4006,
  slowConsumer: 4008,
  sessionExpired: 4009,
  shuttingDown: 4010,
  /** The session's key was kicked or banned (the reason is the kick's or ban's). */
  removed: 4013,
  rateLimited: 4029,
  /** A frame over `maxFrameBytes` (WebSocket's own code). */
  messageTooBig: 1009,
} as const

/** Close codes of signaling sockets (`/signal`, docs/protocol/relay.md §8). */
export const SignalCloseCode = {
  tooManyErrors: 4003,
  slowConsumer: 4008,
  sessionExpired: 4009,
  shuttingDown: 4010,
  internal: 4011,
  /** The login session of the socket's token closed. */
  sessionClosed: 4012,
} as const
