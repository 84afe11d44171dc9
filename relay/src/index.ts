export { createContext, type RelayContext } from './core/context.ts'
export { IdempotencyCache } from './core/idempotency.ts'
export { checkLogin, newChallenge } from './core/login.ts'
export { ChannelRegistry, DEFAULT_POLICY, Policy, type PolicyOptions } from './core/policy.ts'
export { type Conn, RelayCloseCode, RelayCore, type RelayIo, Topics } from './core/relay-core.ts'
export { SignalCloseCode, type SignalIo, SignalingCore } from './core/signaling.ts'
export { type StampOutcome, stampRequest } from './core/stamper.ts'
export { RateLimiter } from './core/token-bucket.ts'
export { DEFAULT_LIMITS, type RelayLimits, resolveLimits } from './limits.ts'
export { type Logger, silentLogger } from './log.ts'
export { RELAY_PATH, type RelayOptions, type RunningRelay, SIGNAL_PATH } from './options.ts'
export { startUwsRelay } from './shell-uws.ts'
export { startWsRelay } from './shell-ws.ts'

import type { RelayOptions, RunningRelay } from './options.ts'
import { startUwsRelay } from './shell-uws.ts'
import { startWsRelay } from './shell-ws.ts'

export type Shell = 'uws' | 'ws'

/** Starts a relay on the chosen WebSocket library (uWS by default; ws is the baseline). */
export function startRelay(o: RelayOptions & { shell?: Shell }): Promise<RunningRelay> {
  return o.shell === 'ws' ? startWsRelay(o) : startUwsRelay(o)
}
