export type { Ed25519Backend } from './backend.ts'
export { Domain, signedMessage } from './domains.ts'
export {
  Identity,
  type PublicKey,
  publicKeyFromText,
  publicKeyToText,
  type Signer,
  shortKey,
} from './keys.ts'
export { nobleBackend } from './noble.ts'
export { isValidPublicKey, isWellFormedSignature, passesPolicy } from './policy.ts'
export { defaultBackend, setDefaultBackend } from './select.ts'
export { verifySignature } from './verify.ts'
export { webcryptoBackend, webcryptoSupportsEd25519 } from './webcrypto.ts'
