/**
 * Invite links carry a secret; admin events carry only its id, so reading the admin log
 * (every member can) never yields a usable link.
 *
 *   id = SHA-256("peerchat/1/invite-id" | 0x00 | secret)[0..16]
 *
 * The domain tag keeps the id from colliding with any other hash of the same bytes. The
 * relay, given a secret at login, recomputes the id and looks it up in the admin state.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { abytes, concatBytes, randomBytes, utf8 } from '../../bytes.ts'

/** Bytes of an invite secret (what the link carries, base64url). */
export const INVITE_SECRET_BYTES = 32
const TAG = utf8('peerchat/1/invite-id\0')

/** The 16-byte id that `invite.create` and `invite.redeem` name for this secret. */
export function inviteIdOf(secret: Uint8Array): Uint8Array {
  abytes(secret, INVITE_SECRET_BYTES, 'invite secret')
  return sha256(concatBytes(TAG, secret)).slice(0, 16)
}

/** A fresh random invite secret. */
export const newInviteSecret = (): Uint8Array => randomBytes(INVITE_SECRET_BYTES)
