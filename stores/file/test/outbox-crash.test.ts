/**
 * The outbox under kill -9: a writer process puts and deletes entries in a burst and is
 * SIGKILLed mid-way; a fresh FileOutboxStore on the same directory holds every entry whose
 * put was acknowledged and whose delete was not, none whose delete was acknowledged, and
 * nothing that is not one of the entries written (compared byte for byte).
 */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodeRequest, equalBytes, outboxKey } from '@peerchat/engine'
import { afterAll, describe, expect, it } from 'vitest'
import { FileOutboxStore } from '../src/file-outbox-store.ts'
import { crashEntry, isKept } from './outbox-crash-entries.ts'

const CHILD = fileURLToPath(new URL('./outbox-crash-writer.ts', import.meta.url))
const TOTAL = 200_000
const IN_FLIGHT = 8
const KILL_AFTER = 6_000
const dir = mkdtempSync(join(tmpdir(), 'peerchat-outbox-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('FileOutboxStore under kill -9', () => {
  it('keeps every acknowledged put and delete of a burst interrupted by SIGKILL', {
    timeout: 60_000,
  }, async () => {
    const child = fork(CHILD, [dir, String(TOTAL), String(IN_FLIGHT)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const put = new Set<number>()
    const deleted = new Set<number>()
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m: { put?: number; deleted?: number; done?: boolean }) => {
        if (m.done) reject(new Error('the burst finished before the kill: raise TOTAL'))
        if (m.put !== undefined) put.add(m.put)
        if (m.deleted !== undefined) deleted.add(m.deleted)
        if (put.size === KILL_AFTER) {
          child.kill('SIGKILL')
          resolve()
        }
      })
      child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL') reject(new Error(`writer exited early: ${code}`))
      })
    })
    await new Promise((r) => child.once('exit', r))

    const store = await FileOutboxStore.open({ dir })
    const held = await store.list()
    const byKey = new Map(held.map((e) => [outboxKey(e.request.author, e.request.clientNonce), e]))
    const keyOf = (i: number) => {
      const e = crashEntry(i)
      return outboxKey(e.request.author, e.request.clientNonce)
    }
    // Entries never deleted (i % 4 === 0, as the writer does) must be there once their put was
    // acknowledged; any other whose delete was not acknowledged may be there or not (the delete
    // may have been written, just not acknowledged before the kill).
    let mustHave = 0
    for (const i of put)
      if (isKept(i)) {
        mustHave++
        if (!byKey.has(keyOf(i))) throw new Error(`acknowledged entry ${i} lost`)
      }
    for (const i of deleted) if (byKey.has(keyOf(i))) throw new Error(`acknowledged delete of ${i} undone`)
    // Only entries written, each exactly as written.
    for (const e of held) {
      const i = new DataView(e.request.clientNonce.buffer, e.request.clientNonce.byteOffset).getUint32(0)
      const want = crashEntry(i)
      expect(equalBytes(encodeRequest(e.request), encodeRequest(want.request))).toBe(true)
      expect(e.queuedAt).toBe(want.queuedAt)
    }
    expect(held.length).toBeGreaterThanOrEqual(mustHave)
    console.log(
      `outbox crash test: ${put.size} puts and ${deleted.size} deletes acknowledged before SIGKILL; ${held.length} entries after restart (${mustHave} never deleted, all there); ${store.recovery.truncatedBytes} torn bytes cut`,
    )
    await store.close()
  })
})
