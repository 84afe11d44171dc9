/** Test-side proxy of a WebrtcTransport living in a child process. */
import { type ChildProcess, fork } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { LimitError } from '@peerchat/engine'
import { TransportEmitter } from '../../src/emitter.ts'
import {
  asPeerId,
  type Listener,
  type PeerId,
  type PeerInfo,
  type Transport,
  type TransportEventName,
} from '../../src/transport.ts'
import { DEFAULT_PIPE_LIMITS } from '../../src/webrtc/pipe.ts'

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url))
/** A child that has not answered a call by then is reported (op, peer, what it last did) instead of hanging the test. */
const CALL_TIMEOUT_MS = 20_000

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** y-webrtc's reference signaling server (from the y-webrtc package) on a loopback port. */
export async function startSignaling(): Promise<{ url: string; stop(): void }> {
  const port = await freePort()
  const bin = fileURLToPath(new URL('../../node_modules/y-webrtc/bin/server.js', import.meta.url))
  const child = fork(bin, [], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: 'ignore',
  })
  await new Promise((r) => setTimeout(r, 400))
  return { url: `ws://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

export class RemoteTransport implements Transport {
  readonly limits = { maxFrameBytes: DEFAULT_PIPE_LIMITS.maxFrameBytes }
  private readonly emitter = new TransportEmitter()
  private readonly known = new Map<PeerId, PeerInfo>()
  private readonly pending = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>()
  private nextId = 0
  private child: ChildProcess
  private ready: Promise<void>
  /** Why the child is gone (exit code or signal), once it is. */
  private gone: string | undefined

  constructor(
    readonly self: PeerId,
    room: string,
    signaling: string,
    refuse: string[] = [],
  ) {
    this.child = fork(CHILD, [room, signaling, self, refuse.join(',')], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.ready = new Promise((resolve) => {
      this.child.on('message', (raw) => {
        const m = raw as {
          ev?: string
          id?: number
          peer?: string
          info?: PeerInfo
          from?: string
          bytes?: Uint8Array
        }
        if (m.ev === 'ready') resolve()
        else if (m.ev === 'peer-joined') {
          this.known.set(asPeerId(m.peer!), m.info ?? {})
          this.emitter.emit('peer-joined', { peer: asPeerId(m.peer!), info: m.info ?? {} })
        } else if (m.ev === 'peer-left') {
          this.known.delete(asPeerId(m.peer!))
          this.emitter.emit('peer-left', { peer: asPeerId(m.peer!) })
        } else if (m.ev === 'frame') this.emitter.emit('frame', { from: asPeerId(m.from!), bytes: m.bytes! })
        else if (m.id !== undefined) this.pending.get(m.id)?.(m as never)
      })
    })
    // A dead child answers nothing: fail its calls at once, saying how it ended.
    this.child.on('exit', (code, signal) => {
      this.gone = `child ${self} exited (code ${code}, signal ${signal})`
      for (const answer of [...this.pending.values()]) answer({ error: { message: this.gone } })
    })
    this.child.on('error', () => {}) // a send racing the exit: reported by the exit above
  }

  call(op: string, args: object = {}): Promise<unknown> {
    return this.ready.then(
      () =>
        new Promise((resolve, reject) => {
          if (this.gone) return reject(new Error(`${op}: ${this.gone}`))
          const id = this.nextId++
          const timer = setTimeout(() => {
            this.pending.delete(id)
            const waited = `child ${this.self} (pid ${this.child.pid}) did not answer ${op} within ${CALL_TIMEOUT_MS} ms`
            console.error(`slow: ${waited}`)
            reject(new Error(waited))
          }, CALL_TIMEOUT_MS)
          this.pending.set(id, (m) => {
            clearTimeout(timer)
            this.pending.delete(id)
            if (m.error) reject(new Error(`${op}: ${m.error.message}`))
            else resolve(m.result)
          })
          this.child.send({ id, op, ...args })
        }),
    )
  }

  async start(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    await this.call('start')
  }

  async stop(): Promise<void> {
    if (this.gone) return // a process that is gone is stopped
    await this.call('stop')
  }

  send(peer: PeerId, bytes: Uint8Array): boolean {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('a frame must be a Uint8Array')
    if (bytes.length > this.limits.maxFrameBytes) throw new LimitError('frame too large', 'maxFrameBytes')
    if (!this.known.has(peer)) return false
    void this.call('send', { peer, bytes: bytes.slice() })
    return true
  }

  broadcast(bytes: Uint8Array): number {
    if (!(bytes instanceof Uint8Array)) throw new TypeError('a frame must be a Uint8Array')
    if (bytes.length > this.limits.maxFrameBytes) throw new LimitError('frame too large', 'maxFrameBytes')
    void this.call('broadcast', { bytes: bytes.slice() })
    return this.known.size
  }

  peers(): ReadonlyMap<PeerId, PeerInfo> {
    return this.known
  }

  on<E extends TransportEventName>(event: E, listener: Listener<E>): () => void {
    return this.emitter.on(event, listener)
  }

  /** Asks the child to stop and exit; kills it if it has not within a second. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.send({ id: -1, op: 'exit' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 1000)
    await exited
    clearTimeout(timer)
  }
}
