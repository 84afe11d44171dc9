/** Prometheus text for a virtual client's counters, and the optional HTTP endpoint serving it. */
import { createServer, type Server } from 'node:http'
import { renderPrometheus } from '@peerchat/engine/node'

export interface VcCounters {
  /**
   * Events held, all channels: those of the rolling window, plus the canvas updates (`yjs`
   * events) kept however old (the store's `keep`, virtual-client.ts).
   */
  eventsHeld: number
  channels: number
  meshPeers: number
  /** Events and bytes this client sent while answering other peers' sync sessions. */
  servedEvents: number
  servedBytes: number
  /** Reports kept of sync sessions this client started (the Peer keeps the last 1000). */
  syncReports: number
  /** Events received from peers and live from the relay. */
  fromPeers: number
  fromRelay: number
  refusedSessions: number
  /** Bytes of its segment files on disk. */
  diskBytes: number
  /** Blobs (attachments) held on disk, and their bytes. */
  blobsHeld: number
  blobBytes: number
  /** Attachment chunk bytes sent to peers (blobs served) and received (blobs kept). */
  blobBytesServed: number
  blobBytesReceived: number
  /** Resident set and V8 heap in use of the whole process (shared when several clients run in one). */
  rssBytes: number
  heapUsedBytes: number
}

const HELP: Record<keyof VcCounters, [type: 'gauge' | 'counter', help: string]> = {
  eventsHeld: ['gauge', 'Events held: the rolling window, plus canvas updates kept however old'],
  channels: ['gauge', 'Channels joined'],
  meshPeers: ['gauge', 'Peers connected over WebRTC'],
  servedEvents: ['counter', 'Events sent to peers while serving their sync sessions'],
  servedBytes: ['counter', 'Bytes sent to peers while serving their sync sessions'],
  syncReports: ['gauge', 'Reports kept of sync sessions this client started (at most 1000)'],
  fromPeers: ['counter', 'Events received from peers'],
  fromRelay: ['counter', 'Events received live from the relay'],
  refusedSessions: ['counter', 'Sync sessions refused (per-peer limit)'],
  diskBytes: ['gauge', 'Bytes of segment files on disk'],
  blobsHeld: ['gauge', 'Blobs (attachments) held on disk'],
  blobBytes: ['gauge', 'Bytes of blobs held on disk'],
  blobBytesServed: ['counter', 'Attachment chunk bytes sent to peers'],
  blobBytesReceived: ['counter', 'Attachment chunk bytes received from peers'],
  rssBytes: ['gauge', 'Resident set size of the process (all its virtual clients)'],
  heapUsedBytes: ['gauge', 'V8 heap in use by the process (all its virtual clients)'],
}

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

export function renderMetrics(c: VcCounters, name: string): string {
  return renderAllMetrics([{ name, counters: c }])
}

/** Several virtual clients of one process: each metric once, one sample per client (label `vc`). */
export function renderAllMetrics(clients: readonly { name: string; counters: VcCounters }[]): string {
  return renderPrometheus(
    (Object.keys(HELP) as (keyof VcCounters)[]).map((key) => {
      const [type, help] = HELP[key]
      return {
        name: `peerchat_vc_${snake(key)}${type === 'counter' ? '_total' : ''}`,
        type,
        help,
        samples: clients.map(({ name, counters }) => ({ labels: { vc: name }, value: counters[key] })),
      }
    }),
  )
}

/** Serves GET /metrics (and /healthz) on host:port; resolves with the bound port. */
export function serveMetrics(
  render: () => Promise<string>,
  port: number,
  host = '127.0.0.1',
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET') return void res.writeHead(405).end()
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    if (path !== '/metrics') return void res.writeHead(404).end()
    render().then(
      (body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body),
      () => res.writeHead(500).end(),
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      const address = server.address()
      resolve({ server, port: typeof address === 'object' && address ? address.port : port })
    })
  })
}
