/**
 * Chooses the client behind the seam: the real network when the page is served by a relay
 * (its `/.well-known/peerchat.json` answers) or names one (`?relay=`), or when that relay is
 * unreachable but this browser joined its community before (it opens offline, from storage);
 * the simulation otherwise or when the URL says `?sim` (`?store=memory` keeps the real client's
 * history and outbox in memory only). Each is loaded with a dynamic import so neither costs
 * anything in the other's bundle.
 */
import { publicKeyToText, type Signer } from '@peerchat/engine'
import type { LinkSecret } from '@peerchat/transports/connect'
import {
  checkPin,
  communityUrl,
  type KeyValueStorage,
  RelayKeyChangedError,
  rememberCommunity,
  rememberedConfig,
} from './communities.ts'
import { configDocument, discoverRelay, type RelayConfig } from './relay-config.ts'
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

/** The relay a page talks to: the one serving it, else (a dev server) the one `?relay=` names. */
export interface FoundRelay {
  config: RelayConfig
  /** http(s) origin of the relay (the community's URL). */
  url: string
  /** The page is served by that relay (false: the Vite dev server with `?relay=`). */
  servedByRelay: boolean
  /** The relay did not answer: its configuration is the one remembered from the last visit. */
  remembered?: boolean
}

export async function findRelay(
  search: string,
  origin: string | undefined,
  storage: KeyValueStorage | undefined = globalThis.localStorage,
): Promise<FoundRelay | null> {
  const params = new URLSearchParams(search)
  if (params.has('sim') || !origin) return null
  const own = await discoverRelay(origin)
  const home = new URL(origin).origin
  if (own) return { config: own, url: home, servedByRelay: true }
  const named = communityUrl(params.get('relay') ?? '')
  const config = named ? await discoverRelay(named) : null
  if (config && named) return { config, url: named, servedByRelay: false }
  // Unreachable (down, or this device offline): a community joined before opens from storage.
  const url = named ?? home
  const remembered = rememberedConfig(storage, url)
  return remembered ? { config: remembered, url, servedByRelay: !named, remembered: true } : null
}

export async function createClient(
  signer: Signer,
  name: string,
  search = '',
  origin = globalThis.location?.origin,
  /** A claim or invite link read from the page's fragment (link.ts), for the first login. */
  link?: LinkSecret,
): Promise<ChatClient> {
  const params = new URLSearchParams(search)
  const found = await findRelay(search, origin)
  if (found) {
    const { config } = found
    // The key pinned at the first join must still be the relay's: a change is the user's call.
    const key = publicKeyToText(config.relayKey)
    const storage = globalThis.localStorage
    const pin = checkPin(storage, found.url, key)
    if (pin.status === 'changed') throw new RelayKeyChangedError(found.url, pin.pinned, key)
    rememberCommunity(storage, found.url, key, Date.now(), configDocument(config))
    // `?store=memory` keeps nothing on this device (and is the latency bench's comparison): the
    // client's defaults are memory stores, as when the browser refuses IndexedDB.
    const memory = params.get('store') === 'memory'
    const [{ RealClient }, store, outbox, blobStore, blobBudgetBytes] = await Promise.all([
      import('./real.ts'),
      memory ? undefined : inIndexedDb('history', (s) => s.openIndexedDbStore({ relayKey: config.relayKey })),
      memory
        ? undefined
        : inIndexedDb('unsent messages', (s) =>
            s.openIndexedDbOutbox({ relayKey: config.relayKey, author: signer.publicKey }),
          ),
      memory
        ? undefined
        : inIndexedDb('attachments', (s) => s.openIndexedDbBlobStore({ relayKey: config.relayKey })),
      blobBudget(),
    ])
    return new RealClient({
      signer,
      name,
      config,
      home: { url: found.url, servedByRelay: found.servedByRelay },
      ...(link ? { link } : {}),
      ...(store ? { store } : {}),
      ...(outbox ? { outbox } : {}),
      ...(blobStore ? { blobStore } : {}),
      ...(blobBudgetBytes ? { blobBudgetBytes } : {}),
    })
  }
  const { SimClient } = await import('./sim.ts')
  return SimClient.create({ signer, name, ...simOptionsFromUrl(search) })
}

/**
 * Opens one of the community's IndexedDB stores (the channel logs, so a reload shows history at
 * once; the outbox, so a message written offline is still sent after a reload; attachments, in
 * their own database). Undefined when the browser refuses IndexedDB (private modes, blocked
 * storage): the client keeps `what` in memory then.
 */
async function inIndexedDb<T>(
  what: string,
  open: (storage: typeof import('@peerchat/store-indexeddb')) => Promise<T>,
): Promise<T | undefined> {
  try {
    return await open(await import('@peerchat/store-indexeddb'))
  } catch (e) {
    console.warn(`IndexedDB unavailable, keeping ${what} in memory: ${(e as Error).message}`)
    return undefined
  }
}

/** Most of others' attachments kept on the device (default 512 MiB), within a third of the quota. */
export const BLOB_BUDGET_MAX = 512 * 1024 * 1024

async function blobBudget(): Promise<number | undefined> {
  try {
    const quota = (await navigator.storage?.estimate?.())?.quota
    return quota ? Math.max(32 * 1024 * 1024, Math.min(BLOB_BUDGET_MAX, Math.floor(quota / 3))) : undefined
  } catch {
    return undefined
  }
}
