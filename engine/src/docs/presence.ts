/**
 * Live presence in a document: who has it open, their cursor and selection, under their name.
 * A y-protocols `Awareness` per open document (what editor bindings such as y-codemirror.next
 * draw from), whose local state travels to the peers as frames of protocol
 * `Protocol.docPresence` on every attached port: direct links first, then a fallback port (the
 * relay's forwarding) for keys no direct link reaches.
 *
 * Awareness is spoofable by design (any client id, any clock), so a frame is taken only from a
 * peer whose key its port vouches for, for a client id that peer claimed first, with a bounded
 * state reduced to a cursor; the `user` shown (name, colour) is what this client knows of the
 * sender's key, never what the frame says. It grants nothing: it only draws cursors.
 *
 *   DocPresenceFrame = version:u8(=1) channel:str doc:str clientID:varuint clock:varuint state:str
 * state: JSON `{"cursor": {anchor, head} | null}` or `null` (the document was closed).
 */
import * as encoding from 'lib0/encoding'
import { Awareness, applyAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness'
import type * as Y from 'yjs'
import { createWriter, decodeWith, finish, writeU8, writeVarString, writeVarUint } from '../codec.ts'
import { DecodeError } from '../errors.ts'
import { isValidChannel, Limits } from '../event.ts'
import { publicKeyToText } from '../identity/keys.ts'
import type { MeshPort } from '../mesh/port.ts'
import { Protocol, protocolPort } from '../mesh/protocol.ts'
import { DocLimits, isValidDocName } from './body.ts'

export const DocPresenceLimits = {
  /** UTF-8 bytes of one state's JSON (a cursor is ~150). */
  stateBytes: 1024,
  /** Client ids one peer may claim (a reload or a second editor of the same tab makes a new one). */
  clientsPerPeer: 8,
  /** Remote client ids followed per document. */
  clients: 256,
  /** Longest root type name in a cursor. */
  typeName: 64,
  /**
   * Peers told on a fallback port that this client opened the document (the relay's forwarding
   * is budgeted): later moves go on it only to peers that showed they have it open.
   */
  fallbackHello: 32,
} as const

/** Sends at most one frame per this many milliseconds (the first after a pause at once). */
export const DEFAULT_PRESENCE_THROTTLE_MS = 50

export interface DocPresenceOptions {
  /** The name shown at a peer's cursor (default: the start of its key). */
  nameOf?: (key: Uint8Array) => string
  /** Its cursor's colour (default `presenceColor`); an app passes the colour it gives the key elsewhere. */
  colorOf?: (key: Uint8Array) => { color: string; colorLight: string }
  throttleMs?: number
}

/** A cursor as y-codemirror.next writes it: two `Y.RelativePosition`s as JSON. */
interface Cursor {
  anchor: RelativePositionJson
  head: RelativePositionJson
}
/** Every field present (null when unset): editor bindings read them without the JSON decoder. */
interface RelativePositionJson {
  type: { client: number; clock: number } | null
  tname: string | null
  item: { client: number; clock: number } | null
  assoc: number
}

export interface DocPresenceFrame {
  channel: string
  doc: string
  clientID: number
  clock: number
  /** The sanitized state, or null when the sender closed the document. */
  state: { cursor: Cursor | null } | null
}

const VERSION = 1
const MAX_CLOCK = 2 ** 31

export function encodeDocPresence(f: DocPresenceFrame): Uint8Array {
  const w = createWriter()
  writeU8(w, VERSION)
  writeVarString(w, f.channel)
  writeVarString(w, f.doc)
  writeVarUint(w, f.clientID)
  writeVarUint(w, f.clock)
  writeVarString(w, JSON.stringify(f.state))
  return finish(w)
}

/** Decodes and sanitizes a frame; throws DecodeError for anything that is not one of ours. */
export function decodeDocPresence(bytes: Uint8Array): DocPresenceFrame {
  return decodeWith(
    bytes,
    (r) => {
      const v = r.u8('presence version')
      if (v !== VERSION) throw new DecodeError(`unsupported presence version ${v}`)
      const channel = r.varString(Limits.channel, 'channel')
      const doc = r.varString(DocLimits.docName, 'document name')
      if (!isValidChannel(channel) || !isValidDocName(doc)) throw new DecodeError('invalid document')
      const clientID = r.varUint(2 ** 32 - 1, 'client id')
      const clock = r.varUint(MAX_CLOCK, 'clock')
      let json: unknown
      try {
        json = JSON.parse(r.varString(DocPresenceLimits.stateBytes, 'state'))
      } catch (e) {
        if (e instanceof DecodeError) throw e
        throw new DecodeError('presence state is not JSON')
      }
      return { channel, doc, clientID, clock, state: sanitizeState(json) }
    },
    'document presence',
  )
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x)
const isCount = (x: unknown): x is number =>
  Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) < MAX_CLOCK
