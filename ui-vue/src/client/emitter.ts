/** A minimal typed emitter: one handler set per event name. */
export class Emitter<Events extends object> {
  private readonly handlers = new Map<keyof Events, Set<(value: never) => void>>()

  on<K extends keyof Events>(type: K, handler: (value: Events[K]) => void): () => void {
    let set = this.handlers.get(type)
    if (!set) {
      set = new Set()
      this.handlers.set(type, set)
    }
    set.add(handler as (value: never) => void)
    return () => {
      set.delete(handler as (value: never) => void)
    }
  }

  emit<K extends keyof Events>(type: K, value: Events[K]): void {
    const set = this.handlers.get(type)
    if (!set) return
    // Copy: a handler may unsubscribe while we iterate.
    for (const handler of [...set]) (handler as (value: Events[K]) => void)(value)
  }

  clear(): void {
    this.handlers.clear()
  }

  /** Number of live subscriptions (tests check that stop() removes them all). */
  get size(): number {
    let n = 0
    for (const set of this.handlers.values()) n += set.size
    return n
  }
}
