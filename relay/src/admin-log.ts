/**
 * `<data dir>/admin.log`: every admin event the relay stamped, so that a restarted relay knows
 * its owner, roles, bans and invites without asking peers (docs/protocol/relay.md §5.1).
 *
 *   admin.log = record*      record = length:u32 (big-endian) | event (encodeEvent bytes)
 *
 * Appends are written and fsync'd before the event is fanned out. At open, every record is
 * decoded; the first one that does not (a torn write, a corrupt byte) ends the log: the file is
 * truncated there, with a warning. Synchronous IO on purpose: admin events are rare and small.
 */
import { closeSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { decodeEvent, MAX_EVENT_BYTES } from '@peerchat/engine'
import type { StoredAdminEvent } from './core/admin-state.ts'
import type { AdminLogStore } from './core/context.ts'
import type { Logger } from './log.ts'

export const ADMIN_LOG_FILE = 'admin.log'
const HEADER = 4

/** The records of a log file's bytes, and where the good ones end (a corrupt tail starts there). */
export function readAdminLog(bytes: Uint8Array): { events: StoredAdminEvent[]; goodBytes: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const events: StoredAdminEvent[] = []
  let at = 0
  while (at + HEADER <= bytes.length) {
    const length = view.getUint32(at)
    if (length === 0 || length > MAX_EVENT_BYTES || at + HEADER + length > bytes.length) break
    const record = bytes.slice(at + HEADER, at + HEADER + length)
    try {
      events.push({ event: decodeEvent(record), bytes: record })
    } catch {
      break
    }
    at += HEADER + length
  }
  return { events, goodBytes: at }
}

/** One record's bytes. */
export function adminLogRecord(eventBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + eventBytes.length)
  new DataView(out.buffer).setUint32(0, eventBytes.length)
  out.set(eventBytes, HEADER)
  return out
}

export class FileAdminLog implements AdminLogStore {
  private fd: number | null

  private constructor(
    readonly path: string,
    fd: number,
    readonly events: readonly StoredAdminEvent[],
    /** Bytes of whole records: a failed append is cut back to it, not left torn before later ones. */
    private size: number,
  ) {
    this.fd = fd
  }

  /** Opens (creating) `dir/admin.log`, reads it and truncates a corrupt tail. */
  static open(dir: string, log: Logger): FileAdminLog {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const path = join(dir, ADMIN_LOG_FILE)
    const fd = openSync(path, 'a+', 0o600)
    try {
      const bytes = new Uint8Array(readFileSync(fd))
      const { events, goodBytes } = readAdminLog(bytes)
      if (goodBytes < bytes.length) {
        log('relay.admin_log_truncated', {
          file: path,
          kept_events: events.length,
          dropped_bytes: bytes.length - goodBytes,
        })
        ftruncateSync(fd, goodBytes)
        fsyncSync(fd)
      }
      return new FileAdminLog(path, fd, events, goodBytes)
    } catch (e) {
      closeSync(fd)
      throw e
    }
  }

  append(eventBytes: Uint8Array): void {
    if (this.fd === null) throw new Error('admin log closed')
    const record = adminLogRecord(eventBytes)
    try {
      let written = 0
      while (written < record.length) written += writeSync(this.fd, record, written)
      fsyncSync(this.fd)
    } catch (e) {
      try {
        ftruncateSync(this.fd, this.size)
      } catch {}
      throw e
    }
    this.size += record.length
  }

  close(): void {
    if (this.fd === null) return
    closeSync(this.fd)
    this.fd = null
  }
}