const isClientId = (x: unknown): x is number =>
  Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) < 2 ** 32

function sanitizeId(x: unknown): { client: number; clock: number } | null {
  if (x === undefined || x === null) return null
  if (!isObject(x) || !isClientId(x.client) || !isCount(x.clock)) throw new DecodeError('bad position id')
  return { client: x.client, clock: x.clock }
}

/** Rebuilds a relative position from known fields only, so nothing odd reaches Yjs. */
function sanitizePosition(x: unknown): RelativePositionJson {
  if (!isObject(x)) throw new DecodeError('bad cursor position')
  const out: RelativePositionJson = {
    type: sanitizeId(x.type),
    tname: null,
    item: sanitizeId(x.item),
    assoc: 0,
  }
  if (x.tname !== undefined && x.tname !== null) {
    if (typeof x.tname !== 'string' || x.tname.length > DocPresenceLimits.typeName)
      throw new DecodeError('bad cursor type name')
    out.tname = x.tname
  }
  if (x.assoc !== undefined) {
    if (x.assoc !== 0 && x.assoc !== -1) throw new DecodeError('bad cursor assoc')
    out.assoc = x.assoc
  }
  // A position names its type by id or by root name, and an item or the type's end.
  if (out.type === null && out.tname === null) throw new DecodeError('cursor position names no type')
  return out
}

function sanitizeState(json: unknown): DocPresenceFrame['state'] {
  if (json === null) return null
  if (!isObject(json)) throw new DecodeError('presence state must be an object or null')
  const c = json.cursor
  if (c === undefined || c === null) return { cursor: null }
  if (!isObject(c)) throw new DecodeError('bad cursor')
  return { cursor: { anchor: sanitizePosition(c.anchor), head: sanitizePosition(c.head) } }
}

/** A stable colour per key, readable on light and dark backgrounds. */
export function presenceColor(key: Uint8Array): { color: string; colorLight: string } {
  const hue = ((key[0]! << 8) | key[1]!) % 360
  return { color: `hsl(${hue} 70% 45%)`, colorLight: `hsl(${hue} 70% 45% / 0.25)` }
}

interface Attached {
  port: MeshPort
  off: (() => void)[]
}

/** One document's presence: an Awareness fed by authenticated frames, sending the local cursor. */
export class DocPresence {
  readonly awareness: Awareness
  /** Frames refused (malformed, unknown sender, a client id another peer claimed). */
  readonly stats = { sent: 0, received: 0, refused: 0 }
  private readonly ports: Attached[] = []
  /** Remote client id -> the peer (port-local id) that claimed it. */
  private readonly owner = new Map<number, { port: MeshPort; peer: string }>()
  private readonly nameOf: (key: Uint8Array) => string
  private readonly colorOf: (key: Uint8Array) => { color: string; colorLight: string }
  private readonly throttleMs: number
  private timer: ReturnType<typeof setTimeout> | undefined
  private lastSent = Number.NEGATIVE_INFINITY
  private destroyed = false

  constructor(
    private readonly target: { doc: Y.Doc; channel: string; name: string },
    options: DocPresenceOptions = {},
  ) {
    this.nameOf = options.nameOf ?? ((k) => publicKeyToText(k).slice(0, 8))
    this.colorOf = options.colorOf ?? presenceColor
    this.throttleMs = options.throttleMs ?? DEFAULT_PRESENCE_THROTTLE_MS
    this.awareness = new Awareness(target.doc)
    this.awareness.on('update', (_: unknown, origin: unknown) => {
      if (origin === 'local') this.schedule()
    })
  }

  /** Sends and receives on `port` (the replica's ports: WebRTC mesh, relay forwarding) until detached. */
  attach(port: MeshPort): () => void {
    const view = protocolPort(port, Protocol.docPresence)
    const entry: Attached = { port: view, off: [] }
    entry.off.push(
      view.on('frame', ({ from, bytes }) => this.receive(view, from, bytes)),
      view.on('peer-joined', ({ peer }) => this.sendTo(view, peer)),
      view.on('peer-left', ({ peer }) => this.forget(view, peer)),
    )
    this.ports.push(entry)
    this.sendNow(true)
    return () => {
      const i = this.ports.indexOf(entry)
      if (i < 0) return
      this.ports.splice(i, 1)
      for (const off of entry.off) off()
      for (const peer of view.peers().keys()) this.forget(view, peer)
    }
  }

