/**
 * A minimal WebSocket client for the relay benchmark: a raw TCP socket that parses frame
 * headers itself, so that counting a million deliveries costs the load generator little
 * (a `ws` client per subscriber would make the generator, not the relay, the bottleneck).
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

export class RawClient {
  /** Frames received, by relay frame tag (payload byte 1). */
  readonly counts: Uint32Array

  /** `counts` may be shared by many clients (one total for all subscribers). */
  private constructor(
    private readonly socket: Socket,
    counts?: Uint32Array,
  ) {
    this.counts = counts ?? new Uint32Array(256)
  }
  private handler: ((payload: Uint8Array) => void) | null = null
  /** Called after each received chunk is parsed (lets a load generator react without polling). */
  onChunk: (() => void) | null = null
  /** Payloads that arrived before the first handler was set (the challenge comes with the upgrade). */
  private early: Uint8Array[] | null = []
  private pending: Buffer | null = null
  private upgraded = false

  static open(host: string, port: number, path = '/relay', counts?: Uint32Array): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, host)
      socket.setNoDelay(true)
      const c = new RawClient(socket, counts)
      socket.once('error', reject)
      socket.on('connect', () => {
        const key = nodeRandomBytes(16).toString('base64')
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        )
      })
      socket.on('data', (chunk: Buffer) => {
        if (!c.upgraded) {
          const buf = c.pending ? Buffer.concat([c.pending, chunk]) : chunk
          const end = buf.indexOf('\r\n\r\n')
          if (end < 0) {
            c.pending = buf
            return
          }
          if (!buf.subarray(0, 12).toString().includes('101')) return reject(new Error(buf.toString()))
          c.upgraded = true
          c.pending = null
          resolve(c)
          if (buf.length > end + 4) c.parse(buf.subarray(end + 4))
          return
        }
        c.parse(chunk)
      })
    })
  }

  /** When set, every binary payload is handed over (publishers, login); null: count only. */
  set onPayload(fn: ((payload: Uint8Array) => void) | null) {
    this.handler = fn
    const early = this.early
    this.early = null
    if (fn && early) for (const p of early) fn(p)
  }

  private parse(chunk: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = null
    let off = 0
    while (buf.length - off >= 2) {
      const opcode = buf[off]! & 0x0f
      let len = buf[off + 1]! & 0x7f
      let head = 2
      if (len === 126) {
        if (buf.length - off < 4) break
        len = buf.readUInt16BE(off + 2)
        head = 4
      } else if (len === 127) {
        if (buf.length - off < 10) break
        len = Number(buf.readBigUInt64BE(off + 2))
        head = 10
      }
      if (buf.length - off < head + len) break
      const start = off + head
      if (opcode === 2 && len >= 2) {
        this.counts[buf[start + 1]!]!++
        if (this.handler) this.handler(new Uint8Array(buf.subarray(start, start + len)))
        else if (this.early) this.early.push(new Uint8Array(buf.subarray(start, start + len)))
      } else if (opcode === 9) this.sendFrame(0xa, buf.subarray(start, start + len)) // pong
      off = start + len
    }
    if (off < buf.length) {
      buf = buf.subarray(off)
      this.pending = Buffer.from(buf)
    }
    this.onChunk?.()
  }

  private sendFrame(opcode: number, payload: Uint8Array): void {
    const len = payload.length
    const head = len < 126 ? 6 : len < 65536 ? 8 : 14
    const out = Buffer.allocUnsafe(head + len)
    out[0] = 0x80 | opcode
    if (len < 126) out[1] = 0x80 | len
    else if (len < 65536) {
      out[1] = 0x80 | 126
      out.writeUInt16BE(len, 2)
    } else {
      out[1] = 0x80 | 127
      out.writeBigUInt64BE(BigInt(len), 2)
    }
    // A zero masking key: valid, and the payload needs no transformation.
    out.fill(0, head - 4, head)
    out.set(payload, head)
    this.socket.write(out)
  }

  send(payload: Uint8Array): void {
    this.sendFrame(2, payload)
  }

  close(): void {
    this.socket.destroy()
  }
}
