/**
 * An Ed25519 backend does raw signing and verification on bytes. Backends never see input
 * the policy refused (see policy.ts); `verify` returns false for any bad signature and
 * throws only on programmer error.
 */
export interface Ed25519Backend {
  readonly name: string
  /** Public key of a 32-byte seed. */
  publicKey(seed: Uint8Array): Promise<Uint8Array>
  sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array>
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>
}
