/**
 * Bookkeeping both cores share: how many sockets an address or a key holds, and which login
 * sessions are open. A signaling token is bound to the `/relay` socket that obtained it: it
 * admits only while that session is open, and the signaling sockets it admitted close with it.
 */

/** Sockets per key (an address, a public key). A key is forgotten at zero: the map is bounded by the open sockets. */
export class Tally {
  private readonly counts = new Map<string, number>()

  get(key: string): number {
    return this.counts.get(key) ?? 0
  }

  /** Counts one more; returns the new count. */
  add(key: string): number {
    const n = this.get(key) + 1
    this.counts.set(key, n)
    return n
  }

  remove(key: string): void {
    const n = this.get(key) - 1
    if (n <= 0) this.counts.delete(key)
    else this.counts.set(key, n)
  }
}

/** The login sessions open on this relay, by session id (`idKey`). */
export class OpenSessions {
  private readonly open = new Set<string>()
  private readonly listeners: ((id: string) => void)[] = []

  add(id: string): void {
    this.open.add(id)
  }

  has(id: string): boolean {
    return this.open.has(id)
  }

  /** The session's socket closed (logout, expiry, any refusal): tells every listener once. */
  delete(id: string): void {
    if (!this.open.delete(id)) return
    for (const listener of this.listeners) listener(id)
  }

  onClose(listener: (id: string) => void): void {
    this.listeners.push(listener)
  }
}

/** One string per byte sequence (latin1): the Map key of session ids, keys and token signatures. */
export function idKey(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1')
}
