/**
 * Where a device keeps its encrypted conversations (`MlsConversations`): its MLS secrets, each
 * group's state and notes, and the plaintext of every message it decrypted or sent. MLS keys
 * are used once, so this copy is the device's only readable history of a private conversation:
 * a group's state and the plaintexts it produced are written together (`commit`), never a state
 * that moved past messages whose text was not kept. Browsers keep it in IndexedDB
 * (`MlsVault`, `@peerchat/store-indexeddb`); `MemoryMlsStorage` lasts as long as the process.
 */

/** A message's plaintext (the inner event of an `mls.message` event, by that event's id), or a local notice. */
export interface PlainEvent {
  id: string
  kind: string
  author: Uint8Array
  body: Uint8Array
}

export interface PlainQuery {
  /** Ids below this one only. */
  lt?: string
  limit?: number
  /** Newest first. */
  reverse?: boolean
}

export interface MlsStorage {
  /** The device's exported secrets for `user` (key text), if kept. */
  loadDevice(user: string): Promise<Uint8Array | undefined>
  saveDevice(user: string, exported: Uint8Array): Promise<void>
  /** The channels of every group kept. */
  groups(): Promise<string[]>
  /** A group's saved state and notes (`meta`, the caller's bytes). */
  loadGroup(channel: string): Promise<{ group?: Uint8Array; meta?: Uint8Array }>
  /** Keeps a group's new state, notes and plaintexts, all or nothing. */
  commit(
    channel: string,
    change: { group?: Uint8Array; meta?: Uint8Array; plain?: readonly PlainEvent[] },
  ): Promise<void>
  /** Plaintexts of a channel in id order. */
  plain(channel: string, query?: PlainQuery): Promise<PlainEvent[]>
}

/** An `MlsStorage` in memory (tests, the simulation, processes that keep nothing). */
export class MemoryMlsStorage implements MlsStorage {
  private readonly devices = new Map<string, Uint8Array>()
  private readonly states = new Map<string, { group?: Uint8Array; meta?: Uint8Array }>()
  private readonly plains = new Map<string, Map<string, PlainEvent>>()

  async loadDevice(user: string): Promise<Uint8Array | undefined> {
    return this.devices.get(user)
  }

  async saveDevice(user: string, exported: Uint8Array): Promise<void> {
    this.devices.set(user, exported)
  }

  async groups(): Promise<string[]> {
    return [...this.states.keys()]
  }

  async loadGroup(channel: string): Promise<{ group?: Uint8Array; meta?: Uint8Array }> {
    return { ...this.states.get(channel) }
  }

  async commit(
    channel: string,
    change: { group?: Uint8Array; meta?: Uint8Array; plain?: readonly PlainEvent[] },
  ): Promise<void> {
    const state = this.states.get(channel) ?? {}
    if (change.group) state.group = change.group
    if (change.meta) state.meta = change.meta
    this.states.set(channel, state)
    const plain = this.plains.get(channel) ?? new Map<string, PlainEvent>()
    this.plains.set(channel, plain)
    for (const e of change.plain ?? []) plain.set(e.id, e)
  }

  async plain(channel: string, q: PlainQuery = {}): Promise<PlainEvent[]> {
    const all = [...(this.plains.get(channel)?.values() ?? [])]
      .filter((e) => q.lt === undefined || e.id < q.lt)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    if (q.reverse) all.reverse()
    return q.limit === undefined ? all : all.slice(0, q.limit)
  }
}
