/**
 * Signed Yjs documents converge: authors edit their own DocHandles (text inserts and
 * deletes, map sets), sometimes syncing from the log in between so edits depend on each
 * other; every `yjs` event is really signed and stamped. Then 2-8 replicas receive the log
 * (mixed with chat events, another document's and another channel's, which they must skip)
 * in any permutation, duplication, batching and partition-then-heal schedule, one of them
 * starting from a snapshot, and
 * all end with byte-identical state (`Y.encodeStateAsUpdate` normalised by `Y.mergeUpdates`)
 * and identical JSON content.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { toHex } from '../src/bytes.ts'
import { encodeMessage, encodeYjs } from '../src/chat/bodies.ts'
import { Kind } from '../src/chat/kinds.ts'
import { DocHandle, type DocHost, openDoc } from '../src/docs/doc-handle.ts'
import { applySnapshot, decodeSnapshot, encodeSnapshot, snapshot } from '../src/docs/snapshot.ts'
import type { StampedEvent } from '../src/event.ts'
import type { Identity } from '../src/identity/keys.ts'
import { CHANNEL, cast, schedule, stamper } from './projection-fixtures.ts'

const RUNS = 200
const NAME = 'notes'

type Op =
  | { t: 'ins'; who: number; at: number; text: string }
  | { t: 'del'; who: number; at: number; len: number }
  | { t: 'set'; who: number; key: string; value: number }
  | { t: 'flush'; who: number }
  | { t: 'sync'; who: number }

const who = fc.nat(3)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('ins' as const),
      who,
      at: fc.nat(),
      text: fc.string({ minLength: 1, maxLength: 6 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('del' as const),
      who,
      at: fc.nat(),
      len: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('set' as const),
      who,
      key: fc.constantFrom('a', 'b', 'c'),
      value: fc.integer(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('flush' as const), who }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('sync' as const), who }) },
)

let users: Identity[]
let stampAs: ReturnType<typeof stamper>
/** Events in the same log that the document must skip: chat, another document, another channel. */
let noise: StampedEvent[]

beforeAll(async () => {
  const c = await cast(4)
  users = c.users
  stampAs = stamper(c.relay)
  const other = new Y.Doc()
  other.getText('t').insert(0, 'not in notes')
  const update = Y.encodeStateAsUpdate(other)
  noise = [
    await stampAs(users[0]!, Kind.message, encodeMessage({ text: 'hello', mentions: [] })),
    await stampAs(users[1]!, Kind.yjs, encodeYjs({ doc: 'other', update })),
    await stampAs(users[2]!, Kind.yjs, encodeYjs({ doc: NAME, update }), 'elsewhere'),
  ]
})

const readOnly: DocHost = {
  publish: () => Promise.reject(new Error('a replica that only reads never publishes')),
}

/** The comparison the issue asks for: state bytes normalised by a merge, and the content. */
function fingerprint(doc: Y.Doc): { state: string; json: string } {
  const state = toHex(Y.mergeUpdates([Y.encodeStateAsUpdate(doc)]))
  // Y.Map iterates in arrival order, so sort keys to compare content.
  const map = Object.entries(doc.getMap('m').toJSON()).sort(([a], [b]) => (a < b ? -1 : 1))
  const json = JSON.stringify({ text: doc.getText('t').toString(), map })
  return { state, json }
}

async function author(ops: Op[]): Promise<{ log: StampedEvent[]; authors: DocHandle[] }> {
  const log: StampedEvent[] = []
  const authors = users.map((u, i) =>
    openDoc(
      CHANNEL,
      NAME,
      {
        publish: async (channel, kind, body) => {
          const ev = await stampAs(u, kind, body, channel)
          log.push(ev)
          return ev
        },
      },
      { batchMs: 60_000, clientID: i + 1 },
    ),
  )
  for (const op of ops) {
    const h = authors[op.who]!
    const text = h.doc.getText('t')
    switch (op.t) {
      case 'ins':
        text.insert(op.at % (text.length + 1), op.text)
        break
      case 'del':
        if (text.length > 0) {
          const at = op.at % text.length
          text.delete(at, Math.min(op.len, text.length - at))
        }
        break
      case 'set':
        h.doc.getMap('m').set(op.key, op.value)
        break
      case 'flush':
        await h.flush()
        break
      case 'sync':
        await h.apply(log)
        break
    }
  }
  for (const h of authors) await h.flush()
  return { log, authors }
}

describe('signed Yjs documents (property)', () => {
  it(`2-8 replicas converge byte for byte, one from a snapshot (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 30, size: 'max' }),
        fc.array(fc.record({ seed: fc.integer(), partition: fc.nat(15) }), { minLength: 2, maxLength: 8 }),
        async (ops, replicas) => {
          const { log, authors } = await author(ops)
          // A snapshot served by author 0 (it holds only what it made or synced).
          const snap = decodeSnapshot(encodeSnapshot(await snapshot(authors[0]!)))
          const prints = []
          const keys = users.map((u) => toHex(u.publicKey))
          for (const [i, { seed, partition }] of replicas.entries()) {
            const replica = new DocHandle(CHANNEL, NAME, readOnly, { clientID: 100 + i })
            if (i === 0) expect(await applySnapshot(replica, snap)).toEqual({ ok: true })
            // Partition first (only some authors' events get through), then heal with everything.
            const reachable = log.filter((e) => (partition >> keys.indexOf(toHex(e.author))) & 1)
            for (const batch of [
              ...schedule(reachable, seed),
              ...schedule([...log, ...noise], seed ^ 0x5bd1e995),
            ]) {
              const r = await replica.apply(batch)
              expect(r.rejected).toEqual([])
            }
            expect(replica.covered()).toEqual(log.map((e) => e.id).sort())
            prints.push(fingerprint(replica.doc))
          }
          // Authors converge too once they have the whole log.
          for (const h of authors) {
            await h.apply(log)
            prints.push(fingerprint(h.doc))
          }
          for (const p of prints) expect(p).toEqual(prints[0])
        },
      ),
      { numRuns: RUNS },
    )
  })
})
