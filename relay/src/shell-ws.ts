/**
 * The same cores on the `ws` library and node:http: the benchmark baseline, and proof that the
 * relay logic does not depend on uWS. Topics are Maps of sockets; publish is a loop of sends.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { type WebSocket, WebSocketServer } from 'ws'
import { type Conn, RelayCore, type RelayIo } from './core/relay-core.ts'
import { SignalCloseCode, type SignalConn, type SignalIo, SignalingCore } from './core/signaling.ts'
import { originAllowed, requestFacts, route, STATUS_TEXT } from './http.ts'
import { listenError } from './listen.ts'
import { consoleLogger } from './log.ts'
import { RELAY_PATH, type RelayOptions, type RunningRelay, SIGNAL_PATH } from './options.ts'
import { relayContext, runningRelay, startCluster } from './running.ts'

class Topics {
  private readonly topics = new Map<string, Set<WebSocket>>()
  subscribe(ws: WebSocket, topic: string): void {
    let set = this.topics.get(topic)
    if (!set) {
      set = new Set()
      this.topics.set(topic, set)
    }
    set.add(ws)
  }
  unsubscribe(ws: WebSocket, topic: string): void {
    const set = this.topics.get(topic)
    if (set?.delete(ws) && set.size === 0) this.topics.delete(topic)
  }
  unsubscribeAll(ws: WebSocket): void {
    for (const topic of [...this.topics.keys()]) this.unsubscribe(ws, topic)
  }
  members(topic: string): ReadonlySet<WebSocket> {
    return this.topics.get(topic) ?? new Set()
  }
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(
    `HTTP/1.1 ${STATUS_TEXT[status] ?? status}\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\n${reason}\n`,
  )
}

export async function startWsRelay(o: RelayOptions): Promise<RunningRelay> {
  const ctx = relayContext(o, o.log ?? consoleLogger)
  const limits = ctx.limits
  const topics = new Topics()
  const hardLimit = limits.maxBackpressureBytes * 4

  const sendTo = (ws: WebSocket, data: Uint8Array | string): boolean => {
    if (ws.readyState !== ws.OPEN || ws.bufferedAmount > hardLimit) return false
    ws.send(data)
    return true
  }
  const relayIo: RelayIo<WebSocket> = {
    send: sendTo,
    subscribe: (ws, t) => topics.subscribe(ws, t),
    unsubscribe: (ws, t) => topics.unsubscribe(ws, t),
    publish: (t, bytes) => {
      for (const ws of topics.members(t)) sendTo(ws, bytes)
    },
    subscribers: (t) => topics.members(t).size,
    close: (ws, code, reason) => ws.close(code, reason),
    bufferedAmount: (ws) => ws.bufferedAmount,
  }
  const signalIo: SignalIo<WebSocket> = {
    send: sendTo,
    close: (ws, code, reason) => ws.close(code, reason),
  }
  const core = new RelayCore(ctx, relayIo)
  const signaling = new SignalingCore(ctx, signalIo)

  const relayWss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
  })
  const signalWss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxSignalBytes,
    perMessageDeflate: false,
  })

  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end('method not allowed\n')
      return
    }
    route(ctx, o, req.url ?? '/').then(
      (r) =>
        res
          .writeHead(r.status, { 'content-type': r.type, 'x-content-type-options': 'nosniff', ...r.headers })
          .end(r.body),
      () => res.writeHead(404).end('not found\n'),
    )
  })

  const idleMs = limits.idleTimeoutSeconds * 1000
  const watchIdle = (ws: WebSocket) => {
    if (idleMs <= 0) return
    let last = Date.now()
    const touch = () => {
      last = Date.now()
    }
    ws.on('message', touch)
    ws.on('pong', touch)
    const timer = setInterval(() => {
      if (Date.now() - last > idleMs) ws.terminate()
      else ws.ping()
    }, idleMs / 2)
    timer.unref()
    ws.on('close', () => clearInterval(timer))
  }

  const factsOf = (req: IncomingMessage) =>
    requestFacts(req.socket.remoteAddress ?? '', (h) => String(req.headers[h] ?? ''), o.trustedProxies ?? [])

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://relay')
    const f = factsOf(req)
    if (!originAllowed(o.allowedOrigins, f.browserOrigin)) return refuse(socket, 403, 'origin not allowed')
    if (url.pathname === RELAY_PATH) {
      relayWss.handleUpgrade(req, socket, head, (ws) => {
        const conn: Conn<WebSocket> = core.newConn(f.address, f.origin)
        ws.binaryType = 'nodebuffer'
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          const bytes = isBinary
            ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
            : new Uint8Array(0)
          core.message(conn, bytes).catch((e) => ctx.log('relay.internal_error', { error: String(e) }))
        })
        ws.on('close', () => {
          topics.unsubscribeAll(ws)
          core.close(conn)
        })
        ws.on('error', () => ws.terminate())
        watchIdle(ws)
        core.open(conn, ws)
      })
    } else if (url.pathname === SIGNAL_PATH) {
      signaling.admit(url.searchParams.get('token')).then(
        (admission) => {
          if (socket.destroyed) return
          const admitted = admission.ok ? signaling.newConn(f.address, admission.token) : admission
          if (!admitted.ok) {
            ctx.metrics.reject(`signal:${admitted.reason}`)
            return refuse(socket, admitted.status, admitted.reason)
          }
          const conn: SignalConn<WebSocket> = admitted.conn
          signalWss.handleUpgrade(req, socket, head, (ws) => {
            ws.on('message', (data: Buffer, isBinary: boolean) => {
              if (isBinary) return
              try {
                signaling.message(conn, data.toString())
              } catch (e) {
                // A bug must cost one socket, never the process.
                ctx.log('signal.internal_error', { conn: conn.serial, error: String(e) })
                ws.close(SignalCloseCode.internal, 'internal')
              }
            })
            ws.on('close', () => signaling.close(conn))
            ws.on('error', () => ws.terminate())
            watchIdle(ws)
            signaling.open(conn, ws)
          })
          // ws calls back within handleUpgrade, or never (the socket went away): then free the token.
          if (!conn.handle) signaling.close(conn)
        },
        () => refuse(socket, 400, 'bad token'),
      )
    } else refuse(socket, 404, 'not found')
  })

  const host = o.host ?? '127.0.0.1'
  await startCluster(ctx)
  return new Promise((resolvePromise, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      ctx.adminLog?.close()
      void ctx.cluster?.close()
      reject(listenError(host, o.port ?? 0, e))
    })
    // Node sets SO_REUSEADDR (a restart binds over TIME_WAIT) and no SO_REUSEPORT; exclusive
    // also keeps a cluster worker from sharing the primary's handle (listen.ts).
    server.listen({ port: o.port ?? 0, host, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      resolvePromise(
        runningRelay(ctx, [core, signaling], { host, port, shell: 'ws' }, async () => {
          for (const ws of [...relayWss.clients, ...signalWss.clients]) ws.terminate()
          await new Promise<void>((r) => server.close(() => r()))
        }),
      )
    })
  })
}
