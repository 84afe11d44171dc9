/**
 * Runs one printable scenario on the code that ships: one `Replica` per node (engine/src/replica)
 * on a `MemoryNetwork` and a `MemoryRelay`, with a `VirtualClock`. Nodes write through
 * `replica.write` (stamped by the relay while it is reachable, pending otherwise), crash and
 * restart from their persistent store and outbox, are partitioned from each other and from the
 * relay, lose, duplicate and reorder frames. Then the run recovers (relay and nodes back up),
 * heals, and only advances time: the replicas' own policy (catch-up on join and on relay
 * login, anti-entropy) must converge them. Shared by the convergence properties and
 * bench/convergence.ts.
 */
import {
  ChannelLog,
  encodeEvent,
  encodePeerFrame,
  encodeReconcileFrame,
  eventDigest,
  MemoryOutboxStore,
  MemoryStore,
  outboxKey,
  Protocol,
  protocolPort,
  ReconcileMode,
  Replica,
  type StampedEvent,
  type SyncPolicyOptions,
  toHex,
  ULID_MIN,
  utf8,
} from '@peerchat/engine'
import { asPeerId, type PeerId } from '@peerchat/transports'
import {
  type MemoryLivePort,
  MemoryNetwork,
  MemoryRelay,
  type MemoryTransport,
  SeededRandom,
  VirtualClock,
} from '@peerchat/transports/memory'
import { CHANNEL, type Pool, SIM_START, validlyStamped } from './fixtures.ts'

/** One step of a schedule. Node numbers are taken modulo the node count, so shrinking stays valid. */
export type Step =
  /** The node's application writes `count` events (skipped while the node is down). */
  | { op: 'write'; replica: number; count: number }
  /** The next `count` pre-stamped pool events enter the node's log directly (an import). */
  | { op: 'inject'; replica: number; count: number }
  | { op: 'wait'; ms: number }
  /** Nodes in different groups cannot reach each other; the relay is in group 0. */
  | { op: 'partition'; groups: number[] }
  | { op: 'heal' }
  /** The node's process dies: its replica stops, its store and outbox survive. */
  | { op: 'crash'; replica: number }
  /** A crashed node opens a new Replica over the same store and outbox. */
  | { op: 'restart'; replica: number }
  | { op: 'relayCrash' }
  | { op: 'relayRestart' }
  | { op: 'faults'; loss: number; duplicate: number; reorder: number }
  /** The application asks for a refresh (`replica.sync`). */
  | { op: 'sync'; replica: number }
  /** The hostile node (if any) sends garbage frames and pushes its forged events through reconciliation. */
  | { op: 'attack'; variant: number }

export interface Scenario {
  replicas: number
  /** Seed of the network's PRNG (latency, loss, duplication, reordering) and of the replicas' and relay's randomness. */
  seed: number
  latency: { min: number; max: number }
  /** Node i is a virtual client when `virtual[i]` (it stops initiating catch-ups once caught up). */
  virtual: boolean[]
  steps: Step[]
}

/** The group of a partition that still reaches the relay. */
export const RELAY_GROUP = 0
/** Relay one-way delay (ms). */
export const RELAY_LATENCY_MS = 5
/** After the relay and the crashed nodes come back, time left for live traffic before the network heals. */
export const RECOVER_MS = 1_000
/** Virtual time between two convergence checks after the heal. */
export const CHECK_EVERY_MS = 1_000
/** Virtual time the policy gets to converge the nodes after the heal (anti-entropy runs every ~60 s). */
export const CONVERGE_WITHIN_MS = 60 * 60_000
/** The kind of every write. */
export const KIND = 'message'

/** The protocol a node's mesh transport speaks: the Replica's Peer unless the bench swaps in its baseline. */
export type MeshAttach = (ctx: {
  node: Node
  replica: Replica
  transport: MemoryTransport
  sim: Sim
}) => () => void

export interface RunOptions {
  /** Node 0 is hostile: its store holds the pool's forged events; it attacks on `attack` steps. */
  hostile?: boolean
  /** Events per unit of a write or inject step's count (the bench publishes thousands). */
  scale?: number
  mesh?: MeshAttach
  sync?: Partial<SyncPolicyOptions>
  /** The recovery also ends duplication and reordering (the bench measures a clean repair). */
  clean?: boolean
}

