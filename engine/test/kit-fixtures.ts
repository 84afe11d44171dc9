/**
 * Engine-only fixtures for the kit projection tests (LwwMap, OrderedList): hand-built stamped
 * events carrying `kit.lww` bodies, folded without a Replica. The ids and zero signatures come
 * from `@peerchat/engine/testing`; the seeded PRNG and delivery schedule are the projection
 * tests' own (projection-fixtures.ts).
 */
import { utf8 } from '../src/bytes.ts'
import type { StampedEvent } from '../src/event.ts'
import { encodeLww, LWW_KIND } from '../src/kit/lww-body.ts'
import { fakeStoredEvent, fixtureUlid } from '../src/testing/events.ts'

export { prng, schedule } from './projection-fixtures.ts'
export { utf8 }

export const CHANNEL = 'board'
export const T0 = 1_750_000_000_000

/** One key set to a string, or removed (undefined). */
export type Field = [key: string, value: string | undefined]

/** A `kit.lww` body of map `name` setting or removing keys under one author clock. */
export function lwwBody(name: string, time: number, counter: number, fields: readonly Field[]): Uint8Array {
  return encodeLww({
    name,
    time,
    counter,
    entries: fields.map(([key, v]) => (v === undefined ? { key } : { key, value: utf8(v) })),
  })
}

let seq = 0
/**
 * A stamped event as the log hands it over (projections do not check signatures): stamped at
 * `ts` by the author whose key is 32 bytes of `author`. Every call gets a fresh id and client
 * nonce; ids sort by `ts`.
 */
export function kitEvent(o: {
  author: number
  ts: number
  body: Uint8Array
  kind?: string
  channel?: string
}): StampedEvent {
  const n = ++seq
  return {
    ...fakeStoredEvent(o.channel ?? CHANNEL, n).event,
    id: fixtureUlid(o.ts, n),
    ts: o.ts,
    kind: o.kind ?? LWW_KIND,
    author: new Uint8Array(32).fill(o.author),
    body: o.body,
  }
}
