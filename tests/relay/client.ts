/** A minimal relay client for tests (the real one is `RelayClient` in @peerchat/transports). */
import {
  Domain,
  decodeRelayFrame,
  decodeSession,
  encodeFrame,
  encodeLoginPayload,
  type Frame,
  Identity,
  type RelayFrame,
  type Session,
  type Signed,
} from '@peerchat/engine'
import { WebSocket } from 'ws'

type Of<T extends RelayFrame['type']> = Extract<RelayFrame, { type: T }>

export interface LoginOptions {
  /** The origin the client signs; defaults to the URL's host. */
  origin?: string
  invite?: Uint8Array
  clientTime?: number
}

export class TestClient {
  readonly frames: RelayFrame[] = []
  private waiters: Array<() => void> = []
  readonly closed: Promise<{ code: number; reason: string }>
  isClosed = false
  session: Signed<Session> | null = null
  channels: string[] = []
  undecodable = 0

  private constructor(
    readonly ws: WebSocket,
    readonly url: string,
  ) {
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data: Buffer) => {
      try {
        this.frames.push(decodeRelayFrame(new Uint8Array(data)))
      } catch {
        this.undecodable++
      }
      this.wake()
    })
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.isClosed = true
        resolve({ code, reason: reason.toString() })
        this.wake()
      })
    })
    ws.on('error', () => {})
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  static open(baseUrl: string, path = '/relay'): Promise<TestClient> {
    const ws = new WebSocket(baseUrl + path)
    const c = new TestClient(ws, baseUrl)
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c))
      ws.once('error', reject)
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
  }

  /** Opens a socket and logs in with `id` (a fresh identity if omitted). */
  static async login(baseUrl: string, id?: Identity, o: LoginOptions = {}): Promise<TestClient> {
    const c = await TestClient.open(baseUrl)
    await c.doLogin(id ?? (await Identity.generate()), o)
    return c
  }

  async doLogin(id: Identity, o: LoginOptions = {}): Promise<Of<'welcome'> | Of<'error'>> {
    const challenge = await this.next('challenge')
    const clientTime = o.clientTime ?? Date.now()
    const payload = encodeLoginPayload({
      relayKey: challenge.relayKey,
      nonce: challenge.nonce,
      origin: o.origin ?? new URL(this.url).host,
      clientTime,
    })
    const sig = await id.sign(Domain.login, payload)
    this.send({ type: 'login', publicKey: id.publicKey, clientTime, sig, invite: o.invite ?? null })
    const answer = await this.nextOf(['welcome', 'error'])
    if (answer.type === 'welcome') {
      this.session = decodeSession(answer.attestation)
      this.channels = answer.channels
    }
    return answer as Of<'welcome'> | Of<'error'>
  }

  send(frame: Frame): void {
    this.ws.send(encodeFrame(frame))
  }

  sendRaw(bytes: Uint8Array | string): void {
    this.ws.send(bytes)
  }

  /** Removes and returns the first received frame of one of `types`, waiting up to `timeoutMs`. */
  async nextOf(types: RelayFrame['type'][], timeoutMs = 5000): Promise<RelayFrame> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.frames.findIndex((f) => types.includes(f.type))
      if (i >= 0) return this.frames.splice(i, 1)[0]!
      if (this.isClosed) throw new Error(`socket closed while waiting for ${types.join('|')}`)
      const left = deadline - Date.now()
      if (left <= 0)
        throw new Error(`timeout waiting for ${types.join('|')}; have ${this.frames.map((f) => f.type)}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  async next<T extends RelayFrame['type']>(type: T, timeoutMs = 5000): Promise<Of<T>> {
    return (await this.nextOf([type], timeoutMs)) as Of<T>
  }

  /** Round trip: every frame sent before has been processed when this resolves. */
  async ping(n = Math.floor(Math.random() * 1e9)): Promise<void> {
    this.send({ type: 'ping', n })
    for (;;) {
      const p = await this.next('pong')
      if (p.n === n) return
    }
  }

  close(): void {
    this.ws.close()
  }
}
