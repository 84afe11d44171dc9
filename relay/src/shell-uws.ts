/**
 * The uWebSockets.js shell: sockets, topics and HTTP around the library-independent cores.
 * uWS rules honoured here: per-socket state is the typed user data; a message buffer is
 * decoded (copied) before any await; the async signaling upgrade registers onAborted and
 * checks it after the await, then upgrades inside cork; nothing is sent after close.
 */

import type * as UwsTypes from 'uWebSockets.js'
import { createRequire } from 'node:module'
import { type Conn, RelayCloseCode, RelayCore, type RelayIo } from './core/relay-core.ts'
import { SignalCloseCode, type SignalConn, type SignalIo, SignalingCore } from './core/signaling.ts'
import {
  type HttpResult,
  originAllowed,
  type RequestFacts,
  requestFacts,
  route,
  STATUS_TEXT,
} from './http.ts'
import { explainListenFailure, listenError, tryBind } from './listen.ts'
import { consoleLogger } from './log.ts'
import { RELAY_PATH, type RelayOptions, type RunningRelay, SIGNAL_PATH } from './options.ts'
import { relayContext, runningRelay, startCluster } from './running.ts'

// uWebSockets.js is CommonJS with a native addon.
const uWS = createRequire(import.meta.url)('uWebSockets.js') as typeof UwsTypes

type RelayWs = UwsTypes.WebSocket<{ conn: Conn<RelayWs> }>
type SignalWs = UwsTypes.WebSocket<{ conn: SignalConn<SignalWs> }>
const text = (ab: ArrayBuffer): string => Buffer.from(ab).toString()

/**
 * uWS cuts a message over its `maxPayloadLength` without a close frame (the client sees 1006).
 * So that an oversized message gets RFC 6455's 1009 as documented (docs/protocol/relay.md §7),
 * uWS reads messages up to this many times a path's limit and the shell closes one over the
 * limit with 1009 itself; only a message over the cap is still cut (1006). The cap bounds what
 * uWS buffers per socket.
 */
export const PAYLOAD_CAP_FACTOR = 2

function facts(res: UwsTypes.HttpResponse, req: UwsTypes.HttpRequest, o: RelayOptions): RequestFacts {
  return requestFacts(text(res.getRemoteAddressAsText()), (h) => req.getHeader(h), o.trustedProxies ?? [])
}

function writeResult(res: UwsTypes.HttpResponse, r: HttpResult): void {
  res.writeStatus(STATUS_TEXT[r.status] ?? String(r.status))
  res.writeHeader('content-type', r.type)
  res.writeHeader('x-content-type-options', 'nosniff')
  for (const [name, value] of Object.entries(r.headers ?? {})) res.writeHeader(name, value)
  res.end(r.body)
}

