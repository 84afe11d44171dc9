/**
 * Relay-signed and admin-signed credentials: the login payload a client signs, the session
 * attestation the relay returns, the signaling token, and invites. Pure: no IO.
 *
 *   LoginPayload = ver:u8 relayKey:32 nonce:32 origin:str(256) clientTime:varuint       ("login", by the client)
 *   SessionBody  = ver:u8 relayKey:32 publicKey:32 sessionId:16 privileges:u8 issued:varuint expires:varuint
 *   Attestation  = SessionBody sig:64                                                    ("session", by the relay)
 *   TokenBody    = ver:u8 relayKey:32 purpose:str(16) publicKey:32 sessionId:16 expires:varuint
 *   Token        = TokenBody sig:64                                                      ("token", by the relay)
 *   InviteBody   = ver:u8 relayKey:32 admin:32 invitee:32 inviteId:16 expires:varuint    (invitee all-zero = anyone)
 *   Invite       = InviteBody sig:64                                                     ("invite", by an admin)
 *
 * Times are Unix milliseconds. Every body names the relay key so that a credential made for
 * one relay never verifies at another.
 */
import { abytes, equalBytes, fromBase64url, toBase64url } from '../bytes.ts'
import {
  createWriter,
  decodeWith,
  finish,
  type Reader,
  writeBytes,
  writeU8,
  writeVarString,
  writeVarUint,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import type { Ed25519Backend } from '../identity/backend.ts'
import { Domain } from '../identity/domains.ts'
import type { Signer } from '../identity/keys.ts'
import { verifySignature } from '../identity/verify.ts'

export const CREDENTIAL_VERSION = 1
/** Login nonces are 256 bits (the issue asks for at least 128). */
export const LOGIN_NONCE_BYTES = 32
export const SESSION_ID_BYTES = 16
/** Bytes of the origin named in a login payload ("host[:port]" the client connected to). */
export const MAX_ORIGIN_BYTES = 256
/** Bytes of a token's purpose string. */
export const MAX_PURPOSE_BYTES = 16
/** Largest encoded credential accepted anywhere (attestation, token, invite all fit well below). */
export const MAX_CREDENTIAL_BYTES = 512
/** Largest time field (2^48 - 1 ms, the ULID time range). */
const MAX_TIME = 2 ** 48 - 1

/** Privilege bits of a session. */
export const Privilege = { post: 1, create: 2, admin: 4 } as const
const ALL_PRIVILEGES = Privilege.post | Privilege.create | Privilege.admin

/** The single purpose a signaling token is valid for. */
export const TOKEN_PURPOSE_SIGNAL = 'signal'

export interface LoginPayload {
  relayKey: Uint8Array
  nonce: Uint8Array
  origin: string
  clientTime: number
}

export interface Session {
  relayKey: Uint8Array
  publicKey: Uint8Array
  sessionId: Uint8Array
  privileges: number
  issued: number
  expires: number
}

export interface SignalToken {
  relayKey: Uint8Array
  purpose: string
  publicKey: Uint8Array
  sessionId: Uint8Array
  expires: number
}

export interface Invite {
  relayKey: Uint8Array
  admin: Uint8Array
  /** 32 zero bytes: a bearer invite anyone holding it may use until it expires. */
  invitee: Uint8Array
  inviteId: Uint8Array
  expires: number
}

/** A credential with its signature and the exact bytes that were signed. */
export interface Signed<T> {
  value: T
  body: Uint8Array
  sig: Uint8Array
}

function readTime(r: Reader, what: string): number {
  return r.varUint(MAX_TIME, what)
}

function readVersion(r: Reader, what: string): void {
  const v = r.u8(`${what} version`)
  if (v !== CREDENTIAL_VERSION) throw new DecodeError(`unsupported ${what} version ${v}`)
}

function checkTime(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_TIME) throw new RangeError(`${what} must be a ms timestamp`)
}

// ---- login ------------------------------------------------------------------------------

