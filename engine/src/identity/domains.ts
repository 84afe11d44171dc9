/**
 * Domain separation: every signature covers `"peerchat/1/" + domain + 0x00 + payload`,
 * so a signature made for one purpose (a login) can never verify as another (an event).
 */
import { concatBytes, utf8 } from '../bytes.ts'

export const Domain = {
  login: 'login',
  event: 'event',
  stamp: 'stamp',
  /** The relay's signature over the Merkle root of a batch of stamps (stamp-proof.ts). */
  stampBatch: 'stamp-batch',
  session: 'session',
  token: 'token',
  invite: 'invite',
  checkpoint: 'checkpoint',
  sdp: 'sdp',
  /** A user key vouching for the MLS signature key of one of its devices (mls/credential.ts). */
  mlsCredential: 'mls-credential',
} as const
export type Domain = (typeof Domain)[keyof typeof Domain]

const PREFIX = 'peerchat/1/'
const prefixes = new Map<string, Uint8Array>()

export function signedMessage(domain: Domain, payload: Uint8Array): Uint8Array {
  let prefix = prefixes.get(domain)
  if (!prefix) {
    if (!Object.values(Domain).includes(domain)) throw new TypeError(`unknown signature domain ${domain}`)
    prefix = utf8(`${PREFIX}${domain}\0`)
    prefixes.set(domain, prefix)
  }
  return concatBytes(prefix, payload)
}
