/**
 * The HTTP side shared by both shells: health, metrics, the well-known JSON, static files,
 * and the request facts (address, origin) the WebSocket paths need.
 */
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { publicKeyToText, RELAY_PROTOCOL_VERSION } from '@peerchat/engine'
import type { RelayContext } from './core/context.ts'
import { RELAY_PATH, type RelayOptions, SIGNAL_PATH } from './options.ts'

export interface HttpResult {
  status: number
  type: string
  body: string | Uint8Array
  /** Further response headers (lower-case names). */
  headers?: Record<string, string>
}

const text = (status: number, body: string): HttpResult => ({
  status,
  type: 'text/plain; charset=utf-8',
  body,
})

export const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  429: '429 Too Many Requests',
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
}

export function wellKnown(ctx: RelayContext, o: RelayOptions): HttpResult {
  const body = JSON.stringify({
    relayKey: publicKeyToText(ctx.relay.publicKey),
    protocolVersion: RELAY_PROTOCOL_VERSION,
    paths: { relay: RELAY_PATH, signal: SIGNAL_PATH },
    // The admin state's (its last access.set), else the configured default.
    access: ctx.admin.access(ctx.now()),
    communityRoom: ctx.communityRoom,
    limits: ctx.limits,
    iceServers: o.iceServers ?? [],
    // Every node of the community (this one too, if listed): clients fail over between them.
    nodeUrls: o.nodeUrls ?? [],
  })
  // Public facts: any page may read them (the web app on a dev server names a relay with ?relay=).
  return { status: 200, type: 'application/json', body, headers: { 'access-control-allow-origin': '*' } }
}

/** Maps a URL path to a file under `root`, or null for anything that would leave it. */
export function staticPath(root: string, urlPath: string): string | null {
  let decoded: string
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0]!)
  } catch {
    return null
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null
  if (decoded.split('/').some((part) => part === '..')) return null
  const base = resolve(root)
  const full = resolve(base, `.${normalize(`/${decoded}`)}`)
  if (full !== base && !full.startsWith(base + sep)) return null
  return full
}

/** Serves a static file; paths without an extension fall back to index.html (the app's router). */
export async function serveStatic(root: string, urlPath: string): Promise<HttpResult> {
  const path = staticPath(root, urlPath)
  if (!path) return text(404, 'not found\n')
  for (const candidate of extname(path) ? [path] : [join(path, 'index.html'), join(root, 'index.html')]) {
    try {
      if (!(await stat(candidate)).isFile()) continue
      return {
        status: 200,
        type: MIME[extname(candidate)] ?? 'application/octet-stream',
        body: await readFile(candidate),
      }
    } catch {}
  }
  return text(404, 'not found\n')
}

/** Answers a GET that is not a WebSocket upgrade. */
export async function route(ctx: RelayContext, o: RelayOptions, url: string): Promise<HttpResult> {
  const path = url.split('?')[0]!
  // A node whose Redis is down still serves its own members: healthy, and it says so.
  if (path === '/healthz')
    return text(
      200,
      ctx.cluster
        ? `ok\nnode ${ctx.cluster.node}\nredis ${ctx.cluster.connected ? 'up' : 'down'}\nnodes ${ctx.cluster.nodes}\n`
        : 'ok\n',
    )
  if (path === '/metrics')
    return { status: 200, type: 'text/plain; version=0.0.4', body: ctx.metrics.render(ctx.cluster) }
  if (path === '/.well-known/peerchat.json') return wellKnown(ctx, o)
  if (o.staticDir) return serveStatic(o.staticDir, path)
  return text(404, 'not found\n')
}

export interface RequestFacts {
  /** The peer's address, or the forwarded one when the peer is a trusted proxy. */
  address: string
  /** "host[:port]" the client connected to. */
  origin: string
  /** The browser's Origin header, if any. */
  browserOrigin: string
}

/** Resolves address and host, believing forwarded headers only from trusted proxies. */
export function requestFacts(
  peerAddress: string,
  header: (name: string) => string,
  trustedProxies: readonly string[],
): RequestFacts {
  const address = normalizeAddress(peerAddress)
  const trusted = trustedProxies.includes(address)
  const forwardedFor = trusted ? header('x-forwarded-for') : ''
  const forwardedHost = trusted ? header('x-forwarded-host') : ''
  // The last X-Forwarded-For entry is the one our trusted proxy appended.
  const hops = forwardedFor
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  return {
    address: hops.length ? normalizeAddress(hops[hops.length - 1]!) : address,
    origin: (forwardedHost || header('host')).trim().toLowerCase(),
    browserOrigin: header('origin'),
  }
}

export function normalizeAddress(a: string): string {
  const s = a.toLowerCase()
  if (s.startsWith('::ffff:')) return s.slice(7)
  // uWS spells IPv4-mapped addresses in full: 0000:0000:0000:0000:0000:ffff:7f00:0001
  const m = /^(?:0000:){5}ffff:([0-9a-f]{4}):([0-9a-f]{4})$/.exec(s)
  if (m) {
    const hi = Number.parseInt(m[1]!, 16)
    const lo = Number.parseInt(m[2]!, 16)
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
  }
  return s
}

export function originAllowed(allowed: readonly string[] | undefined, browserOrigin: string): boolean {
  if (!allowed || allowed.length === 0 || !browserOrigin) return true
  return allowed.includes(browserOrigin)
}