export function encodeLoginPayload(p: LoginPayload): Uint8Array {
  abytes(p.relayKey, 32, 'relayKey')
  abytes(p.nonce, LOGIN_NONCE_BYTES, 'nonce')
  checkTime(p.clientTime, 'clientTime')
  if (new TextEncoder().encode(p.origin).length > MAX_ORIGIN_BYTES) throw new RangeError('origin too long')
  const w = createWriter()
  writeU8(w, CREDENTIAL_VERSION)
  writeBytes(w, p.relayKey)
  writeBytes(w, p.nonce)
  writeVarString(w, p.origin)
  writeVarUint(w, p.clientTime)
  return finish(w)
}

// ---- session attestation ----------------------------------------------------------------

function encodeSessionBody(s: Session): Uint8Array {
  abytes(s.relayKey, 32, 'relayKey')
  abytes(s.publicKey, 32, 'publicKey')
  abytes(s.sessionId, SESSION_ID_BYTES, 'sessionId')
  if (!Number.isInteger(s.privileges) || (s.privileges & ~ALL_PRIVILEGES) !== 0)
    throw new RangeError('unknown privilege bits')
  checkTime(s.issued, 'issued')
  checkTime(s.expires, 'expires')
  const w = createWriter()
  writeU8(w, CREDENTIAL_VERSION)
  writeBytes(w, s.relayKey)
  writeBytes(w, s.publicKey)
  writeBytes(w, s.sessionId)
  writeU8(w, s.privileges)
  writeVarUint(w, s.issued)
  writeVarUint(w, s.expires)
  return finish(w)
}

function readSessionBody(r: Reader): Session {
  readVersion(r, 'session')
  const relayKey = r.bytes(32, 'relayKey')
  const publicKey = r.bytes(32, 'publicKey')
  const sessionId = r.bytes(SESSION_ID_BYTES, 'sessionId')
  const privileges = r.u8('privileges')
  if ((privileges & ~ALL_PRIVILEGES) !== 0) throw new DecodeError('unknown privilege bits')
  const issued = readTime(r, 'issued')
  const expires = readTime(r, 'expires')
  return { relayKey, publicKey, sessionId, privileges, issued, expires }
}

// ---- signaling token --------------------------------------------------------------------

function encodeTokenBody(t: SignalToken): Uint8Array {
  abytes(t.relayKey, 32, 'relayKey')
  abytes(t.publicKey, 32, 'publicKey')
  abytes(t.sessionId, SESSION_ID_BYTES, 'sessionId')
  checkTime(t.expires, 'expires')
  const w = createWriter()
  writeU8(w, CREDENTIAL_VERSION)
  writeBytes(w, t.relayKey)
  writeVarString(w, t.purpose)
  writeBytes(w, t.publicKey)
  writeBytes(w, t.sessionId)
  writeVarUint(w, t.expires)
  return finish(w)
}

function readTokenBody(r: Reader): SignalToken {
  readVersion(r, 'token')
  const relayKey = r.bytes(32, 'relayKey')
  const purpose = r.varString(MAX_PURPOSE_BYTES, 'purpose')
  const publicKey = r.bytes(32, 'publicKey')
  const sessionId = r.bytes(SESSION_ID_BYTES, 'sessionId')
  const expires = readTime(r, 'expires')
  return { relayKey, purpose, publicKey, sessionId, expires }
}

// ---- invite -----------------------------------------------------------------------------

function encodeInviteBody(i: Invite): Uint8Array {
  abytes(i.relayKey, 32, 'relayKey')
  abytes(i.admin, 32, 'admin')
  abytes(i.invitee, 32, 'invitee')
  abytes(i.inviteId, 16, 'inviteId')
  checkTime(i.expires, 'expires')
  const w = createWriter()
  writeU8(w, CREDENTIAL_VERSION)
  writeBytes(w, i.relayKey)
  writeBytes(w, i.admin)
  writeBytes(w, i.invitee)
  writeBytes(w, i.inviteId)
  writeVarUint(w, i.expires)
  return finish(w)
}

function readInviteBody(r: Reader): Invite {
  readVersion(r, 'invite')
  const relayKey = r.bytes(32, 'relayKey')
  const admin = r.bytes(32, 'admin')
  const invitee = r.bytes(32, 'invitee')
  const inviteId = r.bytes(16, 'inviteId')
  const expires = readTime(r, 'expires')
  return { relayKey, admin, invitee, inviteId, expires }
}

// ---- the generic "body || sig" envelope -------------------------------------------------

interface CredentialKind<T> {
  what: string
  domain: Domain
  encode(value: T): Uint8Array
  read(r: Reader): T
}

