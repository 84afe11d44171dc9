import { MemoryStore } from '../src/store/memory.ts'
import { runStoreConformance } from '../src/testing/index.ts'

runStoreConformance('memory', async () => ({ store: new MemoryStore() }))
