import { open } from 'node:fs/promises'

/** fsyncs a directory, so that a file created or renamed in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
