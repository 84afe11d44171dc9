/**
 * Child of blob-crash.test.ts: puts a burst of blobs into a FileBlobStore, several in flight
 * at once (so journal records are grouped), and reports each acknowledged put over IPC the
 * moment it resolves. The test SIGKILLs it mid-burst.
 */
import { FileBlobStore } from '@peerchat/virtual-client'
import { crashBlob } from './blob-crash-data.ts'

const [dir, total, inFlight] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])]
const store = await FileBlobStore.open({ dir })
let next = 0
async function worker(): Promise<void> {
  while (next < total) {
    const i = next++
    const b = crashBlob(i)
    await store.put(b.digest, b.bytes, { usedAt: b.usedAt, pinned: b.pinned })
    process.send!({ acked: i })
  }
}
await Promise.all(Array.from({ length: inFlight }, worker))
process.send!({ done: true })