/** Peer counters summed over a node's incarnations. */
export interface NodeStats {
  badFrames: number
  rejected: number
  fromPeers: number
}

export interface Node {
  index: number
  /** Its id on the network. */
  id: PeerId
  hostile: boolean
  virtual: boolean
  /** Persistent across crashes, like a disk. */
  store: MemoryStore
  outbox: MemoryOutboxStore
  random: SeededRandom
  /** Undefined while the node is down. */
  running?: { replica: Replica; transport: MemoryTransport; live: MemoryLivePort; detach: () => void }
  /** Every event any of its logs ever stored (content key -> event), across restarts. */
  everAdded: Map<string, StampedEvent>
  /** `outboxKey` of every write its application made. */
  written: Set<string>
  /** Counters of the incarnations that crashed. */
  past: NodeStats
}

export interface Sim {
  scenario: Scenario
  pool: Pool
  options: RunOptions
  clock: VirtualClock
  network: MemoryNetwork
  relay: MemoryRelay
  /** Every event the relay delivered (content key -> event), seen by a client that is never cut. */
  stamped: Map<string, StampedEvent>
  injected: StampedEvent[]
  /** Next pool event to inject. */
  cursor: number
  nodes: Node[]
  /** Nodes whose link to the relay is cut by the current partition. */
  cut: Set<number>
}

export const contentKey = (e: StampedEvent): string => `${e.id}:${toHex(eventDigest(e))}`

const peerMesh: MeshAttach = ({ replica, transport }) => replica.attach(transport)

/** Starts a node: a Replica over its store and outbox, its mesh transport and its relay link. */
async function boot(sim: Sim, node: Node): Promise<void> {
  const replica = await Replica.open({
    store: node.store,
    outbox: node.outbox,
    relayKeys: [sim.pool.relayKey],
    signer: sim.pool.writers[node.index]!,
    clock: sim.clock,
    random: () => node.random.next(),
    virtual: node.virtual,
    peer: { backend: sim.pool.backend },
    ...(sim.options.sync ? { sync: sim.options.sync } : {}),
  })
  // Kept on this log object even after a crash: an add still in flight then is recorded too.
  replica.open(CHANNEL).onAdded((events) => {
    for (const e of events) node.everAdded.set(contentKey(e), e)
  })
  const transport = sim.network.transport(node.id, { info: { kind: node.virtual ? 'virtual' : 'client' } })
  const detach = (sim.options.mesh ?? peerMesh)({ node, replica, transport, sim })
  const live = sim.relay.client()
  if (sim.cut.has(node.index)) live.setLink(false)
  replica.connect(live)
  node.running = { replica, transport, live, detach }
  await transport.start()
}

/** The node's process dies: nothing of it runs any more; its store and outbox stay. */
async function crash(node: Node): Promise<void> {
  const r = node.running
  if (!r) return
  node.running = undefined
  const s = r.replica.peer.stats
  node.past.badFrames += s.badFrames
  node.past.rejected += s.rejected
  node.past.fromPeers += s.fromPeers
  r.detach()
  r.live.close()
  await r.replica.stop()
  await r.transport.stop()
}

export function nodeStats(node: Node): NodeStats {
  const s = node.running?.replica.peer.stats
  return {
    badFrames: node.past.badFrames + (s?.badFrames ?? 0),
    rejected: node.past.rejected + (s?.rejected ?? 0),
    fromPeers: node.past.fromPeers + (s?.fromPeers ?? 0),
  }
}

