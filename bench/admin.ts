/**
 * A community's admin state (issue #14): what the fold over signed admin events costs, and what
 * the relay's admin gate adds to stamping an ordinary post. Every admin event is really signed
 * by its author and stamped by a relay key (node:crypto), from one seeded history.
 *
 * 1. Fold: `foldAdmin` of the first 1,000 and all 10,000 events of a realistic admin history
 *    (invites created and redeemed, role grants and demotions, bans and unbans, timeouts,
 *    kicks, channel topics; ~2% refused: moderators trying to ban) vs a `ChannelView` applying
 *    the same number of signed chat messages (one batch each, as a replica folds a log from
 *    scratch; neither verifies signatures). Then the relay's start-up: `FileAdminLog.open`
 *    (read + decode admin.log, in a temp dir) and `createContext` (the `AdminGate` fold) for a
 *    10,000-event admin.log, vs reading the same file's bytes alone.
 * 2. Per post: the gate's decisions for an ordinary post (`screen` before the signature check,
 *    `decide` at the id; and `mayPost` alone) with an admin state of ~1,000 members and 100
 *    bans, vs `verifyAuthor` of the same posts (node:crypto): the gate's share of the check.
 * 3. End to end: `RelayCore` over the in-memory shell (relay/test/admin-fixtures.ts), posts
 *    stamped one after another by 50 logged-in members, with that admin state vs an empty one.
 *
 * Cases run interleaved in every round; each figure is the median round.
 *
 *   pnpm bench:admin [--rounds R] [--posts P]     (default R=7, P=1000)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  encodeEvent,
  Identity,
  monotonicUlid,
  type SignedRequest,
  type StampedEvent,
  seededUniform,
  signRequest,
  stamp,
  ulidTime,
  verifyAuthor,
} from '@peerchat/engine'
import {
  ADMIN_CHANNEL,
  type AdminAction,
  AdminKind,
  type AdminState,
  ChannelView,
  encodeAdminBody,
  encodeMessage,
  foldAdmin,
  Kind,
  mayPost,
} from '@peerchat/engine/chat'
import { useNodeCrypto } from '@peerchat/engine/node'
import { adminLogRecord, FileAdminLog } from '../relay/src/admin-log.ts'
import type { StoredAdminEvent } from '../relay/src/core/admin-state.ts'
import { createContext } from '../relay/src/core/context.ts'
import { type Client, community, MemoryAdminLog } from '../relay/test/admin-fixtures.ts'
import { flag, median } from './cli.ts'

const args = process.argv.slice(2)
if (args.includes('--help')) {
  console.log(`usage: pnpm bench:admin [--rounds R] [--posts P]

  --rounds  rounds, cases interleaved in each (default 7, or env ROUNDS)
  --posts   posts per case and round through the relay core (default 1000, or env POSTS)

Measures foldAdmin (1,000 and 10,000 signed admin events) vs ChannelView over as many chat
messages; relay start-up from a 10,000-event admin.log vs reading the file; the admin gate's
per-post decision (1,000 members, 100 bans) vs verifyAuthor; and RelayCore stamping with that
admin state vs an empty one. About a minute on 2 cores.`)
  process.exit(0)
}
const ROUNDS = Number(flag('--rounds') ?? process.env.ROUNDS ?? 7)
const POSTS = Number(flag('--posts') ?? process.env.POSTS ?? 1000)
const SIZES = [1_000, 10_000]
const MIN = 60_000
const DAY = 24 * 60 * MIN
const T0 = 1_750_000_000_000

useNodeCrypto()

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const perSec = (n: number, ms: number) => fmt((n / ms) * 1000)
const load: string[] = [loadavg()[0]!.toFixed(2)]
const tables: string[] = []

/** Interleaved rounds; each case's median time (ms) per round. */
async function interleaved(cases: (() => number | Promise<number>)[]): Promise<number[]> {
  const ms: number[][] = cases.map(() => [])
  for (let r = 0; r < ROUNDS; r++)
    for (const [i, c] of cases.entries()) {
      const t0 = performance.now()
      const extra = await c()
      ms[i]!.push(performance.now() - t0 - extra)
    }
  return ms.map(median)
}

