/**
 * What the relay-protocol core and the signaling core share: the relay key, limits, policy,
 * channel list, rate limiters, clock, metrics and log. Built once per relay.
 */
import {
  monotonicUlid,
  type Signer,
  type StampedEvent,
  type Ulid,
  verifyAuthor,
  verifyRelayStamp,
} from '@peerchat/engine'
import type { Cluster } from '../cluster/cluster.ts'
import { type RelayLimits, resolveLimits } from '../limits.ts'
import { type Logger, silentLogger } from '../log.ts'
import { Metrics } from '../metrics.ts'
import { AdminGate, type StoredAdminEvent } from './admin-state.ts'
import { Checkpointer } from './checkpointer.ts'
import { IdempotencyCache } from './idempotency.ts'
import { ChannelRegistry, DEFAULT_POLICY, Policy, type PolicyOptions } from './policy.ts'
import { OpenSessions } from './sessions.ts'
import { StampBatcher } from './stamp-batcher.ts'
import { RateLimiter } from './token-bucket.ts'

export interface ContextOptions {
  relay: Signer
  limits?: Partial<RelayLimits>
  policy?: Partial<PolicyOptions>
  /** Channels that exist from the start. Default: ["general"]. */
  channels?: string[]
  /** y-webrtc room every member may use besides the channel rooms. Default: "community". */
  communityRoom?: string
  now?: () => number
  log?: Logger
  /** Where admin events are kept (admin-log.ts); absent: in memory only (lost at stop). */
  adminLog?: AdminLogStore
  /** The claim code's source (tests); default 32 random bytes. */
  newClaimCode?: () => Uint8Array
  /** The other nodes of the community (cluster/redis-cluster.ts); absent: this node is alone. */
  cluster?: Cluster | null
}

/** The admin log's IO: what it held at start, and an append that is durable when it returns. */
export interface AdminLogStore {
  readonly events: readonly StoredAdminEvent[]
  /** Appends one stamped admin event's bytes; throws on an IO error. */
  append(bytes: Uint8Array): void
  close(): void
}

export interface RelayContext {
  relay: Signer
  limits: RelayLimits
  policy: Policy
  channels: ChannelRegistry
  communityRoom: string
  now: () => number
  nextId: () => Ulid
  /** Per-channel checkpoint windows (limits `checkpointEvery`, `checkpointIdleMs`, `checkpointMinEvents`). */
  checkpoints: Checkpointer
  cache: IdempotencyCache
  /** Signs stamps, in batches of one event-loop turn (limit `stampBatchMax`). */
  stamps: StampBatcher
  eventLimiter: RateLimiter
  frameLimiter: RateLimiter
  /** Bytes a session forwards to peers (the WebRTC fallback's budget), keyed by session id. */
  forwardLimiter: RateLimiter
  signalLimiter: RateLimiter
  /** Login sessions open on the relay path: a signaling token admits only while its session is open. */
  sessions: OpenSessions
  /** The community's admin state, claim code and invite reservations (admin-state.ts). */
  admin: AdminGate
  adminLog: AdminLogStore | null
  /** The other nodes of the community; null when this node is alone. */
  cluster: Cluster | null
  metrics: Metrics
  log: Logger
}

export function createContext(o: ContextOptions): RelayContext {
  const cluster = o.cluster ?? null
  // A checkpoint says "this relay stamped exactly these events": one node of several cannot
  // (docs/protocol/cluster.md, "Checkpoints").
  const limits = resolveLimits(cluster ? { ...o.limits, checkpointEvery: 0 } : o.limits)
  const now = o.now ?? Date.now
  const maxKeys = limits.rateLimiterEntries
  const nextId = monotonicUlid(now)
  const log = o.log ?? silentLogger
  const policy = new Policy({ ...DEFAULT_POLICY, ...o.policy })
  const admin = new AdminGate({
    policy,
    access: policy.options.access,
    events: o.adminLog?.events ?? [],
    maxLogBytes: limits.maxAdminLogBytes,
    maxPending: limits.adminRequestsPending,
    ...(o.newClaimCode ? { newClaimCode: o.newClaimCode } : {}),
    // An admin event is on disk before it takes effect or is fanned out.
    ...(o.adminLog ? { persist: (bytes: Uint8Array) => o.adminLog!.append(bytes) } : {}),
    ...(cluster
      ? {
          shared: {
            read: (from: number) => cluster.adminRead(from),
            append: (expected: number, bytes: Uint8Array) => cluster.adminAppend(expected, bytes),
          },
          warn: log,
          verify: async (e: StampedEvent) =>
            (await verifyRelayStamp(e, o.relay.publicKey)) && (await verifyAuthor(e)),
        }
      : {}),
  })
  return {
    relay: o.relay,
    limits,
    policy,
    channels: new ChannelRegistry(o.channels ?? ['general'], limits.maxChannels),
    communityRoom: o.communityRoom ?? 'community',
    now,
    nextId,
    checkpoints: new Checkpointer({
      relay: o.relay,
      nextId,
      now,
      every: limits.checkpointEvery,
      idleMs: limits.checkpointIdleMs,
      minEvents: limits.checkpointMinEvents,
    }),
    cache: new IdempotencyCache(limits.idempotencyEntries, limits.idempotencyTtlMs, now),
    stamps: new StampBatcher({ relay: o.relay, maxBatch: limits.stampBatchMax }),
    eventLimiter: new RateLimiter(limits.eventsPerSecondPerKey, limits.eventBurstPerKey, maxKeys, now),
    forwardLimiter: new RateLimiter(limits.forwardBytesPerSecond, limits.forwardBurstBytes, maxKeys, now),
    frameLimiter: new RateLimiter(
      limits.framesPerSecondPerAddress,
      limits.frameBurstPerAddress,
      maxKeys,
      now,
    ),
    signalLimiter: new RateLimiter(limits.signalsPerSecondPerKey, limits.signalBurstPerKey, maxKeys, now),
    sessions: new OpenSessions(),
    admin,
    adminLog: o.adminLog ?? null,
    cluster,
    metrics: new Metrics(),
    log,
  }
}
