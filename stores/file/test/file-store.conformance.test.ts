import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runStoreConformance } from '@peerchat/engine/testing'
import { FileStore } from '../src/file-store.ts'

runStoreConformance(
  'file',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peerchat-fs-'))
    return {
      store: await FileStore.open({ dir }),
      reopen: () => FileStore.open({ dir }),
      teardown: async () => rmSync(dir, { recursive: true, force: true }),
    }
  },
  { durable: true },
)