// ---- signed, relay-stamped events ------------------------------------------------------------

let seedCount = 0
/** A deterministic identity: the seed is a counter. */
function person(): Promise<Identity> {
  const seed = new Uint8Array(32)
  new DataView(seed.buffer).setUint32(0, ++seedCount)
  return Identity.fromSeed(seed)
}

/** A relay stamping at the times it is told (monotonic ids), as engine/test/admin-fixtures.ts. */
function relayAt(relay: Identity, rnd: () => number) {
  let now = T0
  const nextId = monotonicUlid(
    () => now,
    (n) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256)),
  )
  let nonce = 0
  const nonceBytes = () => {
    const b = new Uint8Array(16)
    new DataView(b.buffer).setUint32(12, ++nonce)
    return b
  }
  const event = async (user: Identity, channel: string, kind: string, body: Uint8Array, at: number) => {
    now = at
    const id = nextId()
    return stamp(relay, id, await signRequest(user, { channel, kind, clientNonce: nonceBytes(), body }))
  }
  return {
    admin: (user: Identity, action: AdminAction, at: number) =>
      event(user, ADMIN_CHANNEL, action.kind, encodeAdminBody(action), at),
    event,
  }
}

interface Invite {
  id: Uint8Array
  left: number
  expiresAt: number
}

/**
 * A community's admin history of `n` events, in id order: an owner, 4 admins and 12 moderators,
 * members who join by invites, and the moderation of a busy community. Mostly accepted.
 */
async function adminHistory(n: number, relay: Identity): Promise<StampedEvent[]> {
  const rnd = seededUniform(14)
  const r = relayAt(relay, rnd)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const take = <T>(xs: T[]): T => xs.splice(Math.floor(rnd() * xs.length), 1)[0]!
  const out: StampedEvent[] = []
  let t = T0
  const at = () => (t += 1_000 + Math.floor(rnd() * 59_000))
  const add = async (user: Identity, action: AdminAction) => {
    out.push(await r.admin(user, action, at()))
  }
  const owner = await person()
  const admins = await Promise.all(Array.from({ length: 4 }, person))
  const mods = await Promise.all(Array.from({ length: 12 }, person))
  await add(owner, { kind: AdminKind.claim, body: {} })
  await add(owner, { kind: AdminKind.accessSet, body: { access: 'invite' } })
  for (const a of admins)
    await add(owner, { kind: AdminKind.roleSet, body: { target: a.publicKey, role: 'admin' } })
  for (const m of mods)
    await add(pick(admins), { kind: AdminKind.roleSet, body: { target: m.publicKey, role: 'moderator' } })
  const members: Identity[] = []
  const promoted: Identity[] = []
  const banned: { who: Identity; by: Identity }[] = []
  const invites: Invite[] = []
  let inviteNo = 0
  const createInvite = async () => {
    const id = new Uint8Array(16)
    new DataView(id.buffer).setUint32(0, ++inviteNo)
    const expiresAt = t + 7 * DAY
    await add(pick([...admins, ...mods]), { kind: AdminKind.inviteCreate, body: { id, expiresAt, uses: 20 } })
    invites.push({ id, left: 20, expiresAt })
  }
  const redeem = async () => {
    const inv = invites.find((i) => i.left > 0 && i.expiresAt > t + MIN)
    if (!inv) return createInvite()
    inv.left--
    const who = await person()
    await add(who, { kind: AdminKind.inviteRedeem, body: { id: inv.id } })
    members.push(who)
  }
  while (out.length < n) {
    const x = rnd()
    if (x < 0.3 || members.length < 10) await redeem()
    else if (x < 0.36) await createInvite()
    else if (x < 0.46) {
      if (promoted.length && rnd() < 0.5)
        await add(pick([owner, ...admins]), {
          kind: AdminKind.roleSet,
          body: { target: take(promoted).publicKey, role: 'member' },
        })
      else {
        const who = take(members)
        await add(pick([owner, ...admins]), {
          kind: AdminKind.roleSet,
          body: { target: who.publicKey, role: 'moderator' },
        })
        promoted.push(who)
      }
    } else if (x < 0.58) {
      const who = take(members)
      const by = pick(admins)
      const temporary = rnd() < 0.3
      await add(by, {
        kind: AdminKind.memberBan,
        body: temporary
          ? { target: who.publicKey, reason: 'spam', until: t + 3 * DAY }
          : { target: who.publicKey, reason: 'spam' },
      })
      if (!temporary) banned.push({ who, by })
    } else if (x < 0.66) {
      if (!banned.length) await redeem()
      else {
        const b = take(banned)
        await add(b.by, { kind: AdminKind.memberUnban, body: { target: b.who.publicKey } })
      }
    } else if (x < 0.84)
      await add(pick(mods), {
        kind: AdminKind.memberTimeout,
        body: { target: pick(members).publicKey, until: t + 10 * MIN },
      })
    else if (x < 0.9)
      await add(pick(mods), {
        kind: AdminKind.memberKick,
        body: { target: take(members).publicKey, reason: 'off topic' },
      })
    else if (x < 0.97)
      await add(pick(admins), {
        kind: AdminKind.channelUpdate,
        body: { channel: pick(['general', 'news', 'random']), topic: `topic ${out.length}` },
      })
    // Refused: a moderator may not ban.
    else
      await add(pick(mods), {
        kind: AdminKind.memberBan,
        body: { target: pick(members).publicKey, reason: 'x' },
      })
  }
  return out
}

