/** Types of scripts/start.mjs (the `pnpm start` supervisor) for the TypeScript tests. */
export declare const ROOT: string
export declare const VIRTUAL_CLIENTS: number
export declare const STOP_GRACE_MS: number
export declare const VC_RESTART_MS: number
export declare const NODE_FLAGS: string[]
export declare const VC_HOST_NODE_FLAGS: string[]
export declare const BUNDLES: {
  entry: string
  out: string
  external: string[]
  define?: Record<string, string>
}[]
export declare function ensureBundles(log?: (message: string) => void): Promise<void>
export interface StartPlan {
  dataDir: string
  port: number
  relay: { script: string; args: string[] }
  virtualClients: { name: string; dataDir: string }[]
  vcHost: { script: string }
}
export declare function plan(env?: Record<string, string | undefined>): StartPlan
export declare function vcHostArgs(p: StartPlan, relayUrl: string, relayKey: string): string[]
