/**
 * What the rest of the chat needs from the admin state: who may post an ordinary event, who
 * may edit a channel's documents (its canvas), and the `Roles` function the ChannelView uses
 * to judge moderators' redactions and topics.
 */
import type { Roles } from '../roles.ts'
import type { AdminState, KeyRef } from './fold.ts'

/**
 * Whether `key` may post in `channel` at relay time `at` (an event's `ts`): not banned, not
 * timed out, holding `post`, the channel neither archived nor reserved above the key's role,
 * and not the admin channel. Peers drop ordinary events for which this is false; the relay
 * asks it before stamping.
 */
export const mayPost = (state: AdminState, key: KeyRef, channel: string, at: number): boolean =>
  state.mayIn(key, channel, 'post', at)

/**
 * Whether `key` may edit the documents of `channel` (its canvas: `yjs` events) at relay time
 * `at`: the checks of `mayPost`, except that the key's role must reach the channel's
 * `editRole` (absent: its `postRole`) instead. A document's `authorize` asks it before
 * `Y.applyUpdate`; the relay asks it before stamping a `yjs` event.
 */
export const mayEdit = (state: AdminState, key: KeyRef, channel: string, at: number): boolean =>
  state.mayIn(key, channel, 'edit', at)

/**
 * The admin state as the chat's `Roles`: `admin` for owner and admins, `moderator` for
 * moderators and custom roles that may moderate, nothing while banned or timed out.
 * Answers for times before the millisecond of the state's last event do not change as later
 * events are applied; after a refold (a late admin event), rebuild the views that used it.
 */
export const chatRolesFromAdmin =
  (state: AdminState): Roles =>
  (key, ts) =>
    state.rolesAt(key, ts)
