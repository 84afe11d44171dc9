/**
 * Promise wrappers around IndexedDB's event API, and the mapping of its failures onto the
 * engine's error classes. Everything resolves on transaction completion, never on request
 * success: only a completed transaction is committed.
 */
import { LimitError } from '@peerchat/engine'

/** The `limit` tag of the LimitError raised when the browser refuses a write for lack of space. */
export const QUOTA_LIMIT = 'storage-quota'

/** Browsers name a full disk or an exhausted origin quota this way (Firefox once used the NS_ name). */
export function isQuotaError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED'
}

/**
 * A failed IndexedDB operation as an error a caller can act on: a quota failure becomes a
 * LimitError telling the user what to do; anything else keeps its cause.
 * `what` names what was not saved or read ("12 events of #general").
 */
export function storageError(error: unknown, what: string): Error {
  if (isQuotaError(error))
    return new LimitError(
      `Browser storage is full: ${what} could not be saved, and nothing of it was written. ` +
        'Free space for this site (remove large attachments, or clear data of other sites) ' +
        'or allow it more storage, then retry.',
      QUOTA_LIMIT,
    )
  const detail =
    error instanceof Error || error instanceof DOMException ? `${error.name}: ${error.message}` : 'aborted'
  return new Error(`IndexedDB failed on ${what} (${detail})`, { cause: error })
}

/** A read-write transaction with its durability ('strict': committed means flushed to disk). */
export interface WriteMode {
  durability: 'strict' | 'relaxed'
}

/**
 * Runs `fill` (which issues requests on the transaction) and resolves with its result once the
 * transaction has committed. A throw inside `fill` aborts the transaction, so a batch is
 * written entirely or not at all.
 */
export function transact<T>(
  db: IDBDatabase,
  storeName: string,
  mode: 'readonly' | WriteMode,
  what: string,
  fill: (store: IDBObjectStore) => () => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let tx: IDBTransaction
    try {
      tx =
        mode === 'readonly' ? db.transaction(storeName, mode) : db.transaction(storeName, 'readwrite', mode)
    } catch (error) {
      reject(storageError(error, what))
      return
    }
    let result: () => T = () => undefined as T
    tx.oncomplete = () => resolve(result())
    tx.onabort = () => reject(storageError(tx.error, what))
    try {
      result = fill(tx.objectStore(storeName))
    } catch (error) {
      reject(storageError(error, what))
      try {
        tx.abort()
      } catch {
        // Already finished or aborting: the rejection above stands.
      }
    }
  })
}

/**
 * A request that may fail with `errorName` without aborting its transaction (an `add` of a key
 * already present): `onTolerated` runs instead of `onSuccess`.
 */
export function tolerate(
  request: IDBRequest,
  errorName: string,
  onSuccess: () => void,
  onTolerated: () => void,
): void {
  request.onsuccess = onSuccess
  request.onerror = (event) => {
    if (request.error?.name !== errorName) return
    event.preventDefault()
    event.stopPropagation()
    onTolerated()
  }
}

export function openDatabase(
  factory: IDBFactory,
  name: string,
  version: number,
  upgrade: (db: IDBDatabase, oldVersion: number) => void,
): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let request: IDBOpenDBRequest
    try {
      request = factory.open(name, version)
    } catch (error) {
      reject(storageError(error, `opening ${name}`))
      return
    }
    request.onupgradeneeded = (event) => upgrade(request.result, event.oldVersion)
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(storageError(request.error, `opening ${name}`))
    request.onblocked = () =>
      reject(new Error(`${name} is held open at an older version by another tab: close it and reload`))
  })
}

export function deleteDatabase(factory: IDBFactory, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = factory.deleteDatabase(name)
    request.onsuccess = () => resolve()
    request.onerror = () => reject(storageError(request.error, `deleting ${name}`))
    request.onblocked = () => reject(new Error(`${name} is still open in another tab: close it and retry`))
  })
}

/**
 * `transact` over several object stores in one transaction (all written, or none). Request
 * callbacks that issue more requests wrap them in `guard`: a throw there (a synchronous quota
 * refusal) aborts the transaction and is what the promise rejects with.
 */
export function transactStores<T>(
  db: IDBDatabase,
  storeNames: readonly string[],
  mode: 'readonly' | WriteMode,
  what: string,
  fill: (tx: IDBTransaction, guard: (fn: () => void) => () => void) => () => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let tx: IDBTransaction
    try {
      tx =
        mode === 'readonly'
          ? db.transaction([...storeNames], mode)
          : db.transaction([...storeNames], 'readwrite', mode)
    } catch (error) {
      reject(storageError(error, what))
      return
    }
    let result: () => T = () => undefined as T
    let thrown: unknown
    const guard = (fn: () => void) => (): void => {
      try {
        fn()
      } catch (error) {
        thrown ??= error
        try {
          tx.abort()
        } catch {
          // Already aborting.
        }
      }
    }
    tx.oncomplete = () => resolve(result())
    tx.onabort = () => reject(storageError(thrown ?? tx.error, what))
    try {
      result = fill(tx, guard)
    } catch (error) {
      reject(storageError(error, what))
      try {
        tx.abort()
      } catch {
        // Already finished or aborting: the rejection above stands.
      }
    }
  })
}
