/**
 * Assembles a working replica: relay client (login, live events, outbox), WebRTC mesh through
 * the relay's signaling path, and the engine's Peer over a Store. The same wiring serves the
 * browser, virtual clients and test processes; only the WebSocket/WebRTC implementations and
 * the Store differ.
 */
import {
  type IdRange,
  Peer,
  type PeerOptions,
  publicKeyToText,
  type Signer,
  type Store,
  toBase64url,
} from '@peerchat/engine'
import { type OutboxStore, RelayClient, RelayForwardTransport, type WebSocketCtor } from './relay/index.ts'
import type { PeerInfo } from './transport.ts'
import { WebrtcTransport } from './webrtc/webrtc-transport.ts'

export interface ConnectOptions {
  /** ws(s)://host:port of the relay (its /relay and /signal paths are appended). */
  relayUrl: string
  relayKey: Uint8Array
  identity: Signer
  store: Store
  channels: string[]
  /** The y-webrtc room of the community. */
  room?: string
  /** Mesh over WebRTC (default true). */
  webrtc?: boolean
  /** Peer frames through the relay when WebRTC cannot connect, within its byte budget (default true). */
  fallback?: boolean
  WebSocket?: WebSocketCtor
  /** Node: `nodeWebrtc().wrtc`. */
  wrtc?: unknown
  outbox?: OutboxStore
  /** Keys known to be virtual clients (served last). */
  isVirtual?: (key: Uint8Array) => boolean
  peer?: Omit<PeerOptions, 'store' | 'relayKeys' | 'mesh' | 'live'>
}

export interface Connected {
  readonly peer: Peer
  readonly relay: RelayClient
  readonly mesh: WebrtcTransport | undefined
  readonly fallback: RelayForwardTransport | undefined
  /** Drops every link (relay and mesh) but keeps the store: the replica is offline. */
  stop(): Promise<void>
  sync(channel: string, range?: IdRange): ReturnType<Peer['sync']>
}

/** A y-webrtc peer id is `<key>.<serial>` (the relay binds it); its key prefix names the sender. */
export function keyOfPeerId(peerId: string): string {
  const dot = peerId.indexOf('.')
  return dot > 0 ? peerId.slice(0, dot) : peerId
}

export async function connectPeer(o: ConnectOptions): Promise<Connected> {
  const relay = new RelayClient({
    url: `${o.relayUrl}/relay`,
    identity: o.identity,
    relayKey: o.relayKey,
    channels: o.channels,
    ...(o.WebSocket ? { WebSocket: o.WebSocket } : {}),
    ...(o.outbox ? { outbox: o.outbox } : {}),
  })
  await relay.start()
  await new Promise<void>((resolve, reject) => {
    if (relay.state === 'online') return resolve()
    const timer = setTimeout(() => reject(new Error('relay login timed out')), 30_000)
    const off = relay.on('state', (s) => {
      if (s !== 'online') return
      clearTimeout(timer)
      off()
      resolve()
    })
  })

  // Serve a mesh peer only while its key is in the relay's signed presence of our channels.
  const admit = (peerId: string): PeerInfo | undefined => {
    const key = keyOfPeerId(peerId)
    for (const c of o.channels)
      for (const s of relay.members(c).values())
        if (publicKeyToText(s.publicKey) === key)
          return { key: s.publicKey, kind: o.isVirtual?.(s.publicKey) ? 'virtual' : 'client' }
    return undefined
  }

  let mesh: WebrtcTransport | undefined
  let refreshTimer: ReturnType<typeof setTimeout> | undefined
  const signalUrl = (token: Uint8Array) => `${o.relayUrl}/signal?token=${toBase64url(token)}`
  // Signaling reconnects (after a relay restart, say) need an unexpired token: fetch a fresh
  // one at every login and before the current one runs out.
  const refreshToken = async (): Promise<void> => {
    clearTimeout(refreshTimer)
    if (!mesh || relay.state !== 'online') return
    try {
      const { token, expires } = await relay.requestToken()
      mesh.updateSignaling([signalUrl(token)])
      refreshTimer = setTimeout(() => void refreshToken(), Math.max(1000, (expires - Date.now()) / 2))
    } catch {
      // offline again: the next login refreshes
    }
  }
  if (o.webrtc ?? true) {
    const { token, expires } = await relay.requestToken()
    mesh = new WebrtcTransport({
      room: o.room ?? 'community',
      signaling: [signalUrl(token)],
      peerId: `${publicKeyToText(o.identity.publicKey)}.local`,
      ...(o.wrtc ? { wrtc: o.wrtc } : {}),
      admit,
    })
    relay.on('presence', () => mesh?.readmit())
    relay.on('welcome', () => void refreshToken())
    await mesh.start()
    refreshTimer = setTimeout(() => void refreshToken(), Math.max(1000, (expires - Date.now()) / 2))
  }

  let fallback: RelayForwardTransport | undefined
  if (o.fallback ?? true) {
    fallback = new RelayForwardTransport(relay, o.channels, o.isVirtual ? { isVirtual: o.isVirtual } : {})
    await fallback.start()
  }
  const ports = [mesh, fallback].filter((p) => p !== undefined)
  const peer = new Peer({ ...o.peer, store: o.store, relayKeys: [o.relayKey], mesh: ports, live: relay })
  for (const c of o.channels) await peer.open(c)
  return {
    peer,
    relay,
    mesh,
    fallback,
    sync: (channel, range) => peer.sync(channel, range ? { range } : {}),
    async stop() {
      clearTimeout(refreshTimer)
      await peer.stop()
      await mesh?.stop()
      await fallback?.stop()
      await relay.stop()
    },
  }
}
