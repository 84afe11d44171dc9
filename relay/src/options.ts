/** Everything a relay is started with (the CLI builds this from flags and environment). */
import type { Signer } from '@peerchat/engine'
import type { ContextOptions } from './core/context.ts'
import type { Logger } from './log.ts'

export interface RelayOptions extends Omit<ContextOptions, 'log'> {
  relay: Signer
  host?: string
  /** 0 picks a free port. */
  port?: number
  /** Directory of the built web app (ui-vue/dist); served at / when it exists. */
  staticDir?: string | null
  /** Browser origins allowed to open sockets (Origin header). Empty: any origin. */
  allowedOrigins?: string[]
  /** Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Host are believed. */
  trustedProxies?: string[]
  /** ICE servers published in the well-known JSON for WebRTC clients. */
  iceServers?: unknown[]
  /**
   * State directory: admin events are kept in `dataDir/admin.log` (admin-log.ts). Absent (and no
   * `adminLog`): admin events live in memory only, for tests.
   */
  dataDir?: string | null
  log?: Logger
}

export interface RunningRelay {
  readonly port: number
  readonly host: string
  /** ws://host:port */
  readonly url: string
  readonly relayKey: Uint8Array
  /**
   * The one-time claim code while the community has no owner (a login with it may publish
   * `admin.claim`); null once claimed. Shown once, in the CLI's claim-link line.
   */
  readonly claimCode: Uint8Array | null
  /** Closes every socket and the listener; idempotent. */
  stop(): Promise<void>
}

export const RELAY_PATH = '/relay'
export const SIGNAL_PATH = '/signal'
