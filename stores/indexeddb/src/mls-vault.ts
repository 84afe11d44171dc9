/**
 * What a browser keeps of its encrypted groups (`@peerchat/engine/mls`), in the community's
 * database: the device's MLS secrets (`MlsDevice.export`), each group's state (`MlsGroup.save`)
 * and the plaintext of every message this device decrypted or sent. MLS keys are used once, so
 * this copy is the device's only readable history of a private conversation: a group's state
 * and the plaintexts it produced are written in one transaction (never a state that moved past
 * messages whose text was not kept). These hold secrets: as safe as the identity kept beside it.
 */
import type { MlsStorage, PlainEvent, PlainQuery } from '@peerchat/engine/mls'
import { transact, transactStores } from './idb.ts'
import { type DatabaseOptions, MLS_PLAIN, MLS_SECRETS, openCommunityDatabase } from './schema.ts'

interface PlainRow {
  c: string
  i: string
  k: string
  a: Uint8Array
  b: Uint8Array
}

const deviceKey = (user: string) => `device:${user}`
const groupKey = (channel: string) => `group:${channel}`
const metaKey = (channel: string) => `meta:${channel}`

/** The `MlsStorage` of `MlsConversations` in a browser. */
export class MlsVault implements MlsStorage {
  private closed = false

  private constructor(private readonly db: IDBDatabase) {
    db.onversionchange = () => void this.close()
  }

  static async open(opts: DatabaseOptions): Promise<MlsVault> {
    return new MlsVault(await openCommunityDatabase(opts))
  }

  /** The device's exported secrets for `user` (key text), if kept. */
  loadDevice(user: string): Promise<Uint8Array | undefined> {
    return this.get(deviceKey(user))
  }

  async saveDevice(user: string, exported: Uint8Array): Promise<void> {
    this.checkOpen()
    await transact(this.db, MLS_SECRETS, { durability: 'strict' }, 'the encrypted groups key', (store) => {
      store.put(exported, deviceKey(user))
      return () => undefined
    })
  }

  /** A group's saved state and notes, if kept. */
  async loadGroup(channel: string): Promise<{ group?: Uint8Array; meta?: Uint8Array }> {
    const [group, meta] = await Promise.all([this.get(groupKey(channel)), this.get(metaKey(channel))])
    return { ...(group ? { group } : {}), ...(meta ? { meta } : {}) }
  }

  /** The channels of every group kept (their notes are written with them). */
  async groups(): Promise<string[]> {
    this.checkOpen()
    const range = IDBKeyRange.bound('meta:', 'meta:\uffff')
    const keys = await transact(this.db, MLS_SECRETS, 'readonly', 'listing the encrypted groups', (store) => {
      const request = store.getAllKeys(range)
      return () => request.result
    })
    return keys.map((k) => String(k).slice('meta:'.length))
  }

  /**
   * Keeps a group's new state and the plaintexts it produced, together (all or nothing): a quota
   * failure is a LimitError and nothing of it is written.
   */
  async commit(
    channel: string,
    change: { group?: Uint8Array; meta?: Uint8Array; plain?: readonly PlainEvent[] },
  ): Promise<void> {
    this.checkOpen()
    await transactStores(
      this.db,
      [MLS_SECRETS, MLS_PLAIN],
      { durability: 'strict' },
      `the encrypted messages of ${channel}`,
      (tx) => {
        const secrets = tx.objectStore(MLS_SECRETS)
        if (change.group) secrets.put(change.group, groupKey(channel))
        if (change.meta) secrets.put(change.meta, metaKey(channel))
        const plain = tx.objectStore(MLS_PLAIN)
        for (const e of change.plain ?? [])
          plain.put({ c: channel, i: e.id, k: e.kind, a: e.author, b: e.body } satisfies PlainRow)
        return () => undefined
      },
    )
  }

  /** Plaintexts of a channel in id order (newest first with `reverse`), ids below `lt`. */
  async plain(channel: string, o: PlainQuery = {}): Promise<PlainEvent[]> {
    this.checkOpen()
    const range = IDBKeyRange.bound([channel, ''], [channel, o.lt ?? '\uffff'], false, o.lt !== undefined)
    return transact(this.db, MLS_PLAIN, 'readonly', `reading the messages of ${channel}`, (store) => {
      const out: PlainEvent[] = []
      const request = store.openCursor(range, o.reverse ? 'prev' : 'next')
      request.onsuccess = () => {
        const cursor = request.result
        if (!cursor || (o.limit !== undefined && out.length >= o.limit)) return
        const row = cursor.value as PlainRow
        out.push({ id: row.i, kind: row.k, author: new Uint8Array(row.a), body: new Uint8Array(row.b) })
        cursor.continue()
      }
      return () => out
    })
  }

  /** Forgets a group: its state and its plaintexts (leaving a conversation on this device). */
  async forget(channel: string): Promise<void> {
    this.checkOpen()
    await transactStores(
      this.db,
      [MLS_SECRETS, MLS_PLAIN],
      { durability: 'strict' },
      `forgetting ${channel}`,
      (tx) => {
        tx.objectStore(MLS_SECRETS).delete(groupKey(channel))
        tx.objectStore(MLS_SECRETS).delete(metaKey(channel))
        tx.objectStore(MLS_PLAIN).delete(IDBKeyRange.bound([channel, ''], [channel, '\uffff']))
        return () => undefined
      },
    )
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  private async get(key: string): Promise<Uint8Array | undefined> {
    this.checkOpen()
    const value = await transact(
      this.db,
      MLS_SECRETS,
      'readonly',
      'reading the encrypted groups',
      (store) => {
        const request = store.get(key)
        return () => request.result as unknown
      },
    )
    return value instanceof Uint8Array ? new Uint8Array(value) : undefined
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the encrypted groups vault is closed')
  }
}
