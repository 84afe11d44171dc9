import { MemoryBlobStore } from '../src/blobs/index.ts'
import { runBlobStoreConformance } from '../src/testing/index.ts'

runBlobStoreConformance('memory', async () => ({ store: new MemoryBlobStore() }))
