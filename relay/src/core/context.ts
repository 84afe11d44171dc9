/**
 * What the relay-protocol core and the signaling core share: the relay key, limits, policy,
 * channel list, rate limiters, clock, metrics and log. Built once per relay.
 */
import { monotonicUlid, type Signer, type Ulid } from '@peerchat/engine'
import { type RelayLimits, resolveLimits } from '../limits.ts'
import { type Logger, silentLogger } from '../log.ts'
import { Metrics } from '../metrics.ts'
import { Checkpointer } from './checkpointer.ts'
import { IdempotencyCache } from './idempotency.ts'
import { ChannelRegistry, DEFAULT_POLICY, Policy, type PolicyOptions } from './policy.ts'
import { OpenSessions } from './sessions.ts'
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
  eventLimiter: RateLimiter
  frameLimiter: RateLimiter
  /** Bytes a session forwards to peers (the WebRTC fallback's budget), keyed by session id. */
  forwardLimiter: RateLimiter
  signalLimiter: RateLimiter
  /** Login sessions open on the relay path: a signaling token admits only while its session is open. */
  sessions: OpenSessions
  metrics: Metrics
  log: Logger
}

export function createContext(o: ContextOptions): RelayContext {
  const limits = resolveLimits(o.limits)
  const now = o.now ?? Date.now
  const maxKeys = limits.rateLimiterEntries
  const nextId = monotonicUlid(now)
  return {
    relay: o.relay,
    limits,
    policy: new Policy({ ...DEFAULT_POLICY, ...o.policy }),
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
    metrics: new Metrics(),
    log: o.log ?? silentLogger,
  }
}
