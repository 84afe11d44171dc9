/**
 * The MLS ciphersuite and client configuration peerchat uses: suite 1,
 * MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (X25519, AES-128-GCM, SHA-256, Ed25519), from
 * ts-mls on WebCrypto. Loaded once, on first use.
 */
import {
  type CiphersuiteImpl,
  type ClientConfig,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls'
import { peerchatAuthService } from './credential.ts'

export const MLS_SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'

let suite: Promise<CiphersuiteImpl> | undefined

export function mlsSuite(): Promise<CiphersuiteImpl> {
  suite ??= getCiphersuiteImpl(getCiphersuiteFromName(MLS_SUITE))
  return suite
}

/**
 * ts-mls's defaults with our AuthenticationService (its default accepts every credential). Not
 * stored with a group's state: every state loaded gets it again (group.ts).
 */
export const MLS_CONFIG: ClientConfig = {
  keyRetentionConfig: defaultKeyRetentionConfig,
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: peerchatAuthService,
}