/** `n` signed chat messages in #general, 50 authors, 10% replies. */
async function chatHistory(n: number, relay: Identity): Promise<StampedEvent[]> {
  const rnd = seededUniform(15)
  const r = relayAt(relay, rnd)
  const authors = await Promise.all(Array.from({ length: 50 }, person))
  const out: StampedEvent[] = []
  let t = T0
  for (let i = 0; i < n; i++) {
    const target =
      out.length && rnd() < 0.1
        ? out[out.length - 1 - Math.floor(rnd() * Math.min(200, out.length))]
        : undefined
    const body = encodeMessage({
      text: `message ${i} ${'lorem ipsum '.repeat(1 + (i % 5))}`,
      mentions: [],
      ...(target ? { replyTo: target.id } : {}),
    })
    t += 1 + Math.floor(rnd() * 5_000)
    out.push(await r.event(authors[Math.floor(rnd() * authors.length)]!, 'general', Kind.message, body, t))
  }
  return out
}

// ---- 1. fold --------------------------------------------------------------------------------

const relayKey = await person()
const t0 = performance.now()
const adminEvents = await adminHistory(SIZES[SIZES.length - 1]!, relayKey)
const chatEvents = await chatHistory(SIZES[SIZES.length - 1]!, relayKey)
console.log(
  `signed and stamped ${fmt(adminEvents.length)} admin + ${fmt(chatEvents.length)} chat events in ${fmt(performance.now() - t0)} ms`,
)

{
  const rows: string[] = []
  for (const n of SIZES) {
    const admin = adminEvents.slice(0, n)
    const chat = chatEvents.slice(0, n)
    const { state, refused } = foldAdmin(admin)
    const lastTs = admin[admin.length - 1]!.ts
    const keys = [...new Map(admin.map((e) => [Buffer.from(e.author).toString('hex'), e.author])).values()]
    const members = keys.filter((k) => state.memberOf(k)).length
    const bans = keys.filter((k) => state.banOf(k, lastTs)).length
    console.log(
      `${fmt(n)} admin events: ${fmt(n - refused.length)} accepted (${((100 * (n - refused.length)) / n).toFixed(1)}%), ${fmt(members)} members and ${bans} bans in force at ${new Date(lastTs).toISOString()}`,
    )
    let size = 0
    const [chatMs, adminMs] = await interleaved([
      () => {
        const view = new ChannelView('general')
        view.apply(chat)
        size = view.size
        return 0
      },
      () => {
        if (foldAdmin(admin).state.lastId !== admin[admin.length - 1]!.id) throw new Error('fold')
        return 0
      },
    ])
    if (size !== n) throw new Error(`view holds ${size}`)
    rows.push(
      `| ${fmt(n)} | ChannelView.apply, chat messages (baseline) | ${fmt(chatMs!, 1)} | ${perSec(n, chatMs!)} | 1.00x |`,
    )
    rows.push(
      `| ${fmt(n)} | foldAdmin, admin events | ${fmt(adminMs!, 1)} | ${perSec(n, adminMs!)} | ${(chatMs! / adminMs!).toFixed(2)}x |`,
    )
    load.push(loadavg()[0]!.toFixed(2))
  }
  tables.push(
    [
      `## fold from scratch (median of ${ROUNDS} rounds)`,
      '| events | fold | ms | events/s | speed vs ChannelView |',
      '| ---: | --- | ---: | ---: | ---: |',
      ...rows,
    ].join('\n'),
  )
}