const kinds: {
  session: CredentialKind<Session>
  token: CredentialKind<SignalToken>
  invite: CredentialKind<Invite>
} = {
  session: {
    what: 'session attestation',
    domain: Domain.session,
    encode: encodeSessionBody,
    read: readSessionBody,
  },
  token: { what: 'signaling token', domain: Domain.token, encode: encodeTokenBody, read: readTokenBody },
  invite: { what: 'invite', domain: Domain.invite, encode: encodeInviteBody, read: readInviteBody },
}

async function signCredential<T>(kind: CredentialKind<T>, signer: Signer, value: T): Promise<Signed<T>> {
  const body = kind.encode(value)
  return { value, body, sig: await signer.sign(kind.domain, body) }
}

function decodeCredential<T>(kind: CredentialKind<T>, bytes: Uint8Array): Signed<T> {
  if (bytes instanceof Uint8Array && bytes.length > MAX_CREDENTIAL_BYTES)
    throw new DecodeError(`${kind.what} exceeds ${MAX_CREDENTIAL_BYTES} bytes`)
  return decodeWith(
    bytes,
    (r) => {
      const start = r.pos
      const value = kind.read(r)
      const body = r.buf.slice(start, r.pos)
      return { value, body, sig: r.bytes(64, 'signature') }
    },
    kind.what,
  )
}

export const encodeSigned = (c: Signed<unknown>): Uint8Array => {
  const out = new Uint8Array(c.body.length + 64)
  out.set(c.body)
  out.set(c.sig, c.body.length)
  return out
}

/** Verifies the signature of a decoded credential with `signerKey` (relay or admin key). */
function verifyCredential<T>(
  kind: CredentialKind<T>,
  c: Signed<T>,
  signerKey: Uint8Array,
  backend?: Ed25519Backend,
): Promise<boolean> {
  return verifySignature(kind.domain, signerKey, c.body, c.sig, backend)
}

export const signSession = (relay: Signer, s: Session): Promise<Signed<Session>> =>
  signCredential(kinds.session, relay, s)
export const decodeSession = (bytes: Uint8Array): Signed<Session> => decodeCredential(kinds.session, bytes)
/** True when the attestation was signed by `relayKey`, names that relay, and is unexpired at `now`. */
export async function verifySession(
  c: Signed<Session>,
  relayKey: Uint8Array,
  now: number,
  backend?: Ed25519Backend,
): Promise<boolean> {
  if (!equalBytes(c.value.relayKey, relayKey) || now >= c.value.expires) return false
  return verifyCredential(kinds.session, c, relayKey, backend)
}

export const signToken = (relay: Signer, t: SignalToken): Promise<Signed<SignalToken>> =>
  signCredential(kinds.token, relay, t)
export const decodeToken = (bytes: Uint8Array): Signed<SignalToken> => decodeCredential(kinds.token, bytes)
export const verifyTokenSignature = (
  c: Signed<SignalToken>,
  relayKey: Uint8Array,
  backend?: Ed25519Backend,
) => verifyCredential(kinds.token, c, relayKey, backend)
/** Tokens travel as a URL query parameter: base64url without padding. */
export const tokenToText = (c: Signed<SignalToken>): string => toBase64url(encodeSigned(c))
export function tokenFromText(text: string): Signed<SignalToken> {
  if (typeof text !== 'string' || text.length > Math.ceil((MAX_CREDENTIAL_BYTES * 4) / 3))
    throw new DecodeError('token text too long')
  let bytes: Uint8Array
  try {
    bytes = fromBase64url(text)
  } catch {
    throw new DecodeError('token is not base64url')
  }
  return decodeToken(bytes)
}

export const signInvite = (admin: Signer, i: Omit<Invite, 'admin'>): Promise<Signed<Invite>> =>
  signCredential(kinds.invite, admin, { ...i, admin: admin.publicKey })
export const decodeInvite = (bytes: Uint8Array): Signed<Invite> => decodeCredential(kinds.invite, bytes)
/** Signature check only (by the admin key the invite names); the relay decides if that key is an admin. */
export const verifyInviteSignature = (c: Signed<Invite>, backend?: Ed25519Backend) =>
  verifyCredential(kinds.invite, c, c.value.admin, backend)