export async function createSim(scenario: Scenario, pool: Pool, options: RunOptions = {}): Promise<Sim> {
  const clock = new VirtualClock(SIM_START)
  const network = new MemoryNetwork({ seed: scenario.seed, clock, link: { latency: scenario.latency } })
  const relayRandom = new SeededRandom(scenario.seed ^ 0x5e1a7)
  const relay = new MemoryRelay({
    signer: pool.relay,
    clock,
    latencyMs: RELAY_LATENCY_MS,
    random: () => relayRandom.next(),
    backend: pool.backend,
  })
  const sim: Sim = {
    scenario,
    pool,
    options,
    clock,
    network,
    relay,
    stamped: new Map(),
    injected: [],
    cursor: 0,
    nodes: [],
    cut: new Set(),
  }
  const observer = relay.client()
  observer.join(CHANNEL)
  observer.on('event', (e) => sim.stamped.set(contentKey(e), e))
  for (let i = 0; i < scenario.replicas; i++) {
    const hostile = options.hostile === true && i === 0
    const store = new MemoryStore()
    if (hostile)
      await store.putMany(
        CHANNEL,
        pool.hostile
          .filter((h) => h.event.channel === CHANNEL)
          .map((h) => ({ event: h.event, digest: eventDigest(h.event) })),
      )
    sim.nodes.push({
      index: i,
      id: asPeerId(`r${i}`),
      hostile,
      virtual: scenario.virtual[i] === true,
      store,
      outbox: new MemoryOutboxStore(),
      random: new SeededRandom(scenario.seed + 1 + i),
      everAdded: new Map(),
      written: new Set(),
      past: { badFrames: 0, rejected: 0, fromPeers: 0 },
    })
  }
  for (const node of sim.nodes) await boot(sim, node)
  return sim
}

/** The node a write or an import lands on: the hostile node's go to node 1 (they test honest data). */
function author(sim: Sim, index: number): Node {
  const node = sim.nodes[index % sim.nodes.length]!
  return node.hostile ? sim.nodes[1]! : node
}

/** Garbage the hostile node sends as sync-protocol frames: shapes a decoder and a session must survive. */
function garbageFrames(sim: Sim, variant: number): Uint8Array[] {
  const forged = sim.pool.hostile.map((h) => encodeEvent(h.event))
  return [
    Uint8Array.of(9, 1),
    Uint8Array.of(1, 99, 0),
    Uint8Array.of(1, 1, 200),
    new Uint8Array(0),
    encodePeerFrame({
      type: 'reconcile',
      session: 1_000 + variant,
      fromInitiator: true,
      channel: CHANNEL,
      payload: Uint8Array.of(1, 0, variant & 0xff),
    }),
    // A session opened with a frame that skips the whole range and carries every forgery.
    encodePeerFrame({
      type: 'reconcile',
      session: 2_000 + variant,
      fromInitiator: true,
      channel: CHANNEL,
      payload: encodeReconcileFrame({
        more: false,
        lower: ULID_MIN,
        ranges: [{ upper: null, mode: ReconcileMode.skip }],
        events: forged,
      }),
    }),
    encodePeerFrame({
      type: 'reconcile',
      session: variant,
      fromInitiator: false,
      channel: CHANNEL,
      payload: Uint8Array.of(1),
    }),
    encodePeerFrame({ type: 'end', session: variant, channel: CHANNEL }),
    encodePeerFrame({ type: 'busy', session: variant, channel: CHANNEL }),
    encodePeerFrame({ type: 'pong', n: variant }),
  ]
}

/** Raw bytes outside any protocol id (a mesh port drops them before any consumer sees them). */
const rawGarbage = (variant: number): Uint8Array[] => [
  Uint8Array.of(0x50, 200, 1),
  Uint8Array.of(1, 1, variant & 0xff),
]

async function attack(sim: Sim, variant: number): Promise<void> {
  const h = sim.nodes.find((n) => n.hostile)?.running
  if (!h) return
  const sync = protocolPort(h.transport, Protocol.sync)
  for (const peer of [...h.transport.peers().keys()]) {
    for (const frame of garbageFrames(sim, variant)) sync.send(peer, frame)
    for (const frame of rawGarbage(variant)) h.transport.send(peer, frame)
  }
  // Its store's forgeries, offered through the shipped protocol to everyone it reaches.
  for (const c of h.replica.peer.candidates())
    void h.replica.peer.sync(CHANNEL, { peer: { port: c.port, peer: c.peer } })
}

function setCut(sim: Sim, cut: Set<number>): void {
  sim.cut = cut
  for (const node of sim.nodes) node.running?.live.setLink(!cut.has(node.index))
}

