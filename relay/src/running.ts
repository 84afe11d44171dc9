/**
 * What both shells do once they listen: sweep the cores on a timer, log, and hand out a
 * `RunningRelay` whose `stop` closes every socket, then the server, then the metrics, once.
 */
import type { RelayContext } from './core/context.ts'
import type { RunningRelay } from './options.ts'

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
    stop() {
      stopped ??= (async () => {
        clearInterval(sweep)
        for (const c of cores) c.closeAll()
        await closeServer()
        ctx.metrics.stop()
      })()
      return stopped
    },
  }
}
