/**
 * Issue #6's crash test: a writer process is SIGKILLed during a burst of 10,000 events; a
 * fresh FileStore on the same directory holds every event whose batch was acknowledged, and
 * nothing that is not one of the events written (each compared byte for byte).
 */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodeEvent, equalBytes } from '@peerchat/engine'
import { fakeStoredEvent } from '@peerchat/engine/testing'
import { FileStore } from '@peerchat/virtual-client'
import { afterAll, describe, expect, it } from 'vitest'

const CHILD = fileURLToPath(new URL('./crash-writer.ts', import.meta.url))
const TOTAL = 10_000
const BATCH = 50
const IN_FLIGHT = 4
const dir = mkdtempSync(join(tmpdir(), 'peerchat-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('FileStore under kill -9', () => {
  it('keeps every acknowledged event of a burst interrupted by SIGKILL', { timeout: 60_000 }, async () => {
    const child = fork(CHILD, [dir, String(TOTAL), String(BATCH), String(IN_FLIGHT)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const acked: [number, number][] = []
    const killedAt = await new Promise<number>((resolve, reject) => {
      child.on('message', (m: { acked?: [number, number]; done?: boolean }) => {
        if (m.done) reject(new Error('the burst finished before the kill: raise TOTAL'))
        if (!m.acked) return
        acked.push(m.acked)
        // Kill once a good part is acknowledged, while batches are in flight.
        if (acked.length === Math.floor(TOTAL / BATCH / 3)) {
          child.kill('SIGKILL')
          resolve(acked.length)
        }
      })
      child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL') reject(new Error(`writer exited early: ${code}`))
      })
    })
    await new Promise((r) => child.once('exit', r))
    expect(killedAt).toBeGreaterThan(0)

    const store = await FileStore.open({ dir })
    const held = await store.getRange('burst', {})
    const heldIds = new Set(held.map((s) => s.event.id))
    let mustHave = 0
    for (const [from, to] of acked)
      for (let i = from; i < to; i++) {
        mustHave++
        if (!heldIds.has(fakeStoredEvent('burst', i).event.id))
          throw new Error(`acknowledged event ${i} lost`)
      }
    expect(held.length).toBeGreaterThanOrEqual(mustHave)
    expect(held.length).toBeLessThan(TOTAL) // the kill really interrupted the burst
    // Only valid events: each is exactly one of those written (bytes and digest).
    const byId = new Map(
      Array.from({ length: TOTAL }, (_, i) => fakeStoredEvent('burst', i)).map((s) => [s.event.id, s]),
    )
    for (const s of held) {
      const want = byId.get(s.event.id)
      expect(want, `unknown id ${s.event.id}`).toBeDefined()
      expect(equalBytes(encodeEvent(s.event), encodeEvent(want!.event))).toBe(true)
      expect(equalBytes(s.digest, want!.digest)).toBe(true)
    }
    console.log(
      `crash test: ${acked.length} batches (${mustHave} events) acknowledged before SIGKILL; ${held.length} held after restart; ${store.recovery.truncatedBytes} torn bytes truncated`,
    )
    await store.close()
  })
})
