/**
 * `@peerchat/engine/mls`: end-to-end encrypted groups over channel logs with MLS (RFC 9420,
 * ts-mls, suite MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519). A device's MLS key is vouched for
 * by the user's peerchat key; key packages, commits, Welcomes and application messages are
 * events of the log, and the relay's order decides which commit wins an epoch.
 */

export {
  isPrivateChannel,
  KEY_PACKAGE_CHANNEL,
  kindsAllowedIn,
  PRIVATE_CHANNEL_PREFIX,
  privateChannelOf,
  WELCOME_CHANNEL,
} from '../private-channels.ts'
export { MAX_RETRIES, MlsChannel, type MlsChannelListener, type MlsChannelOptions } from './channel.ts'
export {
  type Conversation,
  type ConversationKind,
  type ConversationListener,
  conversationKindOf,
  MlsConversations,
  type MlsConversationsOptions,
  NOTICE_KIND,
  type Notice,
  policyOf,
  TITLE_KIND,
  TITLE_MAX,
} from './conversations.ts'
export { bindCredential, checkCredential, ownerOf, peerchatAuthService } from './credential.ts'
export { KEY_PACKAGES_KEPT, MlsDevice, type MlsSigningKey, readKeyPackage, refOf } from './device.ts'
export {
  anyMember,
  type CommitPolicy,
  creatorOnly,
  type MembershipChange,
  type MlsEvent,
  MlsGroup,
  type MlsReceived,
} from './group.ts'
export {
  KEY_PACKAGE_SCAN,
  keyPackageOf,
  openMlsChannel,
  publishKeyPackage,
  type ReplicaMlsChannel,
  watchWelcomes,
} from './replica.ts'
export {
  type BlobSeal,
  decodeSealedAttachment,
  encodeSealedAttachment,
  openBlob,
  SEALED_ATTACHMENT_KIND,
  sealBlob,
} from './sealed-blob.ts'
export { MemoryMlsStorage, type MlsStorage, type PlainEvent, type PlainQuery } from './storage.ts'
export { MLS_CONFIG, MLS_SUITE, mlsSuite } from './suite.ts'
export {
  decodeInner,
  decodeWelcomeEnvelope,
  encodeInner,
  encodeWelcomeEnvelope,
  headerOf,
  INNER_BODY_MAX,
  type InnerEvent,
  MLS_MESSAGE_MAX,
  MlsKind,
  readMlsMessage,
  type WelcomeEnvelope,
} from './wire.ts'
