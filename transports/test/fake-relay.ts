/**
 * A scripted in-process relay for RelayClient tests: a fake WebSocket class that opens on the
 * next microtask and sends a challenge, a login answered with a welcome (a real session signed
 * by the relay key), publishes handed to the subclass's `onPublish` and token requests to
 * `onTokenRequest`; other frames go unanswered.
 */
import {
  type ClientFrame,
  decodeClientFrame,
  encodeFrame,
  encodeSigned,
  Identity,
  monotonicUlid,
  type RelayFrame,
  randomBytes,
  type SignedRequest,
  signSession,
} from '@peerchat/engine'
import {
  RelayClient,
  type RelayClientOptions,
  type WebSocketCtor,
  type WebSocketLike,
} from '../src/relay/relay-client.ts'

/** A fake socket the test may close from the relay's side with a code and a reason. */
export type FakeSocket = WebSocketLike & { closeWith(code: number, reason: string): void }

export abstract class FakeRelay {
  readonly sockets: FakeSocket[] = []
  protected readonly nextId = monotonicUlid()

  constructor(readonly identity: Identity) {}

  readonly Socket: WebSocketCtor = (() => {
    const relay = this
    return class implements FakeSocket {
      binaryType = 'blob'
      readyState = 0
      onopen: WebSocketLike['onopen'] = null
      onclose: WebSocketLike['onclose'] = null
      onerror: WebSocketLike['onerror'] = null
      onmessage: WebSocketLike['onmessage'] = null
      constructor(_url: string) {
        relay.sockets.push(this)
        void Promise.resolve().then(() => {
          this.readyState = 1
          this.onopen?.({})
          relay.reply(this, {
            type: 'challenge',
            relayKey: relay.identity.publicKey,
            nonce: randomBytes(32),
            serverTime: Date.now(),
          })
        })
      }
      send(data: Uint8Array): void {
        void relay.receive(this, data.slice())
      }
      close(): void {
        this.readyState = 3
      }
      closeWith(code: number, reason: string): void {
        this.readyState = 3
        this.onclose?.({ code, reason })
      }
    }
  })()

  reply(ws: WebSocketLike, frame: RelayFrame): void {
    const bytes = encodeFrame(frame)
    void Promise.resolve().then(() => ws.onmessage?.({ data: bytes.slice().buffer }))
  }

  /** Called with each login frame before it is welcomed. */
  protected onLogin(_frame: Extract<ClientFrame, { type: 'login' }>): void {}

  /** Answers a publish. */
  protected abstract onPublish(ws: WebSocketLike, req: SignedRequest): Promise<void>

  /** Answers a token request (by default: no answer). */
  protected onTokenRequest(_ws: WebSocketLike): void {}

  /** Any other frame (join, leave, presence queries, forward...): by default no answer. */
  protected onOther(_ws: WebSocketLike, _frame: ClientFrame): void {}

  private async receive(ws: WebSocketLike, bytes: Uint8Array): Promise<void> {
    const frame = decodeClientFrame(bytes)
    if (frame.type === 'login') {
      this.onLogin(frame)
      const now = Date.now()
      const session = await signSession(this.identity, {
        relayKey: this.identity.publicKey,
        publicKey: frame.publicKey,
        sessionId: randomBytes(16),
        privileges: 1,
        issued: now,
        expires: now + 3_600_000,
      })
      this.reply(ws, { type: 'welcome', attestation: encodeSigned(session), channels: ['general'] })
    } else if (frame.type === 'publish') {
      await this.onPublish(ws, frame.request)
    } else if (frame.type === 'tokenRequest') {
      this.onTokenRequest(ws)
    } else this.onOther(ws, frame)
  }
}

/** A RelayClient connecting to `relay` (its key pinned), added to `running` for the test to stop. */
export async function clientOf(
  relay: FakeRelay,
  running: RelayClient[],
  opts: Omit<RelayClientOptions, 'url' | 'identity'>,
): Promise<RelayClient> {
  const client = new RelayClient({
    url: 'ws://relay.test/relay',
    identity: await Identity.generate(),
    relayKey: relay.identity.publicKey,
    WebSocket: relay.Socket,
    ...opts,
  })
  running.push(client)
  return client
}
