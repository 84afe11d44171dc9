/**
 * Ready-made value codecs for LwwMap and OrderedList. A codec's `decode` runs on bytes from
 * other authors: it must be deterministic and throw on anything that is not a value (the entry
 * is then ignored by every replica). Bytes are already bounded by the event body limit.
 */
import { DecodeError } from '../errors.ts'
import type { ValueCodec } from './lww-map.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

function text(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes)
  } catch {
    throw new DecodeError('value is not valid UTF-8')
  }
}

/** Raw bytes (a copy is not made: do not mutate what you set). */
export const bytesCodec: ValueCodec<Uint8Array> = {
  encode: (v) => v,
  decode: (b) => b,
}

/** UTF-8 text; invalid UTF-8 is refused. */
export const stringCodec: ValueCodec<string> = {
  encode: (v) => encoder.encode(v),
  decode: (b) => text(b),
}

/**
 * JSON values. `check` validates (and may narrow) what was parsed: throw for anything that is
 * not a `T`. Without it any JSON value is accepted as `T`.
 */
export function jsonCodec<T>(check?: (value: unknown) => T): ValueCodec<T> {
  return {
    encode: (v) => encoder.encode(JSON.stringify(v)),
    decode: (b) => {
      let parsed: unknown
      try {
        parsed = JSON.parse(text(b))
      } catch (e) {
        if (e instanceof DecodeError) throw e
        throw new DecodeError('value is not JSON')
      }
      return check ? check(parsed) : (parsed as T)
    },
  }
}
