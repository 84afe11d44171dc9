/**
 * Issue #16 end to end: encrypted conversations as the app runs them (`MlsConversations` on an
 * engine `Replica`, `connectReplica` to one real relay, `webrtc: false`, `useNodeCrypto()`) vs
 * the same text as a plain `message` event in an ordinary channel (`general`), in the same run.
 *
 *   latency     Ann sends one message at a time (the next once both sides hold the last); timed
 *               from her call (`conv.send` / `replica.write`) to Bob holding it: his `on({plain})`
 *               listener told of the kept plaintext / his `replica.subscribe` listener told of the
 *               stored event. Encrypted and plain alternate message by message (paired, so load
 *               from elsewhere hits both alike). p50 / p95 / p99 and their ratios.
 *   throughput  Ann sends N messages back to back (each call awaited: sealed, state kept, signed,
 *               queued; the stamps not awaited), until Bob holds all N: messages/s. ROUNDS rounds,
 *               the kind going first alternating; median round, ratio paired per round. Also when
 *               Bob's replica held the last event (ciphertext, for encrypted), and how many events
 *               `MlsChannel.take` was handed per message and tried again as late ones (`takeLate`).
 *   bytes       per message: the event body (MLS: the `mls.message` ciphertext; plain: the text),
 *               the stamped event frame Bob receives, and the WebSocket payload bytes Ann sent and
 *               Bob received during the throughput bursts, divided by N (no WebSocket framing).
 *   group       Ann and GROUP-1 new people (Bob leaves first): Ann creates a private channel
 *               with them from the key packages they published (`conv.create('private', ...)`),
 *               timed until every one joined (Welcome processed, `conv.get(ch).member`), with when
 *               each held the Welcome and the commit (the relay keeps no history: the commit comes
 *               by a peer's catch-up); bytes of the commit and the Welcome. Baseline: one plain
 *               message from Ann until all of them hold it. Then GROUP_MESSAGES messages one at a
 *               time to all of them, encrypted vs plain, timed until the last one holds it.
 *
 * Everyone is in this one process (one thread: in the group, the members' decryptions run one
 * after another, where real devices would run them side by side); the relay runs in its own
 * process (`pnpm relay`'s CLI, rate limits raised: every client here shares 127.0.0.1) unless
 * RELAY=inline (`startRelay` in this process, as tests/kit/mls-*.test.ts). Loopback only.
 *
 *   pnpm bench:mls-chat [--help]
 *     (N=300 ROUNDS=3 WARMUP=20 BODY=100 GROUP=10 GROUP_MESSAGES=50 RELAY=process JOIN_WAIT_MS=120000)
 */
import { rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import {
  encodeFrame,
  Identity,
  MemoryOutboxStore,
  MemoryStore,
  outboxKey,
  publicKeyFromText,
  Replica,
  type StampedEvent,
} from '@peerchat/engine'
import {
  decodeWelcomeEnvelope,
  keyPackageOf,
  MemoryMlsStorage,
  MlsChannel,
  MlsConversations,
  MlsKind,
  WELCOME_CHANNEL,
} from '@peerchat/engine/mls'
import { useNodeCrypto } from '@peerchat/engine/node'
import { silentLogger, startRelay as startInlineRelay } from '@peerchat/relay'
import { type Connection, connectReplica } from '@peerchat/transports/connect'
import WebSocket from 'ws'
import { BURST_LIMITS, startRelay as startRelayProcess } from '../tests/peer/scenario.ts'
import { median } from './cli.ts'

const args = process.argv.slice(2)
if (args.includes('--help')) {
  console.log(`usage: pnpm bench:mls-chat            (knobs as environment variables)

  N=300             messages in the latency run, and per burst in the throughput run
  ROUNDS=3          throughput rounds (encrypted and plain bursts in each, order alternating)
  WARMUP=20         messages of each kind sent first and not counted
  BODY=100          bytes of each message's text
  GROUP=10          people in the private channel (Ann + GROUP-1 invitees); 0 skips the group part
  GROUP_MESSAGES=50 messages to the group, of each kind, one at a time
  RELAY=process     the relay in its own process (the CLI), or RELAY=inline (in this process)
  JOIN_WAIT_MS=120000  how long the invitees are waited for (a missed catch-up waits for anti-entropy)

Ann, Bob and the group are engine Replicas joined to one relay on loopback with connectReplica
(webrtc: false); encrypted = MlsConversations (a direct message for Ann and Bob), plain = a
'message' event in 'general'. Prints markdown tables.`)
  process.exit(0)
}

const N = Number(process.env.N ?? 300)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const WARMUP = Number(process.env.WARMUP ?? 20)
const BODY = Number(process.env.BODY ?? 100)
const GROUP = Number(process.env.GROUP ?? 10)
const GROUP_MESSAGES = Number(process.env.GROUP_MESSAGES ?? 50)
const RELAY = process.env.RELAY ?? 'process'
if (RELAY !== 'process' && RELAY !== 'inline') throw new Error(`RELAY=${RELAY}: process or inline`)
const PLAIN = 'general'
const WAIT_MS = 60_000
/**
 * How long the invitees are waited for: one whose opened-channel catch-up missed the commit
 * gets it from anti-entropy, every 30-90 s (SyncPolicy \`antiEntropyMs\` 60 s, jittered).
 */
const JOIN_WAIT_MS = Number(process.env.JOIN_WAIT_MS ?? 120_000)
/** An invitee whose commit came later than this got it from anti-entropy, not the opened-channel catch-up. */
const LATE_MS = 5_000
/** The relay's limits, raised: every client of this bench shares one address. */
const LIMITS: Record<string, number> = {
  ...BURST_LIMITS,
  forwardBytesPerSecond: 100_000_000,
  forwardBurstBytes: 100_000_000,
  // Test relays (tests/relay/relay-process.ts) switch checkpoints off; a real one issues them.
  checkpointEvery: 256,
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const now = () => performance.now()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pct = (xs: readonly number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1)
const int = (x: number) => Math.round(x).toLocaleString('en-US')
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')
const table = (head: string[], rows: string[][]) =>
  console.log(
    [
      `| ${head.join(' | ')} |`,
      `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n'),
  )

/** A message's text: unique, padded to BODY bytes (its key is the text itself). */
const textOf = (tag: string) => `${tag} `.padEnd(BODY, 'x')

/**
 * Diagnostics: how many events `MlsChannel.take` was handed (every device in this process) and
 * how many of them it had taken already and tried again as a late message (`takeLate`, a
 * private method: wrapped on the prototype; undefined if it is gone).
 */
const takes = { events: 0, again: undefined as number | undefined }
{
  const proto = MlsChannel.prototype as unknown as Record<
    string,
    ((...a: unknown[]) => Promise<unknown>) | undefined
  >
  const take = proto.take
  const takeLate = proto.takeLate
  if (take && takeLate) {
    takes.again = 0
    proto.take = function (this: unknown, ...a: unknown[]) {
      takes.events += (a[0] as readonly unknown[]).length
      return take.apply(this, a)
    }
    proto.takeLate = function (this: unknown, ...a: unknown[]) {
      takes.again! += 1
      return takeLate.apply(this, a)
    }
  }
}

// ---- who holds what, and when ----------------------------------------------------------------

/** First time each key was seen; `when` waits for one. */
class Arrivals {
  private readonly seen = new Map<string, number>()
  private readonly waiting = new Map<string, ((t: number) => void)[]>()

  mark(key: string): void {
    if (this.seen.has(key)) return
    const t = now()
    this.seen.set(key, t)
    for (const w of this.waiting.get(key) ?? []) w(t)
    this.waiting.delete(key)
  }

  when(key: string, what: string, timeoutMs = WAIT_MS): Promise<number> {
    const t = this.seen.get(key)
    if (t !== undefined) return Promise.resolve(t)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs)
      const list = this.waiting.get(key) ?? []
      list.push((t) => {
        clearTimeout(timer)
        resolve(t)
      })
      this.waiting.set(key, list)
    })
  }
}

interface Wire {
  sent: number
  received: number
}

const bytesOf = (d: unknown): number =>
  typeof d === 'string'
    ? Buffer.byteLength(d)
    : Array.isArray(d)
      ? d.reduce((s: number, x) => s + bytesOf(x), 0)
      : ((d as { byteLength?: number }).byteLength ?? 0)

/** A `ws` WebSocket that counts the payload bytes it sends and receives into `wire`. */
function countingWebSocket(wire: Wire) {
  return class CountingWebSocket extends WebSocket {
    constructor(...a: ConstructorParameters<typeof WebSocket>) {
      super(...a)
      this.on('message', (data: unknown) => {
        wire.received += bytesOf(data)
      })
    }
    override send(data: unknown, ...rest: unknown[]): void {
      wire.sent += bytesOf(data)
      ;(super.send as (...a: unknown[]) => void)(data, ...rest)
    }
  }
}

interface Person {
  name: string
  identity: Identity
  replica: Replica
  connection: Connection
  conv: MlsConversations
  wire: Wire
  /** Encrypted messages whose plaintext this device keeps (by text). */
  mls: Arrivals
  /** Plain messages of `general` this replica holds (by text). */
  plain: Arrivals
  /** Group channels this device joined. */
  joined: Arrivals
  /** Group channels a Welcome for anyone named, when this replica held it. */
  welcomed: Arrivals
  /** Messages (plain or ciphertext) this replica holds, by write key (author + client nonce). */
  events: Arrivals
  /** Sizes of the events received, by kind: body bytes and stamped event frame bytes. */
  sizes: Map<string, { body: number[]; frame: number[] }>
}

interface Relay {
  url: string
  relayKey: Uint8Array
  stop(): Promise<void>
}

async function startRelay(): Promise<Relay> {
  if (RELAY === 'inline') {
    const r = await startInlineRelay({
      relay: await Identity.generate(),
      port: 0,
      log: silentLogger,
      limits: LIMITS,
    })
    return { url: r.url, relayKey: r.relayKey, stop: () => r.stop() }
  }
  const r = await startRelayProcess({ limits: LIMITS })
  return {
    url: r.url,
    relayKey: publicKeyFromText(r.relayKey),
    stop: async () => {
      await r.stop()
      rmSync(r.dataDir, { recursive: true, force: true })
    },
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = now() + WAIT_MS
  while (!(await ok())) {
    if (now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms: ${what}`)
    await sleep(20)
  }
}

const noteEvent = (p: Person, e: StampedEvent) => {
  p.events.mark(outboxKey(e.author, e.clientNonce))
  const s = p.sizes.get(e.kind) ?? { body: [], frame: [] }
  s.body.push(e.body.length)
  s.frame.push(encodeFrame({ type: 'event', event: e }).length)
  p.sizes.set(e.kind, s)
}

async function enter(relay: Relay, name: string): Promise<Person> {
  const identity = await Identity.generate()
  const replica = await Replica.open({
    store: new MemoryStore(),
    outbox: new MemoryOutboxStore(),
    relayKeys: [relay.relayKey],
    signer: identity,
    // As tests/kit/mls-conversations.test.ts: a session towards a peer that does not answer.
    peer: { sessionTimeoutMs: 3_000 },
  })
  const wire: Wire = { sent: 0, received: 0 }
  const connection = connectReplica(replica, {
    relayUrl: relay.url,
    relayKey: relay.relayKey,
    identity,
    room: 'bench-mls-chat',
    webrtc: false,
    WebSocket: countingWebSocket(wire) as never,
  })
  await until(`${name} online`, () => connection.relay.state === 'online')
  const conv = await MlsConversations.open({ replica, signer: identity, storage: new MemoryMlsStorage() })
  const p: Person = {
    name,
    identity,
    replica,
    connection,
    conv,
    wire,
    mls: new Arrivals(),
    plain: new Arrivals(),
    joined: new Arrivals(),
    welcomed: new Arrivals(),
    events: new Arrivals(),
    sizes: new Map(),
  }
  conv.on({
    plain: (_channel, events) => {
      for (const e of events) if (e.kind === 'message') p.mls.mark(dec.decode(e.body))
    },
    changed: (channel) => {
      if (conv.get(channel)?.member) p.joined.mark(channel)
    },
    error: (channel, e) => console.error(`${name}: keeping ${channel} failed: ${e.message}`),
  })
  await replica.subscribe(
    PLAIN,
    (c) => {
      for (const e of c.added)
        if (e.kind === 'message') {
          p.plain.mark(dec.decode(e.body))
          noteEvent(p, e)
        }
    },
    { replay: false },
  )
  await replica.subscribe(
    WELCOME_CHANNEL,
    (c) => {
      for (const e of c.added)
        if (e.kind === MlsKind.welcome)
          try {
            p.welcomed.mark(decodeWelcomeEnvelope(e.body).channel)
          } catch {
            // not a Welcome
          }
    },
    { replay: false },
  )
  return p
}

/**
 * When `p`'s replica first held the commit of group channel `ch` (polled every 5 ms, without
 * opening the channel: the device opens it when its Welcome comes).
 */
async function commitHeld(p: Person, ch: string, timeoutMs = WAIT_MS): Promise<number> {
  const deadline = now() + timeoutMs
  for (;;) {
    if (
      p.replica.channels.includes(ch) &&
      (await p.replica.open(ch).range({})).some((e) => e.kind === MlsKind.commit)
    )
      return now()
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${p.name} holding ${ch}'s commit`)
    await sleep(5)
  }
}

/** Waits until `p`'s replica holds as many events of `general` as `ann`'s (its catch-up done). */
async function caughtUp(p: Person, ann: Person): Promise<void> {
  const want = (await ann.replica.open(PLAIN).range({})).length
  await until(
    `${p.name} caught up with ${PLAIN}`,
    async () => (await p.replica.open(PLAIN).range({})).length >= want,
  )
  await p.replica.settled()
}

async function leave(p: Person): Promise<void> {
  p.conv.close()
  await p.connection.stop()
  await p.replica.stop()
}

/** Waits until `viewer`'s replica holds a key package of `user`. */
const keyPackageOn = (viewer: Person, user: Person) =>
  until(`${user.name}'s key package on ${viewer.name}'s replica`, async () =>
    Boolean(await keyPackageOf(viewer.replica, user.identity.publicKey)),
  )

// ---- the measurements ------------------------------------------------------------------------

type Kind = 'mls' | 'plain'

/** Sends `text` from Ann as `kind` (into `dm` when encrypted): when the call returned. */
async function send(
  ann: Person,
  kind: Kind,
  dm: string,
  text: string,
): Promise<{ called: number; key: string }> {
  const w =
    kind === 'mls'
      ? await ann.conv.send(dm, 'message', enc.encode(text))
      : await ann.replica.write(PLAIN, 'message', enc.encode(text))
  return { called: now(), key: w.key }
}

/** When each of `readers` held `text` (and Ann her own copy, not timed). */
async function held(ann: Person, readers: Person[], kind: Kind, text: string): Promise<number[]> {
  const times = await Promise.all(readers.map((r) => r[kind].when(text, `${r.name} holding ${kind} ${text}`)))
  await ann[kind].when(text, `Ann holding her own ${kind} ${text}`)
  return times
}

interface OneAtATime {
  /** Send call to the last reader holding it. */
  total: number[]
  /** The send call alone (sealed, kept, signed, queued). */
  call: number[]
}

/** `count` messages one at a time to `readers`, encrypted and plain alternating (paired). */
async function oneAtATime(
  ann: Person,
  readers: Person[],
  dm: string,
  tag: string,
  count: number,
): Promise<Record<Kind, OneAtATime>> {
  const out: Record<Kind, OneAtATime> = { mls: { total: [], call: [] }, plain: { total: [], call: [] } }
  for (let i = 0; i < count; i++) {
    const order: Kind[] = i % 2 === 0 ? ['mls', 'plain'] : ['plain', 'mls']
    for (const kind of order) {
      const text = textOf(`${tag}-${kind}-${i}`)
      const t0 = now()
      const { called } = await send(ann, kind, dm, text)
      const times = await held(ann, readers, kind, text)
      out[kind].total.push(Math.max(...times) - t0)
      out[kind].call.push(called - t0)
    }
  }
  return out
}

interface Burst {
  perSecond: number
  /** All N send calls returned. */
  callsMs: number
  /** First call to Bob holding the last. */
  totalMs: number
  /** First call to Bob's replica holding the last event (for encrypted: the ciphertext). */
  eventsMs: number
  /** The longest wait between two of Bob's plaintext arrivals. */
  stallMs: number
  /** Events handed to `MlsChannel.take` (Ann's and Bob's) per message sent. */
  takenPerMsg: number
  /** Of those, already taken and tried again as late messages (`takeLate`), per message sent. */
  againPerMsg: number
  annSentPerMsg: number
  bobReceivedPerMsg: number
}

async function burst(ann: Person, bob: Person, kind: Kind, dm: string, round: number): Promise<Burst> {
  const texts = Array.from({ length: N }, (_, i) => textOf(`burst${round}-${kind}-${i}`))
  const sent0 = ann.wire.sent
  const received0 = bob.wire.received
  const takes0 = { ...takes }
  const t0 = now()
  let called = t0
  const keys: string[] = []
  for (const text of texts) {
    const s = await send(ann, kind, dm, text)
    called = s.called
    keys.push(s.key)
  }
  const [times, events] = await Promise.all([
    Promise.all(texts.map((t) => bob[kind].when(t, `Bob holding ${kind} ${t}`))),
    Promise.all(keys.map((k) => bob.events.when(k, `Bob's replica holding the ${kind} event ${k}`))),
  ])
  const last = Math.max(...times)
  const sent = ann.wire.sent - sent0
  const received = bob.wire.received - received0
  await Promise.all(texts.map((t) => ann[kind].when(t, `Ann holding her own ${kind} ${t}`)))
  await sleep(200) // the last takes queued
  return {
    takenPerMsg: (takes.events - takes0.events) / N,
    againPerMsg: takes.again === undefined ? Number.NaN : (takes.again - takes0.again!) / N,
    perSecond: N / ((last - t0) / 1000),
    callsMs: called - t0,
    totalMs: last - t0,
    eventsMs: Math.max(...events) - t0,
    stallMs: Math.max(...[...times].sort((a, b) => a - b).map((t, i, xs) => (i === 0 ? 0 : t - xs[i - 1]!))),
    annSentPerMsg: sent / N,
    bobReceivedPerMsg: received / N,
  }
}

function latencyTable(r: Record<Kind, OneAtATime>, who: string): void {
  const qs = [0.5, 0.95, 0.99] as const
  const row = (name: string, o: OneAtATime) => [
    name,
    String(o.total.length),
    ...qs.map((q) => ms(pct(o.total, q))),
    ms(Math.max(...o.total)),
    ms(pct(o.call, 0.5)),
  ]
  table(
    ['path', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'send call p50 ms'],
    [
      row(`encrypted: \`conv.send\` → ${who} \`on({plain})\``, r.mls),
      row(`plain: \`replica.write\` → ${who} \`subscribe\``, r.plain),
      [
        'encrypted / plain',
        '',
        ...qs.map((q) => ratio(pct(r.mls.total, q), pct(r.plain.total, q))),
        ratio(Math.max(...r.mls.total), Math.max(...r.plain.total)),
        ratio(pct(r.mls.call, 0.5), pct(r.plain.call, 0.5)),
      ],
    ],
  )
}

async function main(): Promise<void> {
  useNodeCrypto()
  const started = new Date()
  console.log(
    `mls-chat: N = ${N}, ROUNDS = ${ROUNDS}, WARMUP = ${WARMUP}, BODY = ${BODY} B, GROUP = ${GROUP}, GROUP_MESSAGES = ${GROUP_MESSAGES}, relay ${RELAY}, node ${process.version}, ${started.toISOString()}, load ${load()}`,
  )
  const relay = await startRelay()
  const people: Person[] = []
  try {
    const ann = await enter(relay, 'ann')
    const bob = await enter(relay, 'bob')
    people.push(ann, bob)

    // A direct message between Ann and Bob, from the key package Bob published on opening. First
    // their links settle: a catch-up waits while a peer reachable only through relay forwarding
    // appeared less than 2 s ago (SyncPolicy \`fallbackGraceMs\`: its WebRTC link may still come).
    await keyPackageOn(ann, bob)
    await sleep(2_500)
    await Promise.all([ann.replica.settled(), bob.replica.settled()])
    const t0 = now()
    const dm = await ann.conv.create('direct', [bob.identity.publicKey])
    const dmStamped = now() - t0
    const [dmWelcome, dmCommit, dmJoined] = (
      await Promise.all([
        bob.welcomed.when(dm, 'Bob holding the Welcome'),
        commitHeld(bob, dm),
        bob.joined.when(dm, 'Bob joining the direct message'),
      ])
    ).map((t) => t - t0) as [number, number, number]
    await bob.replica.subscribe(
      dm,
      (c) => {
        for (const e of c.added) if (e.kind === MlsKind.message) noteEvent(bob, e)
      },
      { replay: false },
    )
    console.log(
      `\ndirect message Ann → Bob: \`conv.create\` returned after ${ms(dmStamped)} ms; Bob held the Welcome after ${ms(dmWelcome)} ms, the commit after ${ms(dmCommit)} ms, joined after ${ms(dmJoined)} ms`,
    )

    await oneAtATime(ann, [bob], dm, 'warm', WARMUP)
    const latTakes0 = { ...takes }
    const lat = await oneAtATime(ann, [bob], dm, 'lat', N)
    const latTakes = `${((takes.events - latTakes0.events) / N).toFixed(1)} taken, ${takes.again === undefined ? 'n/a' : ((takes.again - latTakes0.again!) / N).toFixed(1)} again`
    console.log(
      `\n1. Latency, Ann → Bob, ${N} messages of ${BODY} B one at a time (kinds alternating; load ${load()}):\n`,
    )
    latencyTable(lat, 'Bob')

    const bursts: Record<Kind, Burst[]> = { mls: [], plain: [] }
    for (let round = 0; round < ROUNDS; round++) {
      const order: Kind[] = round % 2 === 0 ? ['mls', 'plain'] : ['plain', 'mls']
      for (const kind of order) bursts[kind].push(await burst(ann, bob, kind, dm, round))
    }
    const med = (kind: Kind, f: (b: Burst) => number) => median(bursts[kind].map(f))
    const paired = (f: (b: Burst) => number) => median(bursts.mls.map((b, i) => f(b) / f(bursts.plain[i]!)))
    console.log(
      `\n2. Throughput, Ann → Bob, ${N} messages back to back until Bob holds all (median of ${ROUNDS} rounds; load ${load()}):\n`,
    )
    table(
      [
        'path',
        'messages/s',
        'all send calls returned, ms',
        'first call → Bob’s replica holds the last event, ms',
        'first call → Bob holds the last, ms',
      ],
      [
        ...(['mls', 'plain'] as const).map((k) => [
          k === 'mls' ? 'encrypted' : 'plain',
          int(med(k, (b) => b.perSecond)),
          int(med(k, (b) => b.callsMs)),
          int(med(k, (b) => b.eventsMs)),
          int(med(k, (b) => b.totalMs)),
        ]),
        [
          'encrypted / plain (paired per round)',
          ratio(
            paired((b) => b.perSecond),
            1,
          ),
          ratio(
            paired((b) => b.callsMs),
            1,
          ),
          ratio(
            paired((b) => b.eventsMs),
            1,
          ),
          ratio(
            paired((b) => b.totalMs),
            1,
          ),
        ],
      ],
    )
    console.log(
      `events handed to MlsChannel.take (Ann's and Bob's) per encrypted message: ${bursts.mls.map((b) => b.takenPerMsg.toFixed(1)).join(', ')}; of them taken already and decrypted again as late (takeLate): ${bursts.mls.map((b) => b.againPerMsg.toFixed(1)).join(', ')} (1-at-a-time latency run: ${latTakes})`,
    )
    console.log(
      `rounds, messages/s (longest gap between two of Bob's arrivals, ms): encrypted ${bursts.mls.map((b) => `${int(b.perSecond)} (${int(b.stallMs)})`).join(', ')}; plain ${bursts.plain.map((b) => `${int(b.perSecond)} (${int(b.stallMs)})`).join(', ')}`,
    )

    const sizes = (kind: string) => bob.sizes.get(kind) ?? { body: [0], frame: [0] }
    const mlsSizes = sizes(MlsKind.message)
    const plainSizes = sizes('message')
    console.log(`\n3. Bytes per message (${BODY}-byte text; means):\n`)
    table(
      [
        'path',
        'event body B',
        'stamped event frame B',
        'WebSocket payload Ann sent B',
        'WebSocket payload Bob received B',
      ],
      [
        [
          'encrypted (`mls.message`)',
          ms(mean(mlsSizes.body)),
          ms(mean(mlsSizes.frame)),
          ms(med('mls', (b) => b.annSentPerMsg)),
          ms(med('mls', (b) => b.bobReceivedPerMsg)),
        ],
        [
          'plain (`message`)',
          ms(mean(plainSizes.body)),
          ms(mean(plainSizes.frame)),
          ms(med('plain', (b) => b.annSentPerMsg)),
          ms(med('plain', (b) => b.bobReceivedPerMsg)),
        ],
        [
          'encrypted / plain',
          ratio(mean(mlsSizes.body), mean(plainSizes.body)),
          ratio(mean(mlsSizes.frame), mean(plainSizes.frame)),
          ratio(
            med('mls', (b) => b.annSentPerMsg),
            med('plain', (b) => b.annSentPerMsg),
          ),
          ratio(
            med('mls', (b) => b.bobReceivedPerMsg),
            med('plain', (b) => b.bobReceivedPerMsg),
          ),
        ],
      ],
    )

    if (GROUP >= 2) {
      // Bob leaves: the group's fan-out and the plain baseline reach the same people.
      await leave(bob)
      people.splice(people.indexOf(bob), 1)
      const invitees: Person[] = []
      for (let i = 1; i < GROUP; i++) invitees.push(await enter(relay, `p${i}`))
      people.push(...invitees)
      for (const p of invitees) await keyPackageOn(ann, p)
      // Their catch-up of \`general\` (thousands of events by now) done, so it does not run below.
      for (const p of invitees) await caughtUp(p, ann)
      await ann.replica.settled()
      await sleep(500)

      // Baseline: one plain message from Ann until every invitee holds it (3 tries, the median).
      const fanOut: number[] = []
      for (let i = 0; i < 3; i++) {
        const text = textOf(`fanout-${i}`)
        const t = now()
        await send(ann, 'plain', '', text)
        fanOut.push(Math.max(...(await held(ann, invitees, 'plain', text))) - t)
      }
      const baseline = median(fanOut)

      const received0 = invitees.map((p) => p.wire.received)
      const sent0 = ann.wire.sent
      const c0 = now()
      const ch = await ann.conv.create(
        'private',
        invitees.map((p) => p.identity.publicKey),
      )
      const created = now() - c0
      // Not there after JOIN_WAIT_MS: Infinity (reported, not thrown).
      const within = (t: Promise<number>) => t.then((x) => x - c0).catch(() => Number.POSITIVE_INFINITY)
      const steps = await Promise.all(
        invitees.map(async (p) => {
          const [welcome, commit, joined] = await Promise.all([
            within(p.welcomed.when(ch, `${p.name} holding the Welcome of ${ch}`, JOIN_WAIT_MS)),
            within(commitHeld(p, ch, JOIN_WAIT_MS)),
            within(p.joined.when(ch, `${p.name} joining ${ch}`, JOIN_WAIT_MS)),
          ])
          return { p, welcome, commit, joined }
        }),
      )
      const fmt = (x: number) => (Number.isFinite(x) ? ms(x) : `> ${JOIN_WAIT_MS / 1000} s`)
      const spread = (f: (x: (typeof steps)[number]) => number) => {
        const xs = steps.map(f)
        return `${fmt(Math.min(...xs))} / ${fmt(median(xs))} / ${fmt(Math.max(...xs))}`
      }
      const allJoined = Math.max(...steps.map((x) => x.joined))
      const late = steps.filter((x) => x.commit > LATE_MS).length
      const missing = steps.filter((x) => !Number.isFinite(x.joined)).length
      const annSent = ann.wire.sent - sent0
      const inviteeReceived = mean(invitees.map((p, i) => p.wire.received - received0[i]!))
      const commit = (await ann.replica.open(ch).range({})).find((e) => e.kind === MlsKind.commit)
      const welcome = (await ann.replica.open(WELCOME_CHANNEL).range({})).find((e) => {
        if (e.kind !== MlsKind.welcome) return false
        try {
          return decodeWelcomeEnvelope(e.body).channel === ch
        } catch {
          return false
        }
      })
      console.log(
        `\n4. A private channel of ${GROUP} (Ann + ${GROUP - 1} invitees, all in this process; load ${load()}):\n`,
      )
      table(
        [
          'step (from the `conv.create` call)',
          'ms (first / median / last invitee)',
          'last vs one plain message to all of them',
        ],
        [
          ['`conv.create` returned (commit and Welcome stamped)', ms(created), ratio(created, baseline)],
          ['invitee’s replica holds the Welcome', spread((x) => x.welcome), ''],
          [
            'invitee’s replica holds the commit (peer catch-up: the relay keeps no history)',
            spread((x) => x.commit),
            '',
          ],
          [
            'invitee joined (Welcome processed, `conv.get(ch).member`)',
            spread((x) => x.joined),
            ratio(allJoined, baseline),
          ],
          ['baseline: one plain message, Ann → all invitees hold it (median of 3)', ms(baseline), '1.00x'],
        ],
      )
      console.log(
        `${late} of ${GROUP - 1} invitees held the commit only after ${LATE_MS / 1000} s (the peers asked when the channel opened did not hold it yet: anti-entropy brought it)${missing > 0 ? `; ${missing} had not joined after ${JOIN_WAIT_MS / 1000} s` : ''}`,
      )
      console.log('')
      table(
        ['bytes', 'B'],
        [
          ['commit (`mls.commit` event body)', int(commit?.body.length ?? Number.NaN)],
          [
            'Welcome (`mls.welcome` event body: envelope with the Welcome)',
            int(welcome?.body.length ?? Number.NaN),
          ],
          ['WebSocket payload Ann sent, create → all joined', int(annSent)],
          [
            'WebSocket payload each invitee received, create → all joined (mean; includes the fresh key packages the joiners publish)',
            int(inviteeReceived),
          ],
          ['plain message event body, for scale', int(BODY)],
        ],
      )

      await sleep(500)
      const members = steps.filter((x) => Number.isFinite(x.joined)).map((x) => x.p)
      await oneAtATime(ann, members, ch, 'gwarm', Math.min(WARMUP, 10))
      const group = await oneAtATime(ann, members, ch, 'group', GROUP_MESSAGES)
      console.log(
        `\nMessages to the group, one at a time until the last of the ${members.length} invitees in it holds it (${GROUP_MESSAGES} of each; load ${load()}):\n`,
      )
      latencyTable(group, `the last invitee's`)
    }
    const secs = (Date.now() - started.getTime()) / 1000
    console.log(`\ntotal ${secs.toFixed(0)} s, ${new Date().toISOString()}, load at the end ${load()}`)
  } finally {
    for (const p of people) await leave(p).catch(() => {})
    await relay.stop()
  }
}

await main()
process.exit(0)
