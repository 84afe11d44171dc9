/**
 * Listening, shared by both shells (issue #13). A relay owns its port: a second relay started
 * on it must fail rather than share it (clients would land on either community at random), and
 * a relay restarted after a crash must bind at once. Both hold with SO_REUSEADDR and without
 * SO_REUSEPORT: on Linux the bind then passes over the dead relay's connections in TIME_WAIT
 * (if they had SO_REUSEADDR too: accepted sockets inherit it from their listener) and fails
 * while any socket listens on the port.
 */
import { createServer } from 'node:net'

/** Why a relay could not listen, with a message for the operator; `code` is the errno name. */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
    this.name = 'ListenError'
  }
}

/**
 * Binds host:port with Node's net (SO_REUSEADDR, no SO_REUSEPORT) and closes it at once: the
 * port it got (the kernel's choice for port 0), or why it could not. A listener without
 * connections leaves nothing in TIME_WAIT.
 */
export function tryBind(host: string, port: number): Promise<number | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (e) => resolve(e))
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address()
      const got = typeof address === 'object' && address ? address.port : port
      server.close(() => resolve(got))
    })
  })
}

/** The operator's message for a failed listen on host:port (`e` from Node; uWS gives no reason). */
export function listenError(host: string, port: number, e: NodeJS.ErrnoException | undefined): ListenError {
  const code = e?.code ?? 'ELISTEN'
  switch (code) {
    case 'EADDRINUSE':
      return new ListenError(
        `port ${port} is in use by another process (on ${host}): stop it or choose another --port`,
        code,
      )
    case 'EACCES':
      return new ListenError(
        `no permission to listen on port ${port} (below 1024 needs privileges): choose another --port`,
        code,
      )
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ListenError(`cannot listen on ${host}: not an address of this machine; check --host`, code)
    default:
      return new ListenError(`cannot listen on ${host}:${port}${e ? `: ${e.message}` : ''}`, code)
  }
}

/**
 * For a shell that cannot say why its listen failed: asks the kernel with a bind of its own
 * (a port freed in between gets the generic message).
 */
export async function explainListenFailure(host: string, port: number): Promise<ListenError> {
  const result = await tryBind(host, port)
  return listenError(host, port, typeof result === 'number' ? undefined : result)
}
