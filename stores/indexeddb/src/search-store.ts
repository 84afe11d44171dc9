/**
 * Where the web app keeps its search index (ui-vue's client/search.ts): one string per key (a
 * month of the index, or its `meta`) in the community's database. Only a cache of the channel
 * logs: whatever is lost here is read again from them.
 */
import { transact } from './idb.ts'
import { type DatabaseOptions, openCommunityDatabase, SEARCH_INDEX } from './schema.ts'

export class SearchIndexStore {
  private closed = false

  private constructor(private readonly db: IDBDatabase) {
    db.onversionchange = () => void this.close()
  }

  static async open(opts: DatabaseOptions): Promise<SearchIndexStore> {
    return new SearchIndexStore(await openCommunityDatabase(opts))
  }

  /** Every saved key and its string (rows that are not strings are skipped). */
  async readAll(): Promise<Map<string, string>> {
    this.checkOpen()
    return transact(this.db, SEARCH_INDEX, 'readonly', 'reading the search index', (store) => {
      const keys = store.getAllKeys()
      const values = store.getAll()
      return () => {
        const out = new Map<string, string>()
        keys.result.forEach((k, i) => {
          const v = values.result[i]
          if (typeof k === 'string' && typeof v === 'string') out.set(k, v)
        })
        return out
      }
    })
  }

  /** Puts the strings and deletes the keys mapped to `undefined`, in one transaction. */
  async write(changes: Map<string, string | undefined>): Promise<void> {
    this.checkOpen()
    await transact(this.db, SEARCH_INDEX, { durability: 'relaxed' }, 'the search index', (store) => {
      for (const [key, value] of changes) {
        if (value === undefined) store.delete(key)
        else store.put(value, key)
      }
      return () => undefined
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('search index store is closed')
  }
}
