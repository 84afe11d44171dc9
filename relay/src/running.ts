/**
 * What both shells do once they listen: sweep the cores on a timer, log, and hand out a
 * `RunningRelay` whose `stop` closes every socket, then the server, then the metrics, once.
 */
import { FileAdminLog } from './admin-log.ts'
import { RedisCluster } from './cluster/redis-cluster.ts'
import { type ContextOptions, createContext, type RelayContext } from './core/context.ts'
import { resolveLimits } from './limits.ts'
import type { Logger } from './log.ts'
import type { RelayOptions, RunningRelay } from './options.ts'

/**
 * The context both shells run on: the options, the log, the admin log of `dataDir` and, with
 * `redisUrl`, the cluster (connecting: `startCluster` waits for it).
 */
export function relayContext(o: RelayOptions & Pick<ContextOptions, 'adminLog'>, log: Logger): RelayContext {
  const adminLog = o.adminLog ?? (o.dataDir ? FileAdminLog.open(o.dataDir, log) : undefined)
  const limits = resolveLimits(o.limits)
  const cluster = o.redisUrl
    ? new RedisCluster({
        url: o.redisUrl,
        relayKey: o.relay.publicKey,
        channels: o.channels ?? ['general'],
        idempotencyTtlMs: limits.idempotencyTtlMs,
        // The budget one node gives a key, for all nodes together.
        eventsPerSecond: limits.eventsPerSecondPerKey,
        eventBurst: limits.eventBurstPerKey,
        log,
      })
    : null
  const ctx = createContext({ ...o, log, cluster, ...(adminLog ? { adminLog } : {}) })
  if (adminLog)
    log('relay.admin_log', {
      events: adminLog.events.length,
      owner: ctx.admin.state.owner === undefined ? 'none' : 'claimed',
      access: ctx.admin.access(ctx.now()),
    })
  return ctx
}

/** Connects the cluster, if any, before the node listens (it goes on alone when Redis is down). */
export async function startCluster(ctx: RelayContext): Promise<void> {
  if (!(ctx.cluster instanceof RedisCluster)) return
  await ctx.cluster.start()
  ctx.log('relay.cluster', { node: ctx.cluster.node, redis: ctx.cluster.connected ? 'up' : 'down' })
}

// Often enough that a flooded socket is closed with a reason before the hard backpressure cap.
const SWEEP_MS = 250

interface Sweepable {
  sweep(): void
  closeAll(): void
}

export function runningRelay(
  ctx: RelayContext,
  cores: Sweepable[],
  at: { host: string; port: number; shell: 'uws' | 'ws' },
  /** Closes the listener and whatever the library still holds (after every socket was ended). */
  closeServer: () => Promise<void> | void,
): RunningRelay {
  const sweep = setInterval(() => {
    for (const c of cores) c.sweep()
  }, SWEEP_MS)
  sweep.unref()
  let stopped: Promise<void> | null = null
  ctx.log('relay.listening', at)
  return {
    port: at.port,
    host: at.host,
    url: `ws://${at.host}:${at.port}`,
    relayKey: ctx.relay.publicKey,
    get claimCode() {
      return ctx.admin.claimCode
    },
    stop() {
      stopped ??= (async () => {
        clearInterval(sweep)
        for (const c of cores) c.closeAll()
        await closeServer()
        await ctx.cluster?.close()
        ctx.metrics.stop()
        ctx.adminLog?.close()
      })()
      return stopped
    },
  }
}
