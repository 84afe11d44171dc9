/**
 * What a relay client knows of one channel's presence (docs/protocol/relay.md §5): the relay's
 * member count, the head it keeps every member told about (a snapshot, then PresenceTick
 * frames), and the members this client looked up by key (PresenceFind) or read by page
 * (PresenceQuery). Pure: the sessions come in verified.
 *
 * Members outside the head are not followed: the relay says nothing when one of them leaves.
 * They are dropped when a tick says they left the head, when a forward to them finds no such
 * session, and at every new snapshot (a rejoin or a reconnect).
 */
import { type Session, toHex } from '@peerchat/engine'

export const sessionHex = (sessionId: Uint8Array): string => toHex(sessionId)

export class ChannelPresence {
  /** Sessions in the channel as the relay counts them (on every node); undefined before the snapshot. */
  count: number | undefined
  /** Known members by session id (hex): the head, this client itself, and those looked up or paged. */
  readonly members = new Map<string, Session>()

  /**
   * A snapshot: the one after a join (the head, and this client outside it), or one the relay
   * sends every member when too much of the head changed at once (the head alone: `own`, this
   * client's session, stays).
   */
  snapshot(sessions: readonly Session[], count: number, own?: Session): void {
    this.members.clear()
    if (own) this.members.set(sessionHex(own.sessionId), own)
    for (const s of sessions) this.members.set(sessionHex(s.sessionId), s)
    this.count = count
  }

  /** A tick: applied on top of a snapshot (false, and ignored, before one). */
  tick(entered: readonly Session[], left: readonly Uint8Array[], count: number): boolean {
    if (this.count === undefined) return false
    for (const id of left) this.members.delete(sessionHex(id))
    for (const s of entered) this.members.set(sessionHex(s.sessionId), s)
    this.count = count
    return true
  }

  /** Members read by page or by key (the count with them, once the snapshot is in); true if anything is new. */
  add(sessions: readonly Session[], count: number): boolean {
    let changed = false
    for (const s of sessions) {
      const id = sessionHex(s.sessionId)
      if (this.members.has(id)) continue
      this.members.set(id, s)
      changed = true
    }
    if (this.count !== undefined && this.count !== count) {
      this.count = count
      changed = true
    }
    return changed
  }

  drop(sessionId: Uint8Array): boolean {
    return this.members.delete(sessionHex(sessionId))
  }
}
