/** `<data dir>/admin.log` (relay/src/admin-log.ts): records read back, a corrupt tail cut with a warning. */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeEvent, Identity, monotonicUlid, randomBytes, signRequest, stamp } from '@peerchat/engine'
import { AdminKind, encodeAdminBody } from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { afterAll, describe, expect, it } from 'vitest'
import { ADMIN_LOG_FILE, adminLogRecord, FileAdminLog } from '../src/admin-log.ts'

useNodeCrypto()
const relay = await Identity.generate()
const nextId = monotonicUlid()
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const eventBytes = async () =>
  encodeEvent(
    await stamp(
      relay,
      nextId(),
      await signRequest(relay, {
        channel: 'admin',
        kind: AdminKind.claim,
        clientNonce: randomBytes(16),
        body: encodeAdminBody({ kind: AdminKind.claim, body: {} }),
      }),
    ),
  )

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'peerchat-admin-log-'))
  dirs.push(d)
  return d
}

describe('FileAdminLog', () => {
  it('creates the file 0600, appends records and reads them back at the next open', async () => {
    const dir = join(tempDir(), 'nested')
    const warnings: string[] = []
    const log = FileAdminLog.open(dir, (e) => warnings.push(e))
    expect(log.events).toEqual([])
    const a = await eventBytes()
    const b = await eventBytes()
    log.append(a)
    log.append(b)
    log.close()
    log.close() // idempotent
    expect(() => log.append(a)).toThrow(/closed/)
    expect(statSync(join(dir, ADMIN_LOG_FILE)).mode & 0o777).toBe(0o600)
    const again = FileAdminLog.open(dir, (e) => warnings.push(e))
    expect(again.events.map((e) => e.bytes)).toEqual([a, b])
    expect(again.events[1]!.event.kind).toBe(AdminKind.claim)
    expect(warnings).toEqual([])
    again.close()
  })

  it.each([
    ['a torn record (length past the end)', (r: Uint8Array) => r.slice(0, r.length - 3)],
    ['a zero length', () => new Uint8Array(4)],
    ['a record that does not decode', (r: Uint8Array) => adminLogRecord(r.slice(4).fill(0xff))],
    ['a few stray bytes', () => new Uint8Array([1, 2])],
  ])(
    'truncates %s at the end with a warning, keeps what came before, and appends after it',
    async (_, tail) => {
      const dir = tempDir()
      const good = await eventBytes()
      const path = join(dir, ADMIN_LOG_FILE)
      writeFileSync(path, adminLogRecord(good))
      appendFileSync(path, tail(adminLogRecord(await eventBytes())))
      const warnings: [string, unknown][] = []
      const log = FileAdminLog.open(dir, (e, f) => warnings.push([e, f]))
      expect(log.events.map((e) => e.bytes)).toEqual([good])
      expect(warnings).toEqual([['relay.admin_log_truncated', expect.objectContaining({ kept_events: 1 })]])
      expect(readFileSync(path)).toEqual(Buffer.from(adminLogRecord(good)))
      const next = await eventBytes()
      log.append(next)
      log.close()
      expect(FileAdminLog.open(dir, () => {}).events.map((e) => e.bytes)).toEqual([good, next])
    },
  )
})
