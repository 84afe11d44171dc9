/**
 * The channels of end-to-end encrypted groups (`@peerchat/engine/mls`), as the relay and every
 * peer see them: `mls.<group id, hex>` channels carry only MLS commits and encrypted messages;
 * `mls-keys` carries only key packages, `mls-welcomes` only Welcomes (an invitee does not know
 * the group's channel until its Welcome names it). They need no `channel.create` (a direct message
 * must not need an admin) and are not listed: the relay knows a group only by its channel name.
 * Restricting the kinds keeps a buggy client from posting plaintext where members expect none.
 */
import { toHex } from './bytes.ts'

export const MlsKind = {
  /** A key package of a device (`mls_key_package` MLSMessage), authored by its user. */
  keyPackage: 'mls.keypackage',
  /** A Welcome for the members a commit added, naming its channel and commit (mls/wire.ts). */
  welcome: 'mls.welcome',
  /** A commit (`mls_private_message`, content type commit). */
  commit: 'mls.commit',
  /** An application message (`mls_private_message`): an inner event. */
  message: 'mls.message',
} as const

/** Prefix of a group's channel; the rest is the group id in lowercase hex. */
export const PRIVATE_CHANNEL_PREFIX = 'mls.'
/** Where devices publish their key packages. */
export const KEY_PACKAGE_CHANNEL = 'mls-keys'
/** Where Welcomes are posted, each naming its group's channel. */
export const WELCOME_CHANNEL = 'mls-welcomes'

const GROUP_KINDS: readonly string[] = [MlsKind.commit, MlsKind.message]
const KEY_KINDS: readonly string[] = [MlsKind.keyPackage]
const WELCOME_KINDS: readonly string[] = [MlsKind.welcome]

export const isPrivateChannel = (channel: string): boolean =>
  channel.startsWith(PRIVATE_CHANNEL_PREFIX) &&
  /^[0-9a-f]{2,60}$/.test(channel.slice(PRIVATE_CHANNEL_PREFIX.length))

/** The only kinds `channel` accepts, or undefined when any kind may go there. */
export function kindsAllowedIn(channel: string): readonly string[] | undefined {
  if (channel === KEY_PACKAGE_CHANNEL) return KEY_KINDS
  if (channel === WELCOME_CHANNEL) return WELCOME_KINDS
  return isPrivateChannel(channel) ? GROUP_KINDS : undefined
}

/** The channel of the group `groupId` (1 to 30 bytes: a channel name has at most 64 characters). */
export function privateChannelOf(groupId: Uint8Array): string {
  if (groupId.length < 1 || groupId.length > 30) throw new RangeError('a group id has 1 to 30 bytes')
  return PRIVATE_CHANNEL_PREFIX + toHex(groupId)
}

/**
 * Inner kinds of a conversation's plaintexts that are not chat events: local notices (who came
 * and went, kept with the plaintexts under the commit's id, never taken from a message) and a
 * private channel's title (counted from its creator only).
 */
export const PlainKind = {
  notice: 'mls.notice',
  title: 'mls.title',
} as const
