/**
 * Chooses the client behind the seam. Only the simulated network exists so far; the relay
 * client (transports + sync + IndexedDB) plugs in here, loaded with a dynamic import so the
 * simulation costs nothing in its bundle and vice versa.
 */
import type { Signer } from '@peerchat/engine'
import type { SimOptions } from './sim.ts'
import type { ChatClient } from './types.ts'

/** Most messages a simulated channel may be seeded with (default 200,000: ~20 s of signing). */
export const SIM_HISTORY_MAX = 200_000
/** Most simulated peers (default 64). */
export const SIM_PEERS_MAX = 64

/** Simulation knobs from the page URL, e.g. `?history=10000&peers=3&activity=0&seed=7`. */
export function simOptionsFromUrl(search: string): Omit<SimOptions, 'signer' | 'name'> {
  const params = new URLSearchParams(search)
  const num = (key: string, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const v = params.get(key)
    if (v === null || v === '') return undefined
    const n = Number(v)
    return Number.isFinite(n) && n >= 0 ? Math.min(Math.floor(n), max) : undefined
  }
  return {
    history: num('history', SIM_HISTORY_MAX),
    otherHistory: num('otherHistory', SIM_HISTORY_MAX),
    peers: num('peers', SIM_PEERS_MAX),
    localHistory: num('local', SIM_HISTORY_MAX),
    peerDelayMs: num('peerDelay', 10_000),
    seed: num('seed'),
    latencyMs: num('latency'),
    activityMs: num('activity'),
  }
}

export async function createClient(signer: Signer, name: string, search = ''): Promise<ChatClient> {
  const { SimClient } = await import('./sim.ts')
  return SimClient.create({ signer, name, ...simOptionsFromUrl(search) })
}
