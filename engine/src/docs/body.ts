/**
 * The `yjs` event body: one signed Yjs update of one named document (docs/protocol/projections.md).
 * No Yjs import here, so chat code can name the kind without loading Yjs.
 *
 *   yjs = version:u8(=1) doc:str update:bytes
 */
import { begin, readVersion } from '../body-codec.ts'
import { decodeWith, finish, type Reader, writeVarBytes, writeVarString } from '../codec.ts'
import { DecodeError } from '../errors.ts'

/** The event kind carrying Yjs updates. */
export const YJS_KIND = 'yjs'

export const DocLimits = {
  /** UTF-8 bytes of a Yjs document name. */
  docName: 64,
  /** Bytes of one Yjs update inside a `yjs` event (leaves room for the envelope in `Limits.body`). */
  yjsUpdate: 40 * 1024,
} as const

export interface YjsBody {
  doc: string
  update: Uint8Array
}

/** Document names: the same grammar as kinds, so they are printable and unambiguous. */
const DOC_NAME_RE = /^[a-z0-9][a-z0-9._-]*$/
export const isValidDocName = (name: string): boolean =>
  typeof name === 'string' && DOC_NAME_RE.test(name) && name.length <= DocLimits.docName

export function encodeYjs(b: YjsBody): Uint8Array {
  if (!isValidDocName(b.doc)) throw new RangeError(`invalid document name ${JSON.stringify(b.doc)}`)
  if (!(b.update instanceof Uint8Array)) throw new TypeError('update must be a Uint8Array')
  if (b.update.length > DocLimits.yjsUpdate)
    throw new RangeError(`Yjs update of ${b.update.length} bytes exceeds ${DocLimits.yjsUpdate}`)
  const w = begin()
  writeVarString(w, b.doc)
  writeVarBytes(w, b.update)
  return finish(w)
}

function readYjs(r: Reader): YjsBody {
  readVersion(r, 'yjs')
  const doc = r.varString(DocLimits.docName, 'document name')
  if (!isValidDocName(doc)) throw new DecodeError('invalid document name')
  const update = r.varBytes(DocLimits.yjsUpdate, 'Yjs update')
  if (update.length === 0) throw new DecodeError('empty Yjs update')
  return { doc, update }
}

export const decodeYjs = (b: Uint8Array): YjsBody => decodeWith(b, readYjs, 'yjs body')
