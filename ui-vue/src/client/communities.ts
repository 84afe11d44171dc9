/**
 * The communities (relays) this browser joined, in localStorage: each relay's page URL, a name
 * to show, and the relay key seen at the first join, pinned. A later visit whose well-known JSON
 * names another key is not accepted silently: `checkPin` says so, the app shows a warning, and
 * only the user's explicit `acceptKey` replaces the pinned key. Pure over a `Storage`-like
 * object (unit tested).
 */

import { publicKeyToText } from '@peerchat/engine'
import { parseRelayConfig, type RelayConfig, WELL_KNOWN_MAX_BYTES } from './relay-config.ts'

export const COMMUNITIES_STORAGE_KEY = 'peerchat.communities.v1'
/** Most communities remembered (default 32; the least recently opened are forgotten first). */
export const COMMUNITIES_MAX = 32
/** Longest name kept (characters). */
export const COMMUNITY_NAME_MAX = 64

export interface Community {
  /** http(s)://host[:port] of the relay that serves the app (its origin). */
  url: string
  name: string
  /** The relay key (text) pinned at the first join. */
  relayKey: string
  firstJoined: number
  lastOpened: number
  /**
   * The relay's well-known document as last fetched (`configDocument`): the community still
   * opens, from what this device holds, while its relay is unreachable.
   */
  document?: string
}

export type PinCheck = { status: 'new' } | { status: 'same' } | { status: 'changed'; pinned: string }

export type KeyValueStorage = Pick<Storage, 'getItem' | 'setItem'>

/** A relay's origin (`http://host:port`), or null when `url` is not an http(s) URL. */
export function communityUrl(url: string): string | null {
  try {
    const u = new URL(url)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null
  } catch {
    return null
  }
}

const isCommunity = (c: unknown): c is Community => {
  if (typeof c !== 'object' || c === null) return false
  const { url, name, relayKey, firstJoined, lastOpened, document } = c as Record<string, unknown>
  return (
    typeof url === 'string' &&
    communityUrl(url) === url &&
    typeof name === 'string' &&
    typeof relayKey === 'string' &&
    typeof firstJoined === 'number' &&
    typeof lastOpened === 'number' &&
    (document === undefined || (typeof document === 'string' && document.length <= WELL_KNOWN_MAX_BYTES))
  )
}

/** The remembered communities, most recently opened first (malformed entries are dropped). */
export function readCommunities(storage: KeyValueStorage | undefined): Community[] {
  try {
    const parsed: unknown = JSON.parse(storage?.getItem(COMMUNITIES_STORAGE_KEY) ?? '[]')
    if (!Array.isArray(parsed)) return []
    return parsed.filter(isCommunity).sort((a, b) => b.lastOpened - a.lastOpened)
  } catch {
    return []
  }
}

function write(storage: KeyValueStorage | undefined, list: Community[]): void {
  try {
    storage?.setItem(COMMUNITIES_STORAGE_KEY, JSON.stringify(list.slice(0, COMMUNITIES_MAX)))
  } catch {
    // storage full or refused: the community is simply not remembered
  }
}

/** Compares `relayKey` with the key pinned for `url` (writes nothing). */
export function checkPin(storage: KeyValueStorage | undefined, url: string, relayKey: string): PinCheck {
  const known = readCommunities(storage).find((c) => c.url === url)
  if (!known) return { status: 'new' }
  return known.relayKey === relayKey ? { status: 'same' } : { status: 'changed', pinned: known.relayKey }
}

/**
 * Remembers a community opened now: a new one is pinned to `relayKey`; a known one only gets
 * its `lastOpened` (its pinned key is never replaced here: see `acceptKey`). `document`: the
 * relay's well-known document just fetched, kept while it names the pinned key.
 */
export function rememberCommunity(
  storage: KeyValueStorage | undefined,
  url: string,
  relayKey: string,
  now: number,
  document?: string,
): Community[] {
  const list = readCommunities(storage)
  const known = list.find((c) => c.url === url)
  const kept = document !== undefined && document.length <= WELL_KNOWN_MAX_BYTES ? { document } : {}
  if (known) {
    known.lastOpened = now
    if (known.relayKey === relayKey) Object.assign(known, kept)
  } else list.unshift({ url, name: new URL(url).host, relayKey, firstJoined: now, lastOpened: now, ...kept })
  list.sort((a, b) => b.lastOpened - a.lastOpened)
  write(storage, list)
  return readCommunities(storage)
}

/**
 * The configuration a joined community's relay last gave, for opening it while the relay is
 * unreachable; null when unknown or when it names another key than the pinned one.
 */
export function rememberedConfig(storage: KeyValueStorage | undefined, url: string): RelayConfig | null {
  const known = readCommunities(storage).find((c) => c.url === url)
  const config = known?.document ? parseRelayConfig(known.document, url) : null
  return config && publicKeyToText(config.relayKey) === known?.relayKey ? config : null
}

/** The user chose to trust the relay's new key: it replaces the pinned one. */
export function acceptKey(storage: KeyValueStorage | undefined, url: string, relayKey: string): void {
  const list = readCommunities(storage)
  const known = list.find((c) => c.url === url)
  if (known) known.relayKey = relayKey
  write(storage, list)
}

export function renameCommunity(storage: KeyValueStorage | undefined, url: string, name: string): void {
  const trimmed = name.trim().slice(0, COMMUNITY_NAME_MAX)
  if (!trimmed) return
  const list = readCommunities(storage)
  const known = list.find((c) => c.url === url)
  if (known) known.name = trimmed
  write(storage, list)
}

export function forgetCommunity(storage: KeyValueStorage | undefined, url: string): void {
  write(
    storage,
    readCommunities(storage).filter((c) => c.url !== url),
  )
}

/**
 * Where to open a community: its relay serves the app, so its own origin; a page that is not
 * served by a relay (the Vite dev server) stays where it is and names the relay with `?relay=`.
 */
export function communityHref(
  target: string,
  page: { origin: string; pathname: string },
  servedByRelay: boolean,
): string {
  return servedByRelay ? `${target}/` : `${page.origin}${page.pathname}?relay=${encodeURIComponent(target)}`
}

/** Thrown when a remembered community's relay presents another key than the one pinned. */
export class RelayKeyChangedError extends Error {
  constructor(
    readonly url: string,
    readonly pinned: string,
    readonly presented: string,
  ) {
    super(`The relay at ${url} presents another key than the one pinned when you joined.`)
    this.name = 'RelayKeyChangedError'
  }
}
