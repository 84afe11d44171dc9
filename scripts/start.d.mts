/** Types of scripts/start.mjs (the `pnpm start` supervisor) for the TypeScript tests. */
export declare const ROOT: string
export declare const VIRTUAL_CLIENTS: number
export declare const STOP_GRACE_MS: number
export declare const VC_RESTART_MS: number
export declare const NODE_FLAGS: string[]
export declare const BUNDLES: { entry: string; out: string; external: string[] }[]
export declare function ensureBundles(log?: (message: string) => void): Promise<void>
export interface StartPlan {
  dataDir: string
  port: number
  relay: { script: string; args: string[] }
  virtualClients: { name: string; script: string; dataDir: string }[]
}
export declare function plan(env?: Record<string, string | undefined>): StartPlan
