/**
 * The virtual client's own identity, in a key file created 0600 on first run (the same
 * rules as the relay's key file: never overwritten, tightened if readable by others).
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Identity } from '@peerchat/engine'

export async function loadOrCreateIdentity(file: string): Promise<{ identity: Identity; created: boolean }> {
  try {
    const text = await readFile(file, 'utf8')
    if ((await stat(file)).mode & 0o077) await chmod(file, 0o600)
    return { identity: await Identity.import(text.trim()), created: false }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  const identity = await Identity.generate()
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  // 'wx': a key another process created meanwhile is never replaced.
  await writeFile(file, `${identity.export()}\n`, { mode: 0o600, flag: 'wx' })
  return { identity, created: true }
}
