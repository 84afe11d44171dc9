/**
 * Child of outbox-crash.test.ts: the outbox's life under a Replica, fast: entries put (several
 * in flight, so writes are grouped), most deleted again once "stamped", with a small rewrite
 * threshold so the journal is compacted during the burst. Each call is reported over IPC the
 * moment it resolves; the test SIGKILLs the process mid-burst.
 */
import { outboxKey } from '@peerchat/engine'
import { FileOutboxStore } from '../src/file-outbox-store.ts'
import { crashEntry, isKept } from './outbox-crash-entries.ts'

const [dir, total, inFlight] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])]
const store = await FileOutboxStore.open({ dir, compactMinRecords: 256 })
let next = 0
async function worker(): Promise<void> {
  while (next < total) {
    const i = next++
    const e = crashEntry(i)
    const key = outboxKey(e.request.author, e.request.clientNonce)
    await store.put(key, e)
    process.send!({ put: i })
    if (isKept(i)) continue // stays pending
    await store.delete(key)
    process.send!({ deleted: i })
  }
}
await Promise.all(Array.from({ length: inFlight }, worker))
process.send!({ done: true })
