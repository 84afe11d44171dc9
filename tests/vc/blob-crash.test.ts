/**
 * Issue #6's crash safety for images: a writer process is SIGKILLed during a burst of blob
 * puts; a fresh FileBlobStore on the same directory holds every blob whose put was
 * acknowledged, byte for byte and with its flags, and nothing that is not a whole blob (every
 * file is re-hashed against its name).
 */
import { fork } from 'node:child_process'
import { hash } from 'node:crypto'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { equalBytes, toHex } from '@peerchat/engine'
import { FileBlobStore } from '@peerchat/virtual-client'
import { afterAll, describe, expect, it } from 'vitest'
import { crashBlob } from './blob-crash-data.ts'

const CHILD = fileURLToPath(new URL('./blob-crash-writer.ts', import.meta.url))
const TOTAL = 400
const IN_FLIGHT = 4
const KILL_AFTER = 60
const dir = mkdtempSync(join(tmpdir(), 'peerchat-blob-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('FileBlobStore under kill -9', () => {
  it('keeps every acknowledged blob of a burst interrupted by SIGKILL', { timeout: 60_000 }, async () => {
    const child = fork(CHILD, [dir, String(TOTAL), String(IN_FLIGHT)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const acked: number[] = []
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m: { acked?: number; done?: boolean }) => {
        if (m.done) reject(new Error('the burst finished before the kill: raise TOTAL'))
        if (m.acked === undefined) return
        acked.push(m.acked)
        if (acked.length === KILL_AFTER) {
          child.kill('SIGKILL')
          resolve()
        }
      })
      child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL') reject(new Error(`writer exited early: ${code}`))
      })
    })
    await new Promise((r) => child.once('exit', r))

    const store = await FileBlobStore.open({ dir })
    try {
      const infos = new Map((await store.list()).map((i) => [toHex(i.digest), i]))
      for (const i of acked) {
        const b = crashBlob(i)
        const info = infos.get(toHex(b.digest))
        expect(info, `acknowledged blob ${i} lost`).toBeDefined()
        expect(info).toMatchObject({ size: b.bytes.length, usedAt: b.usedAt, pinned: b.pinned })
        expect(equalBytes((await store.get(b.digest))!, b.bytes)).toBe(true)
      }
      expect(infos.size).toBeLessThan(TOTAL) // the kill really interrupted the burst
      // Whatever else is there is whole: its bytes hash to its name.
      for (const [hex] of infos) {
        const bytes = (await store.get(Uint8Array.from(Buffer.from(hex, 'hex'))))!
        expect(toHex(new Uint8Array(hash('sha256', bytes, 'buffer')))).toBe(hex)
      }
      expect(readdirSync(join(dir, 'tmp'))).toEqual([])
      console.log(
        `blob crash test: ${acked.length} puts acknowledged before SIGKILL; ${infos.size} blobs after restart; ${store.recovery.tmpFilesRemoved} unfinished writes removed, ${store.recovery.truncatedBytes} journal bytes truncated`,
      )
    } finally {
      await store.close()
    }
  })
})