export async function runStep(sim: Sim, step: Step): Promise<void> {
  const { network, clock, nodes } = sim
  const n = nodes.length
  const scale = sim.options.scale ?? 1
  switch (step.op) {
    case 'write': {
      const node = author(sim, step.replica)
      const r = node.running
      if (!r) break
      for (let i = 0; i < step.count * scale; i++) {
        const w = await r.replica.write(CHANNEL, KIND, utf8(`${node.id} ${node.written.size}`))
        node.written.add(w.key)
      }
      break
    }
    case 'inject': {
      const r = author(sim, step.replica).running
      if (!r) break
      const take = sim.pool.events.slice(sim.cursor, sim.cursor + step.count * scale)
      sim.cursor += take.length
      sim.injected.push(...take)
      if (take.length > 0) await r.replica.open(CHANNEL).add(take)
      break
    }
    case 'wait':
      await clock.advance(step.ms)
      break
    case 'partition': {
      const groups = new Map<number, PeerId[]>()
      const cut = new Set<number>()
      for (let i = 0; i < n; i++) {
        const g = step.groups[i] ?? RELAY_GROUP
        groups.set(g, [...(groups.get(g) ?? []), nodes[i]!.id])
        if (g !== RELAY_GROUP) cut.add(i)
      }
      network.partition([...groups.values()])
      setCut(sim, cut)
      break
    }
    case 'heal':
      network.heal()
      setCut(sim, new Set())
      break
    case 'crash':
      await crash(nodes[step.replica % n]!)
      break
    case 'restart': {
      const node = nodes[step.replica % n]!
      if (!node.running) await boot(sim, node)
      break
    }
    case 'relayCrash':
      sim.relay.crash()
      break
    case 'relayRestart':
      if (!sim.relay.online) sim.relay.restart()
      break
    case 'faults':
      network.configure({ loss: step.loss, duplicate: step.duplicate, reorder: step.reorder })
      break
    case 'sync':
      // Not awaited: the session needs the clock to move. It never rejects.
      void nodes[step.replica % n]!.running?.replica.sync(CHANNEL)
      break
    case 'attack':
      await attack(sim, step.variant)
      break
  }
}

export async function runSteps(sim: Sim, steps: readonly Step[]): Promise<void> {
  for (const step of steps) await runStep(sim, step)
}

/**
 * Everything comes back up, but the nodes stay partitioned: the relay restarts, crashed nodes
 * reopen from their stores, loss ends (and duplication and reordering with `clean`), and live
 * traffic lands for `RECOVER_MS`.
 */
export async function recover(sim: Sim): Promise<void> {
  if (!sim.relay.online) sim.relay.restart()
  sim.network.configure({ loss: 0, ...(sim.options.clean ? { duplicate: 0, reorder: 0 } : {}) })
  for (const node of sim.nodes) if (!node.running) await boot(sim, node)
  await sim.clock.advance(RECOVER_MS)
}

/** Ends the partitions, between nodes and towards the relay. */
export function heal(sim: Sim): void {
  sim.network.heal()
  setCut(sim, new Set())
}

export const honest = (sim: Sim): Node[] => sim.nodes.filter((n) => !n.hostile)

export function logOf(node: Node): ChannelLog {
  const r = node.running
  if (!r) throw new Error(`node ${node.id} is down`)
  return r.replica.open(CHANNEL)
}

/** Every honest node is up, holds the same set, and has no write left unstamped. */
export async function converged(sim: Sim): Promise<boolean> {
  const nodes = honest(sim)
  if (nodes.some((n) => !n.running || n.running.replica.writes().length > 0)) return false
  const prints = await Promise.all(nodes.map((n) => logOf(n).fingerprint({})))
  const hex = prints.map((p) => `${p.count}:${toHex(p.hash)}`)
  return hex.every((h) => h === hex[0])
}

/** Advances time until the nodes converge (checked every `CHECK_EVERY_MS`); the virtual ms it took. */
export async function converge(sim: Sim, withinMs = CONVERGE_WITHIN_MS): Promise<number> {
  const start = sim.clock.now()
  while (!(await converged(sim)) && sim.clock.now() - start < withinMs)
    await sim.clock.advance(CHECK_EVERY_MS)
  return sim.clock.now() - start
}

/** The properties' run: schedule, recovery, heal, then time alone converges the nodes. */
export async function runScenario(scenario: Scenario, pool: Pool, options: RunOptions = {}): Promise<Sim> {
  const sim = await createSim(scenario, pool, options)
  await runSteps(sim, scenario.steps)
  await recover(sim)
  heal(sim)
  await converge(sim)
  return sim
}