  /** Tells the peers the document is closed, detaches every port, stops the awareness timer. */
  destroy(): void {
    if (this.destroyed) return
    this.awareness.setLocalState(null) // origin 'local': queued, sent below
    this.sendNow()
    this.destroyed = true
    clearTimeout(this.timer)
    for (const entry of this.ports.splice(0)) for (const off of entry.off) off()
    this.awareness.destroy()
  }

  private schedule(): void {
    if (this.destroyed || this.timer) return
    const wait = Math.max(0, this.lastSent + this.throttleMs - Date.now())
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.sendNow()
    }, wait)
  }

  private localFrame(): Uint8Array {
    const a = this.awareness
    const state = a.getLocalState()
    const cursor = state?.cursor
    return encodeDocPresence({
      channel: this.target.channel,
      doc: this.target.name,
      clientID: a.clientID,
      clock: a.meta.get(a.clientID)?.clock ?? 0,
      state: state === null ? null : { cursor: isObject(cursor) ? (cursor as unknown as Cursor) : null },
    })
  }

  /**
   * Each reachable key once: on a direct link if it has one, else on a fallback port, there only
   * to peers that have the document open (or, with `hello`, to the first few that may).
   */
  private sendNow(hello = false): void {
    if (this.destroyed) return
    clearTimeout(this.timer)
    this.timer = undefined
    this.lastSent = Date.now()
    const frame = this.localFrame()
    const reached = new Set<string>()
    const ordered = [...this.ports].sort((a, b) => Number(!!a.port.fallback) - Number(!!b.port.fallback))
    for (const { port } of ordered) {
      const open = new Set([...this.owner.values()].filter((o) => o.port === port).map((o) => o.peer))
      let hellos = 0
      for (const [peer, info] of port.peers()) {
        const key = info.key ? publicKeyToText(info.key) : undefined
        if (key === undefined) continue
        if (port.fallback) {
          if (reached.has(key)) continue
          if (!open.has(peer) && !(hello && hellos++ < DocPresenceLimits.fallbackHello)) continue
        }
        if (port.send(peer, frame)) {
          this.stats.sent++
          reached.add(key)
        }
      }
    }
  }

  private sendTo(port: MeshPort, peer: string): void {
    if (this.destroyed) return
    if (port.send(peer, this.localFrame())) this.stats.sent++
  }

  private receive(port: MeshPort, from: string, bytes: Uint8Array): void {
    if (this.destroyed) return
    const key = port.peers().get(from)?.key
    let f: DocPresenceFrame
    try {
      f = decodeDocPresence(bytes)
    } catch {
      this.stats.refused++
      return
    }
    if (f.channel !== this.target.channel || f.doc !== this.target.name) return // another document's
    const owner = this.owner.get(f.clientID)
    const mine = f.clientID === this.awareness.clientID
    const claimed = [...this.owner.values()].filter((o) => o.port === port && o.peer === from).length
    if (
      !key ||
      mine ||
      (owner && (owner.port !== port || owner.peer !== from)) ||
      (!owner &&
        (claimed >= DocPresenceLimits.clientsPerPeer || this.owner.size >= DocPresenceLimits.clients))
    ) {
      this.stats.refused++
      return
    }
    this.stats.received++
    const fresh = !owner
    if (fresh) this.owner.set(f.clientID, { port, peer: from })
    const state = f.state && { ...f.state, user: { name: this.nameOf(key), ...this.colorOf(key) } }
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, f.clientID)
    encoding.writeVarUint(e, f.clock)
    encoding.writeVarString(e, JSON.stringify(state))
    applyAwarenessUpdate(this.awareness, encoding.toUint8Array(e), 'remote')
    if (state === null) this.owner.delete(f.clientID)
    // Someone who just opened the document learns our cursor without waiting for it to move.
    if (fresh && state !== null) this.sendTo(port, from)
  }

  private forget(port: MeshPort, peer: string): void {
    const gone: number[] = []
    for (const [id, o] of this.owner)
      if (o.port === port && o.peer === peer) {
        gone.push(id)
        this.owner.delete(id)
      }
    if (gone.length > 0) removeAwarenessStates(this.awareness, gone, 'peer-left')
  }
}
