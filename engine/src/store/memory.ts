/** The in-memory store: one ranked index per channel. Part of the product (tests, bench, relay-free peers). */
import type { Ulid } from '../ulid.ts'
import { checkBatch } from './batch.ts'
import { RankedIndex } from './ranked-index.ts'
import type { Fingerprint, GetRangeOptions, IdRange, Store, StoredEvent } from './store.ts'

export class MemoryStore implements Store {
  private readonly logs = new Map<string, RankedIndex<StoredEvent>>()
  private closed = false

  async putMany(channel: string, items: readonly StoredEvent[]): Promise<number> {
    this.checkOpen()
    checkBatch(channel, items)
    if (items.length === 0) return 0
    let index = this.logs.get(channel)
    if (!index) {
      index = new RankedIndex()
      this.logs.set(channel, index)
    }
    let added = 0
    for (const item of items) if (index.insert(item.event.id, item.digest, item)) added++
    return added
  }

  async getRange(channel: string, range: IdRange, opts: GetRangeOptions = {}): Promise<StoredEvent[]> {
    const index = this.index(channel)
    if (!index) return []
    const out: StoredEvent[] = []
    for (const e of index.entries(range, opts.reverse ?? false, opts.limit)) out.push(e.value)
    return out
  }

  async has(channel: string, id: Ulid): Promise<boolean> {
    return this.index(channel)?.get(id) !== undefined
  }

  async count(channel: string, range: IdRange = {}): Promise<number> {
    return this.index(channel)?.count(range) ?? 0
  }

  async fingerprint(channel: string, range: IdRange): Promise<Fingerprint> {
    return (this.index(channel) ?? EMPTY).fingerprint(range)
  }

  async idsAtRanks(channel: string, range: IdRange, ranks: readonly number[]): Promise<Ulid[]> {
    return (this.index(channel) ?? EMPTY).idsAtRanks(range, ranks)
  }

  async deleteMany(channel: string, ids: readonly Ulid[]): Promise<number> {
    const index = this.index(channel)
    if (!index) return 0
    let removed = 0
    for (const id of ids) if (index.delete(id)) removed++
    if (index.size === 0) this.logs.delete(channel)
    return removed
  }

  async channels(): Promise<string[]> {
    this.checkOpen()
    return [...this.logs.keys()].sort()
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private index(channel: string): RankedIndex<StoredEvent> | undefined {
    this.checkOpen()
    return this.logs.get(channel)
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('store is closed')
  }
}

const EMPTY = new RankedIndex<never>()
