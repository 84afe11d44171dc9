/**
 * Child of crash.test.ts: puts a burst of events into a FileStore in batches, several in
 * flight at once (so writes are grouped), and reports each acknowledged batch over IPC the
 * moment its putMany resolves. The test SIGKILLs it mid-burst.
 */
import { fakeStoredEvent } from '@peerchat/engine/testing'
import { FileStore } from '@peerchat/virtual-client'

const [dir, total, batch, inFlight] = [
  process.argv[2]!,
  Number(process.argv[3]),
  Number(process.argv[4]),
  Number(process.argv[5]),
]
const store = await FileStore.open({ dir })
let next = 0
async function worker(): Promise<void> {
  while (next < total) {
    const from = next
    const to = Math.min(total, from + batch)
    next = to
    const items = Array.from({ length: to - from }, (_, k) => fakeStoredEvent('burst', from + k))
    await store.putMany('burst', items)
    process.send!({ acked: [from, to] })
  }
}
await Promise.all(Array.from({ length: inFlight }, worker))
process.send!({ done: true })
