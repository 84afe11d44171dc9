/**
 * Properties of the admin fold over random histories of real signed and stamped events (any
 * author, any action, any target, restamped requests and malformed bodies among them):
 *
 * - `foldAdmin` gives the same state and refusals under any permutation, duplication and
 *   batching of its input (every replica and the relay agree);
 * - applied one by one in id order, `check` predicts `apply`, and a refused event changes
 *   nothing but the fold's position;
 * - invariants: one owner at most, the one `owner` names; a banned key holds no role; no
 *   accepted action's author was banned or timed out at its time.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { type AdminAction, encodeAdminBody } from '../src/chat/admin/bodies.ts'
import { AdminState, foldAdmin } from '../src/chat/admin/fold.ts'
import { AdminKind } from '../src/chat/admin/kinds.ts'
import type { StampedEvent } from '../src/event.ts'
import { type Identity, publicKeyToText } from '../src/identity/keys.ts'
import { ulidTime } from '../src/ulid.ts'
import { HOUR, MIN, relayAt, T0 } from './admin-fixtures.ts'
import { cast, schedule } from './projection-fixtures.ts'

const RUNS = 80

let relay: Identity
let users: Identity[]

beforeAll(async () => {
  const c = await cast(6)
  relay = c.relay
  users = c.users
})

type Op =
  | { t: 'act'; author: number; action: number; target: number; pick: number; dt: number }
  | { t: 'replay'; of: number; dt: number }
  | { t: 'garbage'; author: number; dt: number }

const ROLES = ['owner', 'admin', 'moderator', 'member', 'helper', 'ghost'] as const
const DT = [0, 1, MIN, HOUR] as const

/** Authors lean to the owner (user 0) and user 1, so that many actions are allowed. */
const author = fc.oneof(
  { weight: 8, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.constant(1) },
  { weight: 4, arbitrary: fc.nat(5) },
)

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      t: fc.constant('act' as const),
      author,
      action: fc.nat(11),
      target: fc.nat(5),
      pick: fc.nat(1000),
      dt: fc.nat(DT.length - 1),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('replay' as const), of: fc.nat(40), dt: fc.nat(3) }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('garbage' as const), author: fc.nat(5), dt: fc.nat(3) }),
  },
)

/** The admin action an op stands for, at relay time `at`. */
function actionOf(op: Extract<Op, { t: 'act' }>, at: number): AdminAction {
  const target = users[op.target]!.publicKey
  const role = ROLES[op.pick % ROLES.length]!
  const invite = new Uint8Array(16).fill(op.pick % 2)
  const later = at + 1 + (op.pick % 4) * HOUR
  switch (op.action) {
    case 0:
      return { kind: AdminKind.claim, body: {} }
    case 1:
      return { kind: AdminKind.roleSet, body: { target, role } }
    case 2:
      return { kind: AdminKind.roleDefine, body: { name: 'helper', permissions: op.pick % 128 } }
    case 3:
      return {
        kind: AdminKind.channelUpdate,
        body: {
          channel: `c${op.pick % 2}`,
          topic: `t${op.pick}`,
          postRole: op.pick % 2 ? 'moderator' : 'member',
          ...(op.pick % 3 ? { editRole: op.pick % 3 === 1 ? 'admin' : null } : {}),
        },
      }
    case 4:
      return { kind: AdminKind.memberKick, body: { target, reason: 'k' } }
    case 5:
      return op.pick % 2
        ? { kind: AdminKind.memberBan, body: { target, reason: 'b', until: later } }
        : { kind: AdminKind.memberBan, body: { target, reason: 'b' } }
    case 6:
      return { kind: AdminKind.memberUnban, body: { target } }
    case 7:
      return { kind: AdminKind.memberTimeout, body: { target, until: op.pick % 5 ? later : at } }
    case 8:
      return { kind: AdminKind.inviteCreate, body: { id: invite, expiresAt: later, uses: 1 + (op.pick % 2) } }
    case 9:
      return { kind: AdminKind.inviteRevoke, body: { id: invite } }
    case 10:
      return { kind: AdminKind.inviteRedeem, body: { id: invite } }
    default:
      return { kind: AdminKind.accessSet, body: { access: op.pick % 2 ? 'open' : 'invite' } }
  }
}

/** Signs and stamps a history in relay order: the owner claims first, then the ops. */
async function history(ops: readonly Op[]): Promise<StampedEvent[]> {
  let now = T0
  const r = relayAt(() => relay)
  const send = (user: Identity, kind: string, body: Uint8Array) => r.event(user, kind, body, now)
  const events = [
    await send(users[0]!, AdminKind.claim, encodeAdminBody({ kind: AdminKind.claim, body: {} })),
  ]
  for (const op of ops) {
    now += DT[op.dt]!
    if (op.t === 'act') {
      const action = actionOf(op, now)
      events.push(await send(users[op.author]!, action.kind, encodeAdminBody(action)))
    } else if (op.t === 'garbage')
      events.push(await send(users[op.author]!, AdminKind.memberBan, new Uint8Array([1, 9])))
    else events.push(await r.restamp(events[op.of % events.length]!, now))
  }
  return events
}

const snapshot = (s: AdminState): string => JSON.stringify(s)
/** The state without the fold's position (what a refused event may move). */
const content = (s: AdminState): string => JSON.stringify({ ...(s.toJSON() as object), lastId: null })

let accepted = 0
let refused = 0

describe('admin fold properties', () => {
  it('same state and refusals under any permutation, duplication and batching', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), fc.integer(), async (ops, seed) => {
        const events = await history(ops)
        const reference = foldAdmin(events)
        for (const s of [seed, seed + 1, seed + 2]) {
          const delivered = schedule(events, s).flat()
          const other = foldAdmin(delivered)
          expect(snapshot(other.state)).toBe(snapshot(reference.state))
          expect(other.refused).toEqual(reference.refused)
        }
        const twice = foldAdmin([...events, ...events.slice().reverse()])
        expect(snapshot(twice.state)).toBe(snapshot(reference.state))
        expect(twice.refused).toEqual(reference.refused)
      }),
      { numRuns: RUNS },
    )
  })

  it('in id order: check predicts apply; a refused event changes nothing; invariants hold', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        const events = await history(ops)
        const state = new AdminState()
        const acceptedIds: string[] = []
        for (const ev of events) {
          const at = ulidTime(ev.id)
          const before = content(state)
          const blocked = state.banOf(ev.author, at) ?? state.timeoutOf(ev.author, at)
          const predicted = state.check(ev)
          expect(content(state)).toBe(before)
          const verdict = state.apply(ev)
          expect(verdict).toEqual(predicted)
          if (!verdict.ok) {
            refused++
            expect(content(state)).toBe(before)
            continue
          }
          accepted++
          acceptedIds.push(ev.id)
          // A banned or timed-out author acts on nothing.
          expect(blocked).toBeUndefined()
          const owners = users.filter((u) => state.roleOf(u.publicKey) === 'owner')
          expect(owners.map((u) => publicKeyToText(u.publicKey))).toEqual(state.owner ? [state.owner] : [])
          for (const u of users)
            if (state.banOf(u.publicKey, at)) expect(state.roleOf(u.publicKey)).toBe('member')
        }
        // The audit log lists exactly the accepted actions, in order.
        expect(state.audit().map((a) => a.id)).toEqual(acceptedIds)
      }),
      { numRuns: RUNS },
    )
    // The histories are not trivial: many actions are accepted, many refused.
    expect(accepted).toBeGreaterThan(RUNS * 3)
    expect(refused).toBeGreaterThan(RUNS * 2)
  })
})