export interface Snapshot {
  count: number
  /** `id:digest` of every event, in id order. */
  contents: string[]
}

export async function snapshot(log: ChannelLog): Promise<Snapshot> {
  const events = await log.range({})
  return { count: events.length, contents: events.map(contentKey) }
}

/**
 * Every event an honest node ever stored. Not the relay's output: a stamp delivered to no node
 * (its author cut off or crashed in between) is lost, and the retry stamped again.
 */
export function everStored(sim: Sim): StampedEvent[] {
  const all = new Map<string, StampedEvent>()
  for (const node of honest(sim)) for (const [k, e] of node.everAdded) all.set(k, e)
  return [...all.values()]
}

/** What the honest nodes must hold: `everStored` added to a fresh log (a twin's smaller id wins). */
export async function expectedState(sim: Sim): Promise<Snapshot> {
  const log = new ChannelLog({
    channel: CHANNEL,
    store: new MemoryStore(),
    relayKeys: [sim.pool.relayKey],
    backend: sim.pool.backend,
  })
  await log.add(everStored(sim))
  return snapshot(log)
}

/** Items a problem names before it only counts the rest. */
const MAX_LISTED = 5
const list = (items: string[]) =>
  `${items.slice(0, MAX_LISTED).join(', ')}${items.length > MAX_LISTED ? `, ... (${items.length})` : ''}`
/** The id of a content key. */
const ids = (keys: string[]) => keys.map((k) => k.slice(0, k.indexOf(':')))

/**
 * What is wrong with the outcome (empty when the run is correct): every honest node holds the
 * expected set; nothing the relay did not stamp (in this run, or the pool's validly stamped
 * forgery) nor the run inject ever entered an honest log;
 * every write was stamped and is held; honest nodes never sent each other unparsable frames.
 */
export async function problems(sim: Sim): Promise<string[]> {
  const out: string[] = []
  const expected = await expectedState(sim)
  const legit = new Set([
    ...sim.stamped.keys(),
    ...sim.injected.map(contentKey),
    ...sim.pool.hostile.filter(validlyStamped).map((h) => contentKey(h.event)),
  ])
  const held = new Set(expected.contents)
  const nonces = new Set<string>()
  for (const node of honest(sim))
    for (const e of node.everAdded.values())
      if (held.has(contentKey(e))) nonces.add(outboxKey(e.author, e.clientNonce))
  for (const node of honest(sim)) {
    const r = node.running
    if (!r) {
      out.push(`${node.id} is down`)
      continue
    }
    const s = await snapshot(logOf(node))
    if (s.contents.join() !== expected.contents.join()) {
      const mine = new Set(s.contents)
      const lacks = expected.contents.filter((k) => !mine.has(k))
      const extra = s.contents.filter((k) => !held.has(k))
      out.push(
        `${node.id} holds ${s.count} of ${expected.count}: lacks ${list(ids(lacks))}; extra ${list(ids(extra))}`,
      )
    }
    const unstamped = r.replica.writes()
    if (unstamped.length > 0)
      out.push(
        `${node.id} has ${unstamped.length} writes not stamped (${list(unstamped.map((w) => w.state))})`,
      )
    const lost = [...node.written].filter((k) => !nonces.has(k))
    if (lost.length > 0)
      out.push(`${node.id} wrote ${lost.length} events no honest node holds: ${list(lost)}`)
    const forged = [...node.everAdded.keys()].filter((k) => !legit.has(k))
    if (forged.length > 0) out.push(`${node.id} stored events nobody stamped: ${list(ids(forged))}`)
    if (!sim.options.hostile && nodeStats(node).badFrames > 0)
      out.push(`${node.id} received ${nodeStats(node).badFrames} unparsable frames from honest peers`)
  }
  if (sim.relay.stats.refused > 0) out.push(`the relay refused ${sim.relay.stats.refused} honest writes`)
  return out
}

/** A replayable trace of a run (ids, not digests: clientNonces are random). */
export async function trace(sim: Sim): Promise<string> {
  const logs = await Promise.all(
    sim.nodes.map(async (n) => (n.running ? (await logOf(n).range({})).map((e) => e.id) : [])),
  )
  return JSON.stringify({ now: sim.clock.now(), network: sim.network.stats, relay: sim.relay.stats, logs })
}
