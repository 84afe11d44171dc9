/**
 * One canvas peer for bench/canvas.ts, in its own process (y-webrtc allows one provider per room
 * per JS realm): a Replica on a real relay (and the WebRTC mesh when asked, no relay-forwarding
 * fallback), with a DocRegistry on `general` opened as the app opens a canvas (`unopened:
 * 'ignore'`, LIVE_DOC_OPTIONS). The writer types into the canvas's Y.Text or posts chat
 * messages; the reader notes when each keystroke or message shows and by which path it came.
 * Times are `performance.timeOrigin + performance.now()`: one clock for every process here.
 */
import { encodeFrame, Identity, MemoryStore, publicKeyFromText, type Replica, utf8 } from '@peerchat/engine'
import { DocPresence, DocRegistry, LIVE_DOC_OPTIONS, REMOTE_ORIGIN } from '@peerchat/engine/docs'
import { type Connection, connectReplica } from '@peerchat/transports/connect'
import { nodeWebrtc } from '@peerchat/transports/webrtc/node'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { type NodeArgs, openReplica, serveOps } from '../tests/peer/replica-node.ts'
import { sleep, until } from '../tests/peer/scenario.ts'

const CHANNEL = 'general'
const now = () => performance.timeOrigin + performance.now()

/** What one run saw, reset by `reset`. */
let seen = {
  /** [text length, time] on every change of the reader's Y.Text. */
  lengths: [] as [number, number][],
  /** Chat messages by text: when they arrived and how. */
  messages: new Map<string, { t: number; via: string }>(),
  /** Stamped `yjs` events received: their event-frame bytes and path (mine: my own echo). */
  events: [] as { frame: number; via: string; mine: boolean }[],
  /** Publish-frame bytes of my signed `yjs` requests. */
  published: [] as number[],
  /** Bytes of each local Yjs update (one per keystroke: what y-webrtc would send). */
  raw: [] as number[],
  /** When the writer's cursor was first seen at index k (its item's clock). */
  cursors: new Map<number, number>(),
}
const fresh = (): typeof seen => ({
  lengths: [],
  messages: new Map(),
  events: [],
  published: [],
  raw: [],
  cursors: new Map(),
})

let replica: Replica
let connection: Connection | undefined
let text: Y.Text
let presence: DocPresence | undefined

serveOps({
  async start(m) {
    const args = m.args as NodeArgs
    const identity = await Identity.generate()
    replica = await openReplica(args, identity, new MemoryStore())
    const webrtc = args.webrtc ?? false
    connection = connectReplica(replica, {
      relayUrl: args.relayUrl,
      relayKey: publicKeyFromText(args.relayKey),
      identity,
      room: args.room,
      webrtc,
      fallback: false,
      WebSocket: WebSocket as never,
      ...(webrtc ? nodeWebrtc() : {}),
    })
    await until(() => connection!.relay.state === 'online', 'the relay login')
    const registry = await DocRegistry.open(replica, CHANNEL, { unopened: 'ignore', doc: LIVE_DOC_OPTIONS })
    const handle = await registry.get('canvas')
    text = handle.doc.getText('markdown')
    text.observe(() => seen.lengths.push([text.length, now()]))
    handle.doc.on('update', (u: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE_ORIGIN) seen.raw.push(u.length)
    })
    const mesh = webrtc ? await connection.meshReady : undefined
    if (mesh) {
      // Cursors over the mesh alone, as the app draws them: the WebRTC path without the relay.
      presence = new DocPresence(handle)
      presence.attach(mesh)
      presence.awareness.on('change', () => {
        const t = now()
        for (const [id, s] of presence!.awareness.getStates()) {
          const clock = s.cursor?.head?.item?.clock
          if (id !== presence!.awareness.clientID && typeof clock === 'number' && !seen.cursors.has(clock))
            seen.cursors.set(clock, t)
        }
      })
    }
    const me = identity.publicKey.join()
    const published = new Set<string>()
    await replica.subscribe(
      CHANNEL,
      (c) => {
        const t = now()
        for (const e of c.added) {
          if (e.kind === 'yjs')
            seen.events.push({
              frame: encodeFrame({ type: 'event', event: e }).length,
              via: c.source.via,
              mine: e.author.join() === me,
            })
          else if (e.kind === 'message')
            seen.messages.set(new TextDecoder().decode(e.body), { t, via: c.source.via })
        }
        for (const w of c.writes)
          if (w.request.kind === 'yjs' && !published.has(w.key)) {
            published.add(w.key)
            seen.published.push(encodeFrame({ type: 'publish', request: w.request }).length)
          }
      },
      { replay: false },
    )
  },
  async meshPeers() {
    return connection?.mesh?.peers().size ?? 0
  },
  async reset() {
    seen = fresh()
    return text.length
  },
  /** Types `n` characters at the end of the canvas, one every `everyMs` (a drift-free schedule): when each went in. */
  async type(m) {
    const n = m.n as number
    const every = m.everyMs as number
    const marks: number[] = []
    const start = now()
    for (let i = 0; i < n; i++) {
      await sleep(Math.max(0, start + i * every - now()))
      marks.push(now())
      text.insert(text.length, String.fromCharCode(97 + (i % 26)))
    }
    return marks
  },
  /** Posts `n` chat messages `prefix0`, `prefix1`... one every `everyMs`: when each was written. */
  async chat(m) {
    const marks: number[] = []
    const start = now()
    for (let i = 0; i < (m.n as number); i++) {
      await sleep(Math.max(0, start + i * (m.everyMs as number) - now()))
      marks.push(now())
      void replica.write(CHANNEL, 'message', utf8(`${m.prefix}${i}`))
    }
    return marks
  },
  /** Moves my cursor over the mesh to index 0, 1, ... n - 1, one every `everyMs`: when each move was made. */
  async cursor(m) {
    const marks: number[] = []
    const start = now()
    for (let i = 0; i < (m.n as number); i++) {
      await sleep(Math.max(0, start + i * (m.everyMs as number) - now()))
      marks.push(now())
      const pos = Y.createRelativePositionFromTypeIndex(text, i)
      presence!.awareness.setLocalStateField('cursor', { anchor: pos, head: pos })
    }
    return marks
  },
  /** When the writer's cursor was first seen at index k, for k < n (waits for all of them). */
  async cursors(m) {
    const n = m.n as number
    await until(() => seen.cursors.size >= n, 'the cursor moves', 30_000)
    return Array.from({ length: n }, (_, k) => ({ t: seen.cursors.get(k)!, via: 'webrtc' }))
  },
  /** When the text first held `base + k + 1` characters, for k < n (waits for all of them). */
  async shown(m) {
    const goal = (m.base as number) + (m.n as number)
    await until(() => text.length >= goal, 'the keystrokes', 30_000)
    return Array.from(
      { length: m.n as number },
      (_, k) => seen.lengths.find(([len]) => len > (m.base as number) + k)![1],
    )
  },
  /** Arrival and path of messages `prefix0`...: waits for all of them. */
  async messages(m) {
    const names = Array.from({ length: m.n as number }, (_, i) => `${m.prefix}${i}`)
    await until(() => names.every((s) => seen.messages.has(s)), 'the messages', 30_000)
    return names.map((s) => seen.messages.get(s)!)
  },
  async stats() {
    return { events: seen.events, published: seen.published, raw: seen.raw }
  },
})
