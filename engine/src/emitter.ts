/**
 * The one typed event emitter of the packages (transports, the relay client, the UI's chat
 * clients). `on` returns its own unsubscribe function; `emit` calls the listeners of that
 * moment in subscription order (a listener may unsubscribe or subscribe while it runs); a
 * listener's error is not caught: it reaches the emitter, and later listeners do not run.
 */
export class TypedEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>()

  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(listener as (payload: never) => void)
    return () => {
      set.delete(listener as (payload: never) => void)
    }
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event)
    if (!set) return
    // Copy: a listener may unsubscribe (or subscribe) while we iterate.
    for (const listener of [...set]) (listener as (payload: Events[K]) => void)(payload)
  }

  /** Drops every subscription. */
  clear(): void {
    this.listeners.clear()
  }

  /** Number of live subscriptions (tests check that unsubscribing really removes them). */
  get size(): number {
    let n = 0
    for (const set of this.listeners.values()) n += set.size
    return n
  }
}
