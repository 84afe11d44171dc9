/** A small typed event emitter shared by transport implementations. */
import type { Listener, TransportEventName, TransportEvents } from './transport.ts'

export class TransportEmitter {
  private readonly listeners = new Map<TransportEventName, Set<(event: never) => void>>()

  on<E extends TransportEventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(listener as (event: never) => void)
    return () => set.delete(listener as (event: never) => void)
  }

  emit<E extends TransportEventName>(event: E, payload: TransportEvents[E]): void {
    const set = this.listeners.get(event)
    if (!set) return
    // Copy: a listener may unsubscribe (or subscribe) while we iterate.
    for (const listener of [...set]) (listener as Listener<E>)(payload)
  }

  /** Number of subscriptions (tests check that unsubscribing really removes them). */
  get size(): number {
    let n = 0
    for (const set of this.listeners.values()) n += set.size
    return n
  }
}
