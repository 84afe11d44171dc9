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
   * Public ws(s):// base URLs of every node of this community (relays with this relay key and
   * shared state), published in the well-known JSON (`nodeUrls`) for clients to fail over
   * between. Empty (default): this node only.
   */
  nodeUrls?: string[]
  /**
   * State directory: admin events are kept in `dataDir/admin.log` (admin-log.ts). Absent (and no
   * `adminLog`): admin events live in memory only, for tests.
   */
  dataDir?: string | null
  /**
   * Redis URL: the node joins the cluster of every node with the same relay key on that Redis
   * (cluster/redis-cluster.ts). Absent: one node alone.
   */
  redisUrl?: string | null
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
