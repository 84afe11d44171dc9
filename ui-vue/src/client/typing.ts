/**
 * Typing hints over the mesh's awareness (y-protocols): each client sets `peerchat.typing`
 * to `{ key, channel }` while composing. Any peer can spoof an awareness state, so a hint is
 * shown only for a key the relay's signed presence has online, in a channel it is joined to,
 * and it grants nothing.
 */

/** The awareness field this client writes and reads. */
export const TYPING_FIELD = 'peerchat.typing'
/** Longest key text accepted in a hint (default 64; base64url of 32 bytes is 43). */
export const TYPING_KEY_MAX = 64

export interface TypingHint {
  key: string
  channel: string | null
}

/**
 * Who types where, from awareness states (untrusted): key text -> channel. Hints from this
 * client's own awareness id, for keys not online, or for channels not joined are dropped.
 */
export function typingFromStates(
  states: ReadonlyMap<number, Record<string, unknown>>,
  o: { localId: number; selfKey: string; isOnline: (key: string) => boolean; channels: readonly string[] },
): Map<string, string> {
  const out = new Map<string, string>()
  for (const [id, state] of states) {
    if (id === o.localId) continue
    const hint = state?.[TYPING_FIELD] as Partial<TypingHint> | undefined
    if (typeof hint !== 'object' || hint === null) continue
    const { key, channel } = hint
    if (typeof key !== 'string' || key.length > TYPING_KEY_MAX || key === o.selfKey) continue
    if (typeof channel !== 'string' || !o.channels.includes(channel) || !o.isOnline(key)) continue
    out.set(key, channel)
  }
  return out
}
