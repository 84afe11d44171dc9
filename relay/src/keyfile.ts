/**
 * The relay's identity: from a secret (environment) or a key file created with 0600
 * permissions on first run. The key text is never logged.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Identity } from '@peerchat/engine'

export type KeySource = 'secret' | 'file' | 'generated'

export async function loadRelayKey(
  keyFile: string,
  secretText?: string,
): Promise<{ identity: Identity; source: KeySource }> {
  if (secretText) return { identity: await Identity.import(secretText), source: 'secret' }
  try {
    const text = await readFile(keyFile, 'utf8')
    const mode = (await stat(keyFile)).mode & 0o777
    // A key readable by others is tightened rather than refused: the owner asked for this file.
    if (mode & 0o077) await chmod(keyFile, 0o600)
    return { identity: await Identity.import(text), source: 'file' }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  const identity = await Identity.generate()
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 })
  // 'wx': never overwrite a key another process created meanwhile.
  await writeFile(keyFile, `${identity.export()}\n`, { mode: 0o600, flag: 'wx' })
  return { identity, source: 'generated' }
}
