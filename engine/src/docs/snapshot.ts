/**
 * Document snapshots: a compacted state (`Y.encodeStateAsUpdate`) plus the ids of the `yjs`
 * events it contains, so a newcomer applies one update instead of replaying thousands and
 * then skips those events when the log delivers them. Applying a snapshot and then any
 * events gives the same document as replaying all events (Yjs updates are idempotent).
 *
 * A snapshot is served by a peer, not signed by the relay: it is a cache. A careful client
 * keeps the covered events' ids and can check them against the log (or rebuild) later.
 *
 *   DocSnapshot = version:u8(=1) channel:str doc:str count id:16* state:bytes
 * ids strictly ascending; limits below.
 */
import * as Y from 'yjs'
import {
  createWriter,
  decodeWith,
  finish,
  writeBytes,
  writeU8,
  writeVarBytes,
  writeVarString,
  writeVarUint,
} from '../codec.ts'
import { DecodeError } from '../errors.ts'
import { isValidChannel, Limits } from '../event.ts'
import { type Ulid, ulidFromBytes, ulidToBytes } from '../ulid.ts'
import { DocLimits, isValidDocName } from './body.ts'
import type { DocHandle } from './doc-handle.ts'
import { type GuardVerdict, SNAPSHOT_UPDATE_LIMITS } from './guard.ts'

export const SNAPSHOT_VERSION = 1
/** Event ids one snapshot may cover (16 bytes each: 16 MiB at the cap). */
export const MAX_SNAPSHOT_IDS = 1_000_000

export interface DocSnapshot {
  channel: string
  doc: string
  /** Ids of the covered `yjs` events, ascending. */
  covered: Ulid[]
  /** The compacted document (a V1 Yjs update). */
  state: Uint8Array
}

/** Publishes pending local edits, then captures the document and the events it contains. */
export async function snapshot(handle: DocHandle): Promise<DocSnapshot> {
  await handle.flush()
  return {
    channel: handle.channel,
    doc: handle.name,
    covered: handle.covered(),
    state: Y.encodeStateAsUpdate(handle.doc),
  }
}

/**
 * Applies a peer's snapshot through the handle's guard, with snapshot-sized caps. With `own`
 * (a snapshot this device cached from events it had checked) the guard is skipped: whatever can
 * write this device's storage can run code here anyway, and the guard's pass over a large
 * document (in a worker that may have to start) would double the time to show it.
 */
export function applySnapshot(handle: DocHandle, snap: DocSnapshot, own = false): Promise<GuardVerdict> {
  if (snap.channel !== handle.channel || snap.doc !== handle.name)
    return Promise.resolve({ ok: false, reason: 'wrong-document' })
  return handle.applyState(snap.state, snap.covered, SNAPSHOT_UPDATE_LIMITS, own)
}

export function encodeSnapshot(s: DocSnapshot): Uint8Array {
  if (!isValidChannel(s.channel)) throw new RangeError('invalid channel name')
  if (!isValidDocName(s.doc)) throw new RangeError('invalid document name')
  if (s.covered.length > MAX_SNAPSHOT_IDS) throw new RangeError(`more than ${MAX_SNAPSHOT_IDS} covered ids`)
  if (s.state.length > SNAPSHOT_UPDATE_LIMITS.maxBytes)
    throw new RangeError(`snapshot state exceeds ${SNAPSHOT_UPDATE_LIMITS.maxBytes} bytes`)
  const w = createWriter()
  writeU8(w, SNAPSHOT_VERSION)
  writeVarString(w, s.channel)
  writeVarString(w, s.doc)
  const ids = [...s.covered].sort()
  writeVarUint(w, ids.length)
  for (const id of ids) writeBytes(w, ulidToBytes(id))
  writeVarBytes(w, s.state)
  return finish(w)
}

export function decodeSnapshot(bytes: Uint8Array): DocSnapshot {
  return decodeWith(
    bytes,
    (r) => {
      const v = r.u8('snapshot version')
      if (v !== SNAPSHOT_VERSION) throw new DecodeError(`unsupported snapshot version ${v}`)
      const channel = r.varString(Limits.channel, 'channel')
      if (!isValidChannel(channel)) throw new DecodeError('invalid channel name')
      const doc = r.varString(DocLimits.docName, 'document name')
      if (!isValidDocName(doc)) throw new DecodeError('invalid document name')
      const n = r.count(MAX_SNAPSHOT_IDS, 16, 'covered ids')
      const covered: Ulid[] = []
      for (let i = 0; i < n; i++) {
        const id = ulidFromBytes(r.bytes(16, 'covered id'))
        if (i > 0 && id <= covered[i - 1]!) throw new DecodeError('covered ids must be strictly ascending')
        covered.push(id)
      }
      const state = r.varBytes(SNAPSHOT_UPDATE_LIMITS.maxBytes, 'snapshot state')
      return { channel, doc, covered, state }
    },
    'document snapshot',
  )
}
