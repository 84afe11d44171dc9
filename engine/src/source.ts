/**
 * Where events entering a log came from. The log tags every add with it, so applications show
 * provenance ("from peer … over webrtc") without inferring it.
 */
export type Source =
  /** Replayed from this device's store. */
  | { via: 'store' }
  /** Live from the relay (this replica's own writes come back this way, stamped). */
  | { via: 'relay' }
  /** Reconciled from a peer: its key (text) when attested, else its id on the link. */
  | { via: 'peer'; peer: string; link: string; kind: 'client' | 'virtual' | 'unknown' }
  /** Added by the application itself (an import, a test). */
  | { via: 'local' }

export const LOCAL: Source = Object.freeze({ via: 'local' })
export const STORE: Source = Object.freeze({ via: 'store' })
export const RELAY: Source = Object.freeze({ via: 'relay' })