export function startUwsRelay(o: RelayOptions): Promise<RunningRelay> {
  const ctx = relayContext(o, o.log ?? consoleLogger)
  const limits = ctx.limits
  const app = uWS.App()

  const relayIo: RelayIo<RelayWs> = {
    // Sends after an await run outside any uWS callback: cork so the frame goes out in one write.
    send: (ws, bytes) => {
      let status = 0
      ws.cork(() => {
        status = ws.send(bytes, true)
      })
      return status !== 2
    },
    subscribe: (ws, topic) => void ws.subscribe(topic),
    unsubscribe: (ws, topic) => void ws.unsubscribe(topic),
    publish: (topic, bytes) => void app.publish(topic, bytes, true),
    subscribers: (topic) => app.numSubscribers(topic),
    close: (ws, code, reason) => ws.end(code, reason),
    bufferedAmount: (ws) => ws.getBufferedAmount(),
  }
  const signalIo: SignalIo<SignalWs> = {
    send: (ws, t) => ws.send(t, false) !== 2,
    close: (ws, code, reason) => ws.end(code, reason),
  }
  const core = new RelayCore(ctx, relayIo)
  const signaling = new SignalingCore(ctx, signalIo)
  /** True (and the socket is being closed with 1009) when a message is over its path's limit. */
  const tooBig = (ws: UwsTypes.WebSocket<unknown>, message: ArrayBuffer, limit: number): boolean => {
    if (message.byteLength <= limit) return false
    ctx.metrics.reject('message_too_big')
    ws.end(RelayCloseCode.messageTooBig, 'message too big')
    return true
  }

  // uWS checks idle timeouts with a 4 s granularity and refuses values in (0, 8).
  const idleTimeout = limits.idleTimeoutSeconds === 0 ? 0 : Math.max(8, Math.round(limits.idleTimeoutSeconds))
  const common = {
    compression: uWS.DISABLED,
    idleTimeout,
    sendPingsAutomatically: true,
    // The core closes slow consumers with a reason at maxBackpressureBytes (sweep / send);
    // uWS drops and shuts the socket at four times that, as a last resort between sweeps.
    maxBackpressure: limits.maxBackpressureBytes * 4,
    closeOnBackpressureLimit: 1,
  }

  app.ws<{ conn: Conn<RelayWs> }>(RELAY_PATH, {
    ...common,
    maxPayloadLength: limits.maxFrameBytes * PAYLOAD_CAP_FACTOR,
    upgrade: (res, req, context) => {
      const f = facts(res, req, o)
      if (!originAllowed(o.allowedOrigins, f.browserOrigin)) {
        ctx.metrics.reject('origin_refused')
        res.writeStatus(STATUS_TEXT[403]!).end('origin not allowed\n')
        return
      }
      res.upgrade(
        { conn: core.newConn(f.address, f.origin) },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      )
    },
    open: (ws) => core.open(ws.getUserData().conn, ws),
    message: (ws, message, isBinary) => {
      if (tooBig(ws, message, limits.maxFrameBytes)) return
      const conn = ws.getUserData().conn
      // Decoding inside core.message copies what it keeps before its first await.
      const bytes = isBinary ? new Uint8Array(message) : new Uint8Array(0)
      core
        .message(conn, bytes)
        .catch((e) => ctx.log('relay.internal_error', { conn: conn.serial, error: String(e) }))
    },
    close: (ws) => core.close(ws.getUserData().conn),
  })

  app.ws<{ conn: SignalConn<SignalWs> }>(SIGNAL_PATH, {
    ...common,
    maxPayloadLength: limits.maxSignalBytes * PAYLOAD_CAP_FACTOR,
    upgrade: (res, req, context) => {
      // Copy everything from req before the first await: it is invalid afterwards.
      const f = facts(res, req, o)
      const token = req.getQuery('token') ?? null
      const key = req.getHeader('sec-websocket-key')
      const protocol = req.getHeader('sec-websocket-protocol')
      const extensions = req.getHeader('sec-websocket-extensions')
      let aborted = false
      res.onAborted(() => {
        aborted = true
      })
      const refuse = (status: number, reason: string) => {
        ctx.metrics.reject(`signal:${reason}`)
        ctx.log('signal.refused', { addr: f.address, reason })
        res.cork(() => res.writeStatus(STATUS_TEXT[status]!).end(`${reason}\n`))
      }
      if (!originAllowed(o.allowedOrigins, f.browserOrigin)) return refuse(403, 'origin not allowed')
      // base64url needs no percent-decoding (and decoding hostile input could throw here).
      signaling.admit(token || null).then(
        (admission) => {
          if (aborted) return
          if (!admission.ok) return refuse(admission.status, admission.reason)
          const admitted = signaling.newConn(f.address, admission.token)
          if (!admitted.ok) return refuse(admitted.status, admitted.reason)
          const conn = admitted.conn
          res.cork(() => res.upgrade({ conn }, key, protocol, extensions, context))
          // uWS calls `open` inside `upgrade`; if it did not, the token must not stay in use.
          if (!conn.handle) signaling.close(conn)
        },
        (e) => {
          if (!aborted) refuse(400, 'bad token')
          ctx.log('signal.internal_error', { error: String(e) })
        },
      )
    },
    open: (ws) => signaling.open(ws.getUserData().conn, ws),
    message: (ws, message, isBinary) => {
      if (tooBig(ws, message, limits.maxSignalBytes) || isBinary) return
      const conn = ws.getUserData().conn
      try {
        signaling.message(conn, text(message))
      } catch (e) {
        // A bug must cost one socket, never the process.
        ctx.log('signal.internal_error', { conn: conn.serial, error: String(e) })
        if (!conn.closed) ws.end(SignalCloseCode.internal, 'internal')
      }
    },
    close: (ws) => signaling.close(ws.getUserData().conn),
  })

  app.get('/*', (res, req) => {
    const url = req.getUrl()
    let aborted = false
    res.onAborted(() => {
      aborted = true
    })
    route(ctx, o, url).then(
      (r) => {
        if (!aborted) res.cork(() => writeResult(res, r))
      },
      () => {
        if (!aborted)
          res.cork(() => writeResult(res, { status: 404, type: 'text/plain', body: 'not found\n' }))
      },
    )
  })
  app.any('/*', (res) => {
    res.writeStatus(STATUS_TEXT[405]!).end('method not allowed\n')
  })

  const host = o.host ?? '127.0.0.1'
  return startCluster(ctx)
    .then(() => listenExclusive(app, host, o.port ?? 0))
    .then(
      (listenSocket) => {
        const port = uWS.us_socket_local_port(listenSocket)
        return runningRelay(ctx, [core, signaling], { host, port, shell: 'uws' }, () =>
          uWS.us_listen_socket_close(listenSocket),
        )
      },
      (e: unknown) => {
        ctx.adminLog?.close()
        void ctx.cluster?.close()
        throw e
      },
    )
}

