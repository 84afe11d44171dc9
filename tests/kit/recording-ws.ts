/** A `ws` WebSocket that keeps every frame it sends and receives, for canary checks. */
import WebSocket from 'ws'

/** A WebSocket class for `connectReplica` and the frames its sockets carried, as bytes. */
export function recordingWebSocket(): { WebSocket: unknown; frames: Buffer[] } {
  const frames: Buffer[] = []
  class RecordingWebSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args)
      this.on('message', (data: Buffer) => frames.push(Buffer.from(data)))
    }
    override send(data: unknown, ...rest: unknown[]): void {
      frames.push(Buffer.from(data as Uint8Array))
      ;(super.send as (...a: unknown[]) => void)(data, ...rest)
    }
  }
  return { WebSocket: RecordingWebSocket, frames }
}
