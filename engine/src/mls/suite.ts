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
 * Keys of skipped messages kept per sender (ts-mls keeps 10): a device back online takes live
 * messages first and the older ones its peers send after, which must still decrypt.
 */
export const SKIPPED_KEYS_KEPT = 200

/**
 * ts-mls's defaults with our AuthenticationService (its default accepts every credential) and
 * `SKIPPED_KEYS_KEPT`. Not stored with a group's state: every state loaded gets it again (group.ts).
 */
export const MLS_CONFIG: ClientConfig = {
  keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForGenerations: SKIPPED_KEYS_KEPT },
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: peerchatAuthService,
}
