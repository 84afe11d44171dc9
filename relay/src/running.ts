/**
 * What both shells do once they listen: sweep the cores on a timer, log, and hand out a
 * `RunningRelay` whose `stop` closes every socket, then the server, then the metrics, once.
 */
import { FileAdminLog } from './admin-log.ts'
import { type ContextOptions, createContext, type RelayContext } from './core/context.ts'
import type { Logger } from './log.ts'
import type { RelayOptions, RunningRelay } from './options.ts'

/** The context both shells run on: the options, the log, and the admin log of `dataDir`. */
export function relayContext(o: RelayOptions & Pick<ContextOptions, 'adminLog'>, log: Logger): RelayContext {
  const adminLog = o.adminLog ?? (o.dataDir ? FileAdminLog.open(o.dataDir, log) : undefined)
  const ctx = createContext({ ...o, log, ...(adminLog ? { adminLog } : {}) })
  if (adminLog)
    log('relay.admin_log', {
      events: adminLog.events.length,
      owner: ctx.admin.state.owner === undefined ? 'none' : 'claimed',
      access: ctx.admin.access(ctx.now()),
    })
  return ctx
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
        ctx.metrics.stop()
        ctx.adminLog?.close()
      })()
      return stopped
    },
  }
}
