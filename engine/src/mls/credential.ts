/**
 * An MLS member is a peerchat user: the basic credential's identity is the user's 32-byte
 * Ed25519 public key followed by that key's signature (domain `mls-credential`) over the MLS
 * signature public key of the device. Anyone holding a leaf can check the binding alone, and one
 * user may have several devices (each its own MLS key), as MLS wants signature keys unique.
 */

import type { AuthenticationService, Credential, CredentialBasic } from 'ts-mls'
import { concatBytes } from '../bytes.ts'
import { Domain } from '../identity/domains.ts'
import type { PublicKey, Signer } from '../identity/keys.ts'
import { verifySignature } from '../identity/verify.ts'

const KEY = 32
const SIG = 64

/** The credential of `signer`'s device whose MLS signature public key is `mlsKey`. */
export async function bindCredential(signer: Signer, mlsKey: Uint8Array): Promise<Credential> {
  const sig = await signer.sign(Domain.mlsCredential, mlsKey)
  return { credentialType: 'basic', identity: concatBytes(signer.publicKey, sig) }
}

/** The user key a credential names, read without checking it (leaves in a tree were checked on entry). */
export function ownerOf(credential: Credential): PublicKey | undefined {
  if (credential.credentialType !== 'basic' || credential.identity.length !== KEY + SIG) return undefined
  return credential.identity.subarray(0, KEY)
}

/** The user key that vouches for `mlsKey` in `credential`, or undefined if it does not. */
export async function checkCredential(
  credential: Credential,
  mlsKey: Uint8Array,
): Promise<PublicKey | undefined> {
  const owner = ownerOf(credential)
  if (!owner) return undefined
  const sig = (credential as CredentialBasic).identity.subarray(KEY)
  return (await verifySignature(Domain.mlsCredential, owner, mlsKey, sig)) ? owner : undefined
}

/** Refuses every leaf whose credential does not bind its signature key to a peerchat user. */
export const peerchatAuthService: AuthenticationService = {
  validateCredential: async (credential, mlsKey) => (await checkCredential(credential, mlsKey)) !== undefined,
}
