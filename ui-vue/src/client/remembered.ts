/**
 * What a return (a reload, or the app opened again) must show in its first frame, kept in
 * localStorage per identity and community: the read markers and the last-known display names.
 *
 * Both could be rebuilt from the stored history, but only by reading thousands of events, which
 * the client does after the first page (replica-client.ts, `scanStored`); until then a read
 * mention came back as a badge (the markers lived in memory only) and people were shown by key.
 * A few kilobytes read synchronously at start are the simplest way to get that frame right;
 * the history stays the truth (any profile read from it replaces a remembered name).
 */
import type { Ulid } from '@peerchat/engine'
import type { KeyValueStorage } from './communities.ts'

export const READ_MARKERS_STORAGE_KEY = 'peerchat.read.v1'
export const NAMES_STORAGE_KEY = 'peerchat.names.v1'
/** Display names remembered per community (default 1,000, the newest profiles first). */
export const NAMES_REMEMBERED_MAX = 1_000
/**
 * A burst of profiles (the store's scan, a catch-up) is written once, this long after its first
 * (default 1 s), or sooner when the page goes (the client calls `flush` on `pagehide`).
 */
export const NAMES_SAVE_DELAY_MS = 1_000

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/

export class Remembered {
  private readonly markersKey: string
  private readonly namesKey: string
  private namesTimer: ReturnType<typeof setTimeout> | undefined
  private pendingNames: (() => Iterable<readonly [string, string]>) | undefined

  /** `self` and `community` as text (public keys); `storage` undefined: nothing is kept. */
  constructor(
    private readonly storage: KeyValueStorage | undefined,
    self: string,
    community: string,
  ) {
    this.markersKey = `${READ_MARKERS_STORAGE_KEY}:${self}@${community}`
    this.namesKey = `${NAMES_STORAGE_KEY}:${community}`
  }

  /** Channel -> the newest id read there. */
  markers(): Map<string, Ulid> {
    const out = new Map<string, Ulid>()
    for (const [channel, id] of Object.entries(this.read(this.markersKey)))
      if (typeof id === 'string' && ULID.test(id)) out.set(channel, id as Ulid)
    return out
  }

  /**
   * Moves the marker of `channel` up to `upTo` (never back). Merged with what is stored: another
   * tab of the same identity may have moved other channels' markers meanwhile.
   */
  markRead(channel: string, upTo: Ulid): void {
    const all = Object.fromEntries(this.markers())
    if ((all[channel] ?? '') >= upTo) return
    all[channel] = upTo
    this.write(this.markersKey, all)
  }

  /** Key text -> display name. */
  names(): Map<string, string> {
    const out = new Map<string, string>()
    for (const [id, name] of Object.entries(this.read(this.namesKey)))
      if (typeof name === 'string' && name !== '') out.set(id, name)
    return out
  }

  /** Writes `names()` (newest first, NAMES_REMEMBERED_MAX of them) NAMES_SAVE_DELAY_MS from now. */
  saveNamesSoon(names: () => Iterable<readonly [string, string]>): void {
    this.pendingNames = names
    this.namesTimer ??= setTimeout(() => this.flush(), NAMES_SAVE_DELAY_MS)
  }

  /** Writes what waits now and clears the timer (idempotent). */
  flush(): void {
    clearTimeout(this.namesTimer)
    this.namesTimer = undefined
    const names = this.pendingNames
    this.pendingNames = undefined
    if (!names) return
    const out: Record<string, string> = {}
    let n = 0
    for (const [id, name] of names()) {
      if (n++ >= NAMES_REMEMBERED_MAX) break
      out[id] = name
    }
    this.write(this.namesKey, out)
  }

  private read(key: string): Record<string, unknown> {
    try {
      const parsed: unknown = JSON.parse(this.storage?.getItem(key) ?? '{}')
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : {}
    } catch {
      return {}
    }
  }

  private write(key: string, value: Record<string, string>): void {
    try {
      this.storage?.setItem(key, JSON.stringify(value))
    } catch {
      // storage full or refused: a return reads the history first, as before
    }
  }
}
