/**
 * The engine's few error classes. Decoders throw only `DecodeError`; validation of a
 * well-formed but unacceptable value yields a `RejectReason` (not an exception).
 */

/** Bytes that do not decode: truncated, over a bound, or not canonical. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError'
}

/** A limit (size, count, rate) was exceeded by a caller or a peer. */
export class LimitError extends Error {
  override readonly name = 'LimitError'
  constructor(
    message: string,
    readonly limit: string,
  ) {
    super(message)
  }
}

/** An event or frame was well-formed but refused; `reason` is a stable machine code. */
export class RejectedError extends Error {
  override readonly name = 'RejectedError'
  constructor(
    readonly reason: string,
    message: string = reason,
  ) {
    super(message)
  }
}
