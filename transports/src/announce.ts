/**
 * How a virtual client says so: a field in its y-webrtc awareness state,
 * `{ peerchat: { kind: 'virtual', key: <its public key text> } }`.
 *
 * Awareness is spoofable (any peer can publish any state). That is acceptable here because
 * the claim only lowers priority: a peer that reads it ranks the key last when choosing whom
 * to sync from, and everything it receives is still verified. A forged claim about someone
 * else's key can only make that peer be asked later, never trusted more.
 * Browser-safe (no node: imports): virtual clients announce with it, the web app reads it.
 */

/** The part of y-protocols' Awareness used here. */
export interface AwarenessLike {
  getStates(): ReadonlyMap<number, Record<string, unknown>>
  setLocalStateField(field: string, value: unknown): void
}

export const ANNOUNCE_FIELD = 'peerchat'

export function announceVirtual(awareness: AwarenessLike, keyText: string): void {
  awareness.setLocalStateField(ANNOUNCE_FIELD, { kind: 'virtual', key: keyText })
}

export function isAnnouncedVirtual(awareness: AwarenessLike | undefined, keyText: string): boolean {
  if (!awareness) return false
  for (const state of awareness.getStates().values()) {
    const mark = state[ANNOUNCE_FIELD] as { kind?: unknown; key?: unknown } | undefined
    if (mark?.kind === 'virtual' && mark.key === keyText) return true
  }
  return false
}
