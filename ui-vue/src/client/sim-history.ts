/**
 * Seeds a channel's local history with really signed, really stamped events, spread over the
 * past days, so the message list has days, groups and scroll-back to show.
 */

import {
  monotonicUlid,
  type SignedRequest,
  type Signer,
  type StampedEvent,
  signRequest,
  stamp,
} from '@peerchat/engine'
import { Kind } from '@peerchat/engine/chat'
import { encodeBody } from './bodies.ts'
import { pick, type Random, randomBytesFrom } from './prng.ts'
import { chatLine, REACTIONS } from './sim-text.ts'

export interface HistorySpec {
  channel: string
  count: number
  authors: readonly Signer[]
  names: readonly string[]
  relay: Signer
  /** Time of the newest message (ms). */
  end: number
  random: Random
}

/** Signatures in flight at once: enough to keep WebCrypto's threads busy. */
const SIGN_BATCH = 256
const MEAN_GAP_MS = 90_000

export async function generateHistory(spec: HistorySpec): Promise<StampedEvent[]> {
  const { random, count } = spec
  // Walk back from `end` with bursty gaps, then stamp oldest first with a clock on those times.
  const times: number[] = new Array(count)
  let t = spec.end
  for (let i = count - 1; i >= 0; i--) {
    times[i] = t
    t -= random() < 0.8 ? Math.floor(random() * 60_000) : Math.floor(random() * MEAN_GAP_MS * 40)
  }
  let clock = 0
  const nextId = monotonicUlid(
    () => times[clock]!,
    (n) => randomBytesFrom(random, n),
  )
  const out: StampedEvent[] = []
  const messageIds: StampedEvent[] = []
  for (let start = 0; start < count; start += SIGN_BATCH) {
    const batch: Promise<SignedRequest>[] = []
    for (let i = start; i < Math.min(count, start + SIGN_BATCH); i++) {
      const author = pick(random, spec.authors)
      const reactTo = messageIds.length > 0 && random() < 0.06 ? messageIds[messageIds.length - 1] : undefined
      const body = reactTo
        ? encodeBody({ kind: Kind.reaction, target: reactTo.id, emoji: pick(random, REACTIONS), on: true })
        : encodeBody({ kind: Kind.message, text: chatLine(random, spec.names) })
      batch.push(
        signRequest(author, {
          channel: spec.channel,
          kind: reactTo ? Kind.reaction : Kind.message,
          clientNonce: randomBytesFrom(random, 16),
          body,
        }),
      )
    }
    const requests = await Promise.all(batch)
    const stamped = await Promise.all(
      requests.map((req) => {
        const id = nextId()
        clock++
        return stamp(spec.relay, id, req)
      }),
    )
    for (const e of stamped) {
      out.push(e)
      if (e.kind === Kind.message) messageIds.push(e)
    }
  }
  return out
}