/**
 * uSockets' listen options (bsd.c): by default SO_REUSEPORT and SO_REUSEADDR, so a second relay
 * on the port shares it; with LIBUS_LISTEN_EXCLUSIVE_PORT only SO_REUSEADDR, which is what we
 * want (listen.ts). The flag and the (host, port, options, cb) form exist at run time, not in
 * this build's typings.
 */
const LIBUS_LISTEN_EXCLUSIVE_PORT = (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number })
  .LIBUS_LISTEN_EXCLUSIVE_PORT
type ListenWithOptions = (
  host: string,
  port: number,
  options: number,
  cb: (listenSocket: UwsTypes.us_listen_socket | false) => void,
) => UwsTypes.TemplatedApp
/** Tries for a port of the kernel's choice: another process may take one between probe and listen. */
const PORT_ZERO_ATTEMPTS = 5

/**
 * Listens on host:port alone. On port 0 uSockets sets no option at all: the connections it
 * accepts lack SO_REUSEADDR, and a restart on the port it got then waits out their TIME_WAIT
 * (60 s). So for port 0 the kernel picks a free port first and uWS listens on it like on any.
 */
async function listenExclusive(
  app: UwsTypes.TemplatedApp,
  host: string,
  port: number,
): Promise<UwsTypes.us_listen_socket> {
  const listen = app.listen as unknown as ListenWithOptions
  for (let attempt = 1; ; attempt++) {
    const probed = port === 0 ? await tryBind(host, 0) : port
    if (typeof probed !== 'number') throw listenError(host, port, probed)
    const socket = await new Promise<UwsTypes.us_listen_socket | false>((resolve) =>
      listen.call(app, host, probed, LIBUS_LISTEN_EXCLUSIVE_PORT, resolve),
    )
    if (socket) return socket
    if (port !== 0 || attempt === PORT_ZERO_ATTEMPTS) throw await explainListenFailure(host, probed)
  }
}
