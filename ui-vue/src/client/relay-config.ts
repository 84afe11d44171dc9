/**
 * Finds the relay that serves this page: `/.well-known/peerchat.json` on the page's origin
 * carries the relay's public key (pinned for every login and stamp check) and the community's
 * WebRTC room. A page not served by a relay (vite dev, a plain static server) has none.
 */
import { publicKeyFromText, publicKeyToText } from '@peerchat/engine'

export const WELL_KNOWN_PATH = '/.well-known/peerchat.json'
/** Largest well-known document read (default 64 KiB; the relay's is ~1 KiB). */
export const WELL_KNOWN_MAX_BYTES = 64 * 1024

export interface RelayConfig {
  /** ws(s)://host[:port] of the relay (connectReplica appends its paths). */
  url: string
  relayKey: Uint8Array
  /** The y-webrtc room every member may join. */
  room: string
  /** `invite`: a non-admin needs an admin-signed invite to log in; `unknown` when not said. */
  access: 'open' | 'invite' | 'unknown'
  /** ICE servers for WebRTC (voice); empty on loopback and most LANs. */
  iceServers: RTCIceServer[]
  /**
   * ws(s)://host[:port] of the community's other nodes (the document's `nodeUrls` but `url`):
   * the relay client fails over between `url` and these. Absent: one node.
   */
  nodeUrls?: string[]
}

/** Most node URLs taken from the well-known JSON (default 16, the relay's own limit). */
export const NODE_URLS_MAX = 16

/**
 * The usable entries of a `nodeUrls` array other than `own`: ws(s):// URLs without query or
 * fragment (only wss:// beside a wss:// `own`: a secure page cannot open ws://), each once.
 */
export function parseNodeUrls(value: unknown, own: string): string[] {
  if (!Array.isArray(value)) return []
  const out: string[] = []
  for (const v of value.slice(0, NODE_URLS_MAX)) {
    if (typeof v !== 'string') continue
    let url: URL
    try {
      url = new URL(v)
    } catch {
      continue
    }
    const secureOnly = own.startsWith('wss:')
    if (url.protocol !== 'wss:' && (secureOnly || url.protocol !== 'ws:')) continue
    if (url.search || url.hash || url.username || url.password) continue
    const base = url.href.replace(/\/+$/, '')
    if (base !== own && !out.includes(base)) out.push(base)
  }
  return out
}

/** Most ICE servers taken from the well-known JSON (default 8). */
export const ICE_SERVERS_MAX = 8

/** The well-formed entries of an `iceServers` array: `urls` a string or strings, optional credentials. */
export function parseIceServers(value: unknown): RTCIceServer[] {
  if (!Array.isArray(value)) return []
  const out: RTCIceServer[] = []
  for (const v of value.slice(0, ICE_SERVERS_MAX)) {
    if (typeof v !== 'object' || v === null) continue
    const { urls, username, credential } = v as Record<string, unknown>
    const list = typeof urls === 'string' ? [urls] : Array.isArray(urls) ? urls : null
    if (
      !list ||
      list.length === 0 ||
      !list.every((u) => typeof u === 'string' && /^(stuns?|turns?):/.test(u))
    )
      continue
    const server: RTCIceServer = { urls: list as string[] }
    if (typeof username === 'string') server.username = username
    if (typeof credential === 'string') server.credential = credential
    out.push(server)
  }
  return out
}

/** Parses the well-known JSON; null when it is not a peerchat relay's document. */
export function parseRelayConfig(text: string, origin: string): RelayConfig | null {
  if (text.length > WELL_KNOWN_MAX_BYTES) return null
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof doc !== 'object' || doc === null) return null
  const { relayKey, communityRoom, access, iceServers, nodeUrls } = doc as Record<string, unknown>
  if (typeof relayKey !== 'string') return null
  let key: Uint8Array
  try {
    key = publicKeyFromText(relayKey)
  } catch {
    return null
  }
  const url = new URL(origin)
  const own = `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}`
  const others = parseNodeUrls(nodeUrls, own)
  return {
    url: own,
    relayKey: key,
    room: typeof communityRoom === 'string' && communityRoom !== '' ? communityRoom : 'community',
    access: access === 'open' || access === 'invite' ? access : 'unknown',
    iceServers: parseIceServers(iceServers),
    ...(others.length > 0 ? { nodeUrls: others } : {}),
  }
}

/** A configuration as a well-known document again (`parseRelayConfig` reads it back): kept to open a community offline. */
export function configDocument(config: RelayConfig): string {
  return JSON.stringify({
    relayKey: publicKeyToText(config.relayKey),
    communityRoom: config.room,
    access: config.access,
    iceServers: config.iceServers,
    ...(config.nodeUrls?.length ? { nodeUrls: config.nodeUrls } : {}),
  })
}

/** Fetches the relay's configuration from the page's origin; null when there is no relay. */
export async function discoverRelay(origin: string, signal?: AbortSignal): Promise<RelayConfig | null> {
  try {
    const res = await fetch(new URL(WELL_KNOWN_PATH, origin), { signal: signal ?? null })
    if (!res.ok || !(res.headers.get('content-type') ?? '').includes('json')) return null
    return parseRelayConfig(await res.text(), origin)
  } catch {
    return null
  }
}