// Relay start-up from admin.log.
{
  const dir = mkdtempSync(join(tmpdir(), 'peerchat-bench-admin-'))
  try {
    const records = adminEvents.map((e) => adminLogRecord(encodeEvent(e)))
    const file = new Uint8Array(records.reduce((s, r) => s + r.length, 0))
    let o = 0
    for (const r of records) {
      file.set(r, o)
      o += r.length
    }
    writeFileSync(join(dir, 'admin.log'), file)
    const [readMs, startMs] = await interleaved([
      () => {
        if (readFileSync(join(dir, 'admin.log')).length !== file.length) throw new Error('read')
        return 0
      },
      () => {
        const log = FileAdminLog.open(dir, () => {})
        const ctx = createContext({ relay: relayKey, adminLog: log })
        if (ctx.admin.frames.length !== adminEvents.length) throw new Error('start')
        log.close()
        return 0
      },
    ])
    // One more open for the split (the median of the split is taken over its own rounds).
    const opens: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const a = performance.now()
      FileAdminLog.open(dir, () => {}).close()
      opens.push(performance.now() - a)
    }
    const open = median(opens)
    tables.push(
      [
        `## relay start-up from admin.log: ${fmt(adminEvents.length)} events, ${fmt(file.length / 1024)} KiB (median of ${ROUNDS} rounds)`,
        '| step | ms | vs reading the file |',
        '| --- | ---: | ---: |',
        `| readFileSync of admin.log (baseline) | ${fmt(readMs!, 2)} | 1x |`,
        `| FileAdminLog.open (read + decode) | ${fmt(open, 1)} | ${(open / readMs!).toFixed(0)}x |`,
        `| FileAdminLog.open + createContext (AdminGate folds) | ${fmt(startMs!, 1)} | ${(startMs! / readMs!).toFixed(0)}x |`,
      ].join('\n'),
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  load.push(loadavg()[0]!.toFixed(2))
}

// ---- 2. the gate's per-post decision ------------------------------------------------------

/** Owner, 5 admins, 20 moderators; 1,100 members by invite, 100 of them banned; some timeouts. */
async function gateHistory(relay: Identity) {
  const rnd = seededUniform(16)
  const r = relayAt(relay, rnd)
  const out: StampedEvent[] = []
  let t = T0
  const add = async (user: Identity, action: AdminAction) => {
    t += 10_000
    out.push(await r.admin(user, action, t))
  }
  const owner = await person()
  const admins = await Promise.all(Array.from({ length: 5 }, person))
  const mods = await Promise.all(Array.from({ length: 20 }, person))
  await add(owner, { kind: AdminKind.claim, body: {} })
  await add(owner, { kind: AdminKind.accessSet, body: { access: 'invite' } })
  for (const a of admins)
    await add(owner, { kind: AdminKind.roleSet, body: { target: a.publicKey, role: 'admin' } })
  for (const m of mods)
    await add(admins[0]!, { kind: AdminKind.roleSet, body: { target: m.publicKey, role: 'moderator' } })
  await add(admins[1]!, { kind: AdminKind.channelUpdate, body: { channel: 'general', topic: 'welcome' } })
  const joined: Identity[] = []
  for (let i = 0; i < 110; i++) {
    const id = new Uint8Array(16)
    new DataView(id.buffer).setUint32(0, i + 1)
    await add(admins[i % 5]!, {
      kind: AdminKind.inviteCreate,
      body: { id, expiresAt: t + 30 * DAY, uses: 10 },
    })
    for (let j = 0; j < 10; j++) {
      const who = await person()
      await add(who, { kind: AdminKind.inviteRedeem, body: { id } })
      joined.push(who)
    }
  }
  const bannedSet = new Set<Identity>()
  while (bannedSet.size < 100) {
    const who = joined[Math.floor(rnd() * joined.length)]!
    if (bannedSet.has(who)) continue
    bannedSet.add(who)
    await add(admins[bannedSet.size % 5]!, {
      kind: AdminKind.memberBan,
      body: { target: who.publicKey, reason: 'spam' },
    })
  }
  for (let i = 0; i < 50; i++)
    await add(mods[i % 20]!, {
      kind: AdminKind.memberTimeout,
      body: { target: joined[Math.floor(rnd() * joined.length)]!.publicKey, until: t + 5 * MIN },
    })
  const members = joined.filter((m) => !bannedSet.has(m))
  return { events: out, members, banned: [...bannedSet], end: t }
}

const gate = await gateHistory(relayKey)
const stored: StoredAdminEvent[] = gate.events.map((event) => ({ event, bytes: encodeEvent(event) }))
const postAt = gate.end + 10 * MIN // every timeout is over
{
  const full = createContext({ relay: relayKey, adminLog: { events: stored, append() {}, close() {} } })
  const empty = createContext({ relay: relayKey })
  const state: AdminState = full.admin.state
  const members = gate.members.filter((m) => state.memberOf(m.publicKey)).length
  const bans = gate.banned.filter((m) => state.banOf(m.publicKey, postAt)).length
  const refused = foldAdmin(gate.events).refused.length
  console.log(
    `gate state: ${fmt(gate.events.length)} admin events (${refused} refused), ${fmt(members)} invited members + 26 staff, ${bans} bans in force`,
  )
  // Posts by members (and a tenth by banned keys, which the gate refuses), each signed.
  const nextId = monotonicUlid(() => postAt)
  const posts: { req: SignedRequest; event: StampedEvent }[] = []
  for (let i = 0; i < 2_000; i++) {
    const who =
      i % 10 === 9 ? gate.banned[i % gate.banned.length]! : gate.members[(i * 7) % gate.members.length]!
    const nonce = new Uint8Array(16)
    new DataView(nonce.buffer).setUint32(0, i + 1)
    const req = await signRequest(who, {
      channel: 'general',
      kind: Kind.message,
      clientNonce: nonce,
      body: encodeMessage({ text: `post ${i}`, mentions: [] }),
    })
    const id = nextId()
    posts.push({ req, event: { ...req, id, ts: ulidTime(id), relaySig: new Uint8Array(64) } })
  }
  const REPS = 20
  const allowed = new Map<unknown, number>()
  const decideAll = (g: typeof full.admin) => () => {
    let ok = 0
    for (let k = 0; k < REPS; k++)
      for (const p of posts) {
        if (g.screen(null, p.req, postAt)) continue
        if (g.decide(null, p.event).ok) ok++
      }
    allowed.set(g, ok / REPS)
    return 0
  }
  const [verifyMs, gateMs, emptyMs, mayPostMs] = await interleaved([
    async () => {
      for (const p of posts) if (!(await verifyAuthor(p.req))) throw new Error('verify')
      return 0
    },
    decideAll(full.admin),
    decideAll(empty.admin),
    () => {
      let n = 0
      for (let k = 0; k < REPS; k++)
        for (const p of posts) if (mayPost(state, p.req.author, 'general', postAt)) n++
      if (n === 0) throw new Error('mayPost')
      return 0
    },
  ])
  console.log(
    `the gate allowed ${allowed.get(full.admin)} of ${posts.length} posts with that state (the rest are by banned keys), ${allowed.get(empty.admin)} with an empty one`,
  )
  const us = (ms: number, calls: number) => (ms * 1000) / calls
  const v = us(verifyMs!, posts.length)
  const g = us(gateMs!, posts.length * REPS)
  const e = us(emptyMs!, posts.length * REPS)
  const m = us(mayPostMs!, posts.length * REPS)
  tables.push(
    [
      `## per ordinary post: ${fmt(members)} members + 26 staff, ${bans} bans (median of ${ROUNDS} rounds; ${fmt(posts.length)} posts, 10% by banned keys)`,
      '| check | µs per post | share of verifyAuthor |',
      '| --- | ---: | ---: |',
      `| verifyAuthor, node:crypto (baseline) | ${v.toFixed(1)} | 100% |`,
      `| gate.screen + gate.decide, that admin state | ${g.toFixed(2)} | ${((100 * g) / v).toFixed(1)}% |`,
      `| gate.screen + gate.decide, empty admin state | ${e.toFixed(2)} | ${((100 * e) / v).toFixed(1)}% |`,
      `| mayPost alone, that admin state | ${m.toFixed(2)} | ${((100 * m) / v).toFixed(1)}% |`,
    ].join('\n'),
  )
  load.push(loadavg()[0]!.toFixed(2))
}

// ---- 3. through RelayCore -----------------------------------------------------------------

{
  const limits = { eventsPerSecondPerKey: 1e9, eventBurstPerKey: 1e9 }
  const log = new MemoryAdminLog()
  log.events.push(...stored)
  const withState = await community({ relay: relayKey, log, now: postAt, limits })
  const withoutState = await community({ relay: relayKey, now: postAt, limits })
  if (withState.ctx.admin.state.owner === undefined || withoutState.ctx.admin.state.owner !== undefined)
    throw new Error('states')
  const posters = gate.members.slice(0, 50)
  // One login at a time: the relay lets 16 unauthenticated sockets per address wait.
  const sessions: Client[][] = [[], []]
  for (const [i, c] of [withState, withoutState].entries())
    for (const p of posters) sessions[i]!.push(await c.login(p))
  let nonce = 0
  const requests = async () => {
    const out: SignedRequest[] = []
    for (let i = 0; i < POSTS; i++) {
      const clientNonce = new Uint8Array(16)
      new DataView(clientNonce.buffer).setUint32(0, ++nonce)
      out.push(
        await signRequest(posters[i % posters.length]!, {
          channel: 'general',
          kind: Kind.message,
          clientNonce,
          body: encodeMessage({ text: `post ${nonce}`, mentions: [] }),
        }),
      )
    }
    return out
  }
  /** Stamps POSTS fresh requests one after another; the signing beforehand is not timed. */
  const run = (c: typeof withState, clients: (typeof sessions)[0]) => async () => {
    const a = performance.now()
    const reqs = await requests()
    const signing = performance.now() - a
    for (const [i, req] of reqs.entries()) {
      const o = await c.publish(clients[i % clients.length]!, req)
      if (!o.ok) throw new Error(`refused: ${o.code} ${o.message}`)
    }
    return signing
  }
  const [emptyMs, fullMs] = await interleaved([run(withoutState, sessions[1]!), run(withState, sessions[0]!)])
  tables.push(
    [
      `## RelayCore over the in-memory shell: ${fmt(POSTS)} posts by 50 members, one after another (median of ${ROUNDS} rounds)`,
      '| admin state | ms | posts/s | vs empty |',
      '| --- | ---: | ---: | ---: |',
      `| empty (baseline) | ${fmt(emptyMs!)} | ${perSec(POSTS, emptyMs!)} | 1.00x |`,
      `| ${fmt(gate.events.length)} events: ~1,000 members, 100 bans | ${fmt(fullMs!)} | ${perSec(POSTS, fullMs!)} | ${(emptyMs! / fullMs!).toFixed(2)}x |`,
    ].join('\n'),
  )
  load.push(loadavg()[0]!.toFixed(2))
}

console.log(`\nnode ${process.version}, ${cpus().length} cores, ${new Date().toISOString().slice(0, 16)} UTC`)
console.log(`load average (1 min) at the start and after each part: ${load.join(', ')}\n`)
console.log(tables.join('\n\n'))
process.exit(0)
