import { setIfUndefined } from 'lib0/map'

/** A minimal typed event emitter: `on` returns its own unsubscribe function. */
export class TypedEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(e: never) => void>>()

  on<K extends keyof Events>(event: K, listener: (e: Events[K]) => void): () => void {
    const set = setIfUndefined(this.listeners, event, () => new Set<(e: never) => void>())
    set.add(listener as (e: never) => void)
    return () => set.delete(listener as (e: never) => void)
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event)
    if (!set) return
    for (const l of [...set]) (l as (e: Events[K]) => void)(payload)
  }

  get size(): number {
    let n = 0
    for (const s of this.listeners.values()) n += s.size
    return n
  }
}
